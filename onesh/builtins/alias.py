"""alias, unalias."""

from __future__ import annotations

from onesh.builtins.api import IO


def _q(v: str) -> str:
    return "'" + v.replace("'", "'\\''") + "'"


def alias(argv: list[str], io: IO) -> int:
    args = argv[1:]
    while args and args[0].startswith("-") and len(args[0]) > 1:
        if args[0] == "--":
            args = args[1:]
            break
        if any(c != "p" for c in args[0][1:]):
            io.error("alias", f"{args[0][:2]}: invalid option")
            io.err("alias: usage: alias [-p] [name[=value] ... ]\n")
            return 2
        args = args[1:]
    aliases = io.state.aliases
    if not args:
        for name in sorted(aliases):
            io.out(f"alias {name}={_q(aliases[name])}\n")
        return 0
    status = 0
    for a in args:
        if "=" in a:
            name, value = a.split("=", 1)
            if not name or any(c in name for c in " \t\n/$`=\\'\"|&;()<>"):
                io.error("alias", f"`{name}': invalid alias name")
                status = 1
                continue
            aliases[name] = value
        elif a in aliases:
            io.out(f"alias {a}={_q(aliases[a])}\n")
        else:
            io.error("alias", f"{a}: not found")
            status = 1
    return status


def unalias(argv: list[str], io: IO) -> int:
    args = argv[1:]
    if args[:1] == ["-a"]:
        io.state.aliases.clear()
        return 0
    if not args:
        io.err("unalias: usage: unalias [-a] name [name ...]\n")
        return 2
    status = 0
    for a in args:
        if io.state.aliases.pop(a, None) is None:
            io.error("unalias", f"{a}: not found")
            status = 1
    return status
