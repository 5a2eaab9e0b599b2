"""eval, source/., exec, command, type — builtins that need the interpreter."""

from __future__ import annotations

import os

from onesh.builtins.api import IO, Shell
from onesh.builtins.registry import BUILTINS
from onesh.engine.control import ReturnFromFunction
from onesh.parser.words import RESERVED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from onesh.engine.state import ShellState


def eval_(argv: list[str], io: IO) -> int:
    text = " ".join(argv[1:])
    if not text.strip():
        return 0
    return io.shell.run_text(text, "eval")


def source(argv: list[str], io: IO) -> int:
    if len(argv) < 2:
        io.error(argv[0], "filename argument required")
        io.err(f"{argv[0]}: usage: {argv[0]} filename [arguments]\n")
        return 2
    path = argv[1]
    interp = io.shell
    if "/" not in path:
        found = None
        for d in (interp.state.get("PATH") or "").split(":"):
            cand = os.path.join(d or ".", path)
            if os.path.isfile(cand):
                found = cand
                break
        path = found or path
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        io.error(argv[0], f"{argv[1]}: {e.strerror}")
        return 1
    st = interp.state
    old_pos = None
    if len(argv) > 2:
        old_pos = st.positional
        st.positional = argv[2:]
    interp.sourcing += 1
    try:
        return interp.run_text(text, argv[1])
    except ReturnFromFunction as r:
        return r.status
    finally:
        interp.sourcing -= 1
        if old_pos is not None:
            st.positional = old_pos


def exec_(argv: list[str], io: IO) -> int:
    # Reached only through `command exec ...`; plain `exec` is run by the
    # interpreter itself because its redirections must persist.
    interp = io.shell
    if len(argv) < 2:
        return 0
    return interp.exec_external(argv[1:], interp.state.environ())


def describe(interp: Shell, name: str, *, functions: bool = True) -> tuple[str, str] | None:
    """(kind, detail) of a command name: alias, keyword, function, builtin, file."""
    st = interp.state
    if name in st.aliases:
        return "alias", st.aliases[name]
    if name in RESERVED:
        return "keyword", name
    if functions and name in st.functions:
        return "function", name
    if name in BUILTINS:
        return "builtin", name
    path = interp.find_command(name)
    if path is not None and os.access(path, os.X_OK) and not os.path.isdir(path):
        return "file", path
    return None


def command(argv: list[str], io: IO) -> int:
    args = argv[1:]
    mode = ""
    while args and args[0].startswith("-") and len(args[0]) > 1:
        a = args.pop(0)
        if a == "--":
            break
        for c in a[1:]:
            if c in "vV":
                mode = c
            elif c != "p":
                io.error("command", f"-{c}: invalid option")
                return 2
    if not args:
        return 0
    interp = io.shell
    if mode:
        status = 0
        for name in args:
            d = describe(interp, name)
            if d is None:
                if mode == "V":
                    io.error("command", f"{name}: not found")
                status = 1
                continue
            kind, detail = d
            if mode == "v":
                io.out((f"alias {name}='{detail}'" if kind == "alias" else detail if kind == "file" else name) + "\n")
            else:
                io.out(_type_text(name, kind, detail, interp.state) + "\n")
        return status
    return interp.run_argv(args, skip_functions=True)


def function_listing(state: ShellState, name: str) -> str:
    """A function as bash prints it (declare -f, type), without the final newline."""
    from onesh.parser.unparse import function_text

    source = state.function_sources.get(name)
    return function_text(state.functions[name], source.text if source is not None else "")


def _type_text(name: str, kind: str, detail: str, state: ShellState) -> str:
    if kind == "alias":
        return f"{name} is aliased to `{detail}'"
    if kind == "keyword":
        return f"{name} is a shell keyword"
    if kind == "function":
        return f"{name} is a function\n{function_listing(state, name)}"
    if kind == "builtin":
        return f"{name} is a shell builtin"
    return f"{name} is {detail}"


def type_(argv: list[str], io: IO) -> int:
    args = argv[1:]
    flags = ""
    while args and args[0].startswith("-") and len(args[0]) > 1:
        a = args.pop(0)
        if a == "--":
            break
        flags += a[1:]
    interp = io.shell
    status = 0
    for name in args:
        if "a" in flags:
            found = False
            st = interp.state
            kinds: list[tuple[str, str]] = []
            if name in st.aliases:
                kinds.append(("alias", st.aliases[name]))
            if name in RESERVED:
                kinds.append(("keyword", name))
            if name in st.functions:
                kinds.append(("function", name))
            if name in BUILTINS:
                kinds.append(("builtin", name))
            for d in (st.get("PATH") or "").split(":"):
                p = os.path.join(d or ".", name)
                if os.path.isfile(p) and os.access(p, os.X_OK):
                    kinds.append(("file", p))
            for kind, detail in kinds:
                found = True
                io.out((kind if "t" in flags else detail if "p" in flags else _type_text(name, kind, detail, interp.state)) + "\n")
            if not found:
                status = 1
                if "t" not in flags and "p" not in flags:
                    io.error("type", f"{name}: not found")
            continue
        desc = describe(interp, name, functions="f" not in flags)
        if desc is None:
            if "t" not in flags and "p" not in flags and "P" not in flags:
                io.error("type", f"{name}: not found")
            status = 1
            continue
        kind, detail = desc
        if "t" in flags:
            io.out(kind + "\n")
        elif "p" in flags or "P" in flags:
            if kind == "file":
                io.out(detail + "\n")
        else:
            io.out(_type_text(name, kind, detail, interp.state) + "\n")
    return status
