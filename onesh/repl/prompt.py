"""PS1/PS2 rendering with bash's backslash escapes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from onesh import __version__

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter

DEFAULT_PS1 = r"\[\e[1;32m\]\u@\h\[\e[0m\]:\[\e[1;34m\]\w\[\e[0m\]\$ "


def ps1_text(interp: Interpreter) -> str:
    """The prompt: PS1 (or the default) decoded and expanded, ANSI escapes kept."""
    st = interp.state
    ps1 = st.get("PS1")
    text = render(DEFAULT_PS1 if ps1 is None else ps1, cwd=st.get("PWD") or os.getcwd(),
                  home=st.get("HOME"), jobs=len(interp.jobs.jobs), quote=True)
    return expand(interp, text)


def render(ps: str, *, cwd: str, home: str | None, jobs: int = 0,
           now: Callable[[], time.struct_time] = time.localtime, quote: bool = False,
           cluster: Callable[[], str] = lambda: current_cluster()) -> str:
    """Decode bash's prompt escapes, and onesh's `\\C`: the name of the
    cluster the shell uses (onesh.contexts).  With `quote` (promptvars),
    text that an escape produced is protected from the later $-expansion,
    as bash does, so a directory named `$x` is shown literally."""
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
        mark = len(out)
        if e == "u":
            try:
                out.append(_user())
            except (KeyError, OSError):
                out.append("?")
        elif e in "hH":
            host = os.uname().nodename
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
        elif e == "C":
            out.append(cluster())
        elif e == "\\":
            out.append("\\")
        elif e in "[]":
            pass  # non-printing markers: prompt_toolkit measures width itself
        elif e == "e":
            out.append("\x1b")
        else:
            out.append("\\" + e)
            continue
        if quote:
            out[mark:] = [_protect(x) for x in out[mark:]]
    return "".join(out)


def current_cluster() -> str:
    """The cluster a shell here uses: $ONESH_CLUSTER's, the current one, or
    the embedded one (onesh.contexts)."""
    from onesh import contexts

    chosen = os.environ.get("ONESH_CLUSTER")
    if chosen:
        return chosen if chosen.startswith("tcp://") else contexts.name_of(chosen)
    current = contexts.current()
    return contexts.EMBEDDED if current is None else contexts.name_of(current)


def _user() -> str:
    """getpass.getuser's answer, without importing getpass at start-up."""
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(name):
            return os.environ[name]
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _protect(text: str) -> str:
    return text.replace("\\", "\\\\").replace("$", "\\$").replace("`", "\\`")


_DELIM = "__ONESH_PROMPT_END__"


def expand(interp: Interpreter, decoded: str) -> str:
    """bash's promptvars: parameter, command and arithmetic expansion of the
    decoded prompt, done as for an unquoted here-document body.  Any failure
    leaves the prompt unexpanded: a broken PS1 must never break the shell."""
    if "$" not in decoded and "`" not in decoded:
        return decoded
    from onesh.parser import parse
    from onesh.parser.ast import SimpleCommand

    try:
        prog = parse(f": <<{_DELIM}\n{decoded}\n{_DELIM}\n", "<PS1>")
        cmd = prog.body.items[0].command.first.commands[0]
        if not isinstance(cmd, SimpleCommand) or not cmd.redirs or cmd.redirs[0].heredoc is None:
            return decoded
        text = interp.expand_heredoc(cmd.redirs[0].heredoc)
    except Exception:  # noqa: BLE001 - any error in a user's PS1 falls back to the raw text
        return decoded
    return text[:-1] if text.endswith("\n") else text
