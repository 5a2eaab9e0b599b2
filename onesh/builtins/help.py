"""help, history."""

from __future__ import annotations

import fnmatch

from onesh.builtins.api import IO
from onesh.builtins.registry import BUILTINS
from onesh.coreutils.restart import GUARANTEES


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
        io.out("\nbuiltin agents (run on any runtime; `help NAME' says what survives a runtime's death):\n\n")
        for name in sorted(GUARANTEES):
            io.out(f"  {_agent_usage(name)}\n")
        io.out(f"\n{PROGRAMS}\n")
        return 0
    status = 0
    for pat in args:
        # (name, usage, summary, what -d says): the builtin agents, then the builtins
        topics = [(n, _agent_usage(n), "A builtin agent: runs on any runtime of the cluster.\n"
                   f"    When its runtime dies mid-job: {GUARANTEES[n]}.", "builtin agent")
                  for n in sorted(GUARANTEES) if fnmatch.fnmatchcase(n, pat) and n not in BUILTINS]
        topics += [(s.name, s.usage, s.summary, s.summary)
                   for n, s in sorted(BUILTINS.items()) if fnmatch.fnmatchcase(n, pat)]
        if not topics:
            io.error("help", f"no help topics match `{pat}'.  Try `help help'.")
            status = 1
            continue
        for name, usage, summary, brief in topics:
            if describe:
                io.out(f"{name} - {brief}\n")
            elif short:
                io.out(f"{name}: {usage}\n")
            else:
                io.out(f"{name}: {usage}\n    {summary}\n")
    return status


PROGRAMS = ("A Python, Node.js or native program alone in its stage runs again on another runtime when its\n"
            "runtime dies (or on `migrate`), from the start of its input: at least once, so its output so far\n"
            "comes again; exactly once when declared deterministic (ONESH_DETERMINISTIC=1 prog @r2): what it\n"
            "makes again is dropped.  Its writer keeps its input for that up to ONESH_REPLAY_MAX bytes\n"
            "(16 MiB); past that, or with a device or file of its own, its job ends, naming the runtime.\n"
            "Declared stateless (ONESH_STATELESS=1: it keeps nothing from one line to the next and writes\n"
            "what a line makes before it reads on), it goes on from the last point where it was idle\n"
            "instead, with no limit on its input.  A segment of several commands on one runtime runs again\n"
            "from the start the same way (exactly once when each is a builtin agent or deterministic).")


def _agent_usage(name: str) -> str:
    import importlib

    doc = importlib.import_module(f"onesh.coreutils.{name}").__doc__ or name
    return doc.strip().splitlines()[0].split("  (")[0]


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
