"""PS1/PS2 rendering with bash's backslash escapes."""

from __future__ import annotations

import getpass
import os
import socket
import time
from collections.abc import Callable

from onesh import __version__


def render(ps: str, *, cwd: str, home: str | None, jobs: int = 0,
           now: Callable[[], time.struct_time] = time.localtime) -> str:
    out: list[str] = []
    i, n = 0, len(ps)
    while i < n:
        c = ps[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = ps[i + 1]
        i += 2
        if e == "u":
            try:
                out.append(getpass.getuser())
            except (KeyError, OSError):
                out.append("?")
        elif e in "hH":
            host = socket.gethostname()
            out.append(host.split(".")[0] if e == "h" else host)
        elif e in "wW":
            path = cwd
            if home and (path == home or path.startswith(home.rstrip("/") + "/")):
                path = "~" + path[len(home.rstrip("/")):]
            if e == "W" and path not in ("/", "~"):
                path = path.rstrip("/").rsplit("/", 1)[-1]
            out.append(path)
        elif e == "$":
            out.append("#" if os.geteuid() == 0 else "$")
        elif e == "n":
            out.append("\n")
        elif e == "t":
            out.append(time.strftime("%H:%M:%S", now()))
        elif e == "T":
            out.append(time.strftime("%I:%M:%S", now()))
        elif e == "@":
            out.append(time.strftime("%I:%M %p", now()))
        elif e == "A":
            out.append(time.strftime("%H:%M", now()))
        elif e == "d":
            out.append(time.strftime("%a %b %d", now()))
        elif e == "j":
            out.append(str(jobs))
        elif e == "s":
            out.append("onesh")
        elif e in "vV":
            out.append(__version__)
        elif e == "\\":
            out.append("\\")
        elif e in "[]":
            pass  # non-printing markers: prompt_toolkit measures width itself
        elif e == "e":
            out.append("\x1b")
        else:
            out.append("\\" + e)
    return "".join(out)
