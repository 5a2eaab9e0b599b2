"""help, history."""

from __future__ import annotations

import fnmatch

from onesh.builtins.api import IO
from onesh.builtins.registry import BUILTINS


def help(argv: list[str], io: IO) -> int:
    args = argv[1:]
    short = describe = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        if args[0] == "--":
            args = args[1:]
            break
        for c in args[0][1:]:
            if c == "s":
                short = True
            elif c == "d":
                describe = True
            elif c != "m":  # -m (manpage form) falls back to the long form
                io.error("help", f"-{c}: invalid option")
                io.err("help: usage: help [-dms] [pattern ...]\n")
                return 2
        args = args[1:]
    if not args:
        io.out("onesh builtins (type `help NAME' for more):\n\n")
        for name in sorted(BUILTINS):
            io.out(f"  {BUILTINS[name].usage}\n")
        return 0
    status = 0
    for pat in args:
        found = [s for n, s in sorted(BUILTINS.items()) if fnmatch.fnmatchcase(n, pat)]
        if not found:
            io.error("help", f"no help topics match `{pat}'.  Try `help help'.")
            status = 1
            continue
        for s in found:
            if describe:
                io.out(f"{s.name} - {s.summary}\n")
            elif short:
                io.out(f"{s.name}: {s.usage}\n")
            else:
                io.out(f"{s.name}: {s.usage}\n    {s.summary}\n")
    return status


def history(argv: list[str], io: IO) -> int:
    args = argv[1:]
    if args[:1] == ["-c"]:
        io.shell.clear_history()
        return 0
    lines = io.shell.history()
    start = 0
    if args:
        try:
            n = int(args[0])
        except ValueError:
            io.error("history", f"{args[0]}: numeric argument required")
            return 1
        start = max(0, len(lines) - n)
    for k in range(start, len(lines)):
        io.out(f"{k + 1:5}  {lines[k]}\n")
    return 0
