"""Saying so when a program escapes the onesh context.

The context covers the file calls a Python program makes itself.  Some
paths out of it cannot be covered: a child process (`subprocess`,
`os.system`, `os.exec*`, `os.posix_spawn`) sees only this host's files,
native code loaded with `ctypes` opens files with the C library, SQLite
opens its database file itself, and `mmap` maps a real file.  A
`sys.addaudithook` hook watches those events and, when one involves a
namespace path (or is ctypes at all), writes one line on stderr, once per
escape: never a silent wrong answer.  The program goes on: the child then
fails on its own ("No such file") or works on a host file of that name.
"""

from __future__ import annotations

import shlex
import sys
import threading
from collections.abc import Iterable
from typing import Any

from onesh.runtime.evalctx import Context

_SPAWNS = {"subprocess.Popen": 1, "os.system": 0, "os.exec": 1, "os.posix_spawn": 1, "os.spawn": 2}
_WATCHED = frozenset({*_SPAWNS, "sqlite3.connect", "mmap.__new__", "ctypes.dlopen", "ctypes.dlsym",
                      "ctypes.call_function"})
MAX_ARGS = 32  # arguments of one command line looked up in the namespace


class Auditor:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reported: set[tuple[str, str]] = set()
        self.busy = threading.local()

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event not in _WATCHED or getattr(self.busy, "on", False):
            return
        self.busy.on = True
        try:
            self.check(event, args)
        except Exception:  # noqa: BLE001 - an audit hook must never break the program
            pass
        finally:
            self.busy.on = False

    def check(self, event: str, args: tuple[Any, ...]) -> None:
        if event.startswith("ctypes."):
            if event == "ctypes.dlopen" and args and args[0] is None:
                return  # `import ctypes` opens the process itself: nothing loaded yet
            self.report("ctypes", "", "onesh: ctypes: native code reads and writes this host's files "
                                      "directly; namespace paths are not visible to it")
            return
        if event == "mmap.__new__":
            fd = args[0] if args else -1
            raw = self.ctx.fds.get(fd) if isinstance(fd, int) else None
            if raw is not None:
                self.report(event, raw.name, f"onesh: mmap of namespace file {raw.name}: not supported "
                                             "(a namespace file cannot be mapped into memory)")
            return
        if event == "sqlite3.connect":
            db = args[0] if args else None
            path = _sqlite_path(db)
            if path and self.ctx.lookup_new(path) is not None:
                self.report(event, path, f"onesh: sqlite3.connect({path}): SQLite opens its database on "
                                         "this host's disk; the namespace file is not visible to it")
            return
        words = _argv(args[_SPAWNS[event]] if len(args) > _SPAWNS[event] else None)
        for path in self.namespace_paths(words[1:] if words and "/" not in words[0] else words):
            shown = " ".join(words)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            self.report(event, path, f"onesh: `{shown}` runs outside the onesh context: it sees only this "
                                     f"host's files, not namespace path {path}")
            return

    def namespace_paths(self, words: Iterable[str]) -> Iterable[str]:
        relative_too = not self.ctx.cwd_is_real  # relative names are then the namespace's
        for n, w in enumerate(words):
            if n >= MAX_ARGS:
                return
            if w.startswith("-") and "=" in w:
                w = w.split("=", 1)[1]  # --input=/data/x
            if not w or w.startswith("-"):
                continue
            if not (w.startswith("/") or relative_too or w.startswith(("./", "../"))):
                continue
            found = self.ctx.lookup(w)
            if found is not None and found.entry is not None:
                yield found.path

    def report(self, event: str, what: str, line: str) -> None:
        if (event, what) in self.reported:
            return
        self.reported.add((event, what))
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        self.ctx.host.write(2, (line + "\n").encode("utf-8", "replace"))


def _argv(raw: Any) -> list[str]:
    import os

    if raw is None:
        return []
    if isinstance(raw, str | bytes | os.PathLike):
        text = os.fsdecode(raw)
        try:
            return shlex.split(text)
        except ValueError:
            return text.split()
    try:
        return [os.fsdecode(a) for a in raw if isinstance(a, str | bytes | os.PathLike)]
    except TypeError:
        return []


def _sqlite_path(db: Any) -> str | None:
    import os

    if not isinstance(db, str | bytes | os.PathLike):
        return None
    path = os.fsdecode(db)
    if path.startswith("file:"):
        path = path[len("file:"):].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return path


def install(ctx: Context) -> Auditor:
    auditor = Auditor(ctx)
    sys.addaudithook(auditor)
    return auditor
