"""Variables and options: export unset set local readonly declare/typeset."""

from __future__ import annotations

from onesh.builtins.api import IO
from onesh.engine.state import LONG_ONLY_OPTIONS, OPTION_LETTERS, ReadonlyError, Var
from onesh.errors import OneshError
from onesh.parser.ast import COMPOUND_MARK
from onesh.parser.words import is_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def quote_value(v: str) -> str:
    """bash's quoting in `set`/`declare -p` output."""
    if v and all(c.isalnum() or c in "@%+=:,./-_" for c in v):
        return v
    if any(ord(c) < 32 for c in v):
        named = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\E", "\a": "\\a", "\b": "\\b",
                 "\f": "\\f", "\v": "\\v", "'": "\\'", "\\": "\\\\"}
        enc = "".join(named.get(c, f"\\{ord(c):03o}" if ord(c) < 32 else c) for c in v)
        return "$'" + enc + "'"
    return "'" + v.replace("'", "'\\''") + "'"


def _dq(v: str) -> str:
    return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("`", "\\`") + '"'


def declare_line(name: str, v: Var) -> str:
    flags = ""
    if isinstance(v.value, dict):
        flags += "a"
    if v.integer:
        flags += "i"
    if v.readonly:
        flags += "r"
    if v.exported:
        flags += "x"
    head = f"declare -{flags or '-'} {name}"
    if v.value is None:
        return head
    if isinstance(v.value, dict):
        items = " ".join(f"[{k}]={_dq(x)}" for k, x in sorted(v.value.items()))
        return f"{head}=({items})"
    if any(ord(c) < 32 for c in v.value):
        return f"{head}={quote_value(v.value)}"  # bash switches to $'...' here
    return f"{head}={_dq(v.value)}"


def _split_assign(arg: str) -> tuple[str, str | None, bool]:
    if "=" in arg:
        name, value = arg.split("=", 1)
        if name.endswith("+"):
            return name[:-1], value, True
        return name, value, False
    return arg, None, False


def _array_literal(value: str, arith: Callable[[str], int]) -> dict[int, str] | None:
    """`(a 'b c' [5]=d)` as an indexed array, None if it is not one."""
    if not (value.startswith("(") and value.endswith(")")):
        return None
    import shlex

    try:
        elements = shlex.split(value[1:-1])
    except ValueError:
        return None
    out: dict[int, str] = {}
    k = 0
    for e in elements:
        close = e.find("]=")
        if e.startswith("[") and close > 1:
            k = arith(e[1:close])
            e = e[close + 2:]
        out[k] = e
        k += 1
    return out


def _assign_attr(io: IO, argv0: str, args: list[str], *, export: bool = False, readonly: bool = False,
                 local: bool = False, integer: bool = False, array: bool = False, unexport: bool = False) -> int:
    st = io.state
    status = 0

    def _arith(text: str) -> int:
        from onesh.engine import arith

        def _set(n: str, v: int) -> None:
            st.set(n, str(v))

        return arith.evaluate(text, st.get, _set)

    for arg in args:
        name, value, append = _split_assign(arg)
        if not is_name(name):
            io.error(argv0, f"`{arg}': not a valid identifier")
            status = 1
            continue
        try:
            var = st.declare_local(name) if local else st.var(name)
            if var is None:
                var = Var(None)
                st.globals[name] = var
            if value is not None:
                if var.readonly:
                    raise ReadonlyError(f"{name}: readonly variable")
                compound = value.startswith(COMPOUND_MARK)
                if compound:
                    value = value[len(COMPOUND_MARK):]
                lit = _array_literal(value, _arith) if array or compound or value.startswith("(") else None
                if (integer or var.integer) and lit is not None:
                    var.integer = True
                    lit = {k: str(_arith(v)) for k, v in lit.items()}
                elif integer or var.integer:
                    var.integer = True
                    value = str(_arith(value) + (int(st.get(name) or 0) if append else 0))
                    append = False
                if lit is not None and append and isinstance(var.value, dict):
                    base = max(var.value) + 1 if var.value else 0
                    var.value.update({base + k: v for k, v in lit.items()})
                elif lit is not None and (array or compound or isinstance(var.value, dict)):
                    var.value = lit
                elif append:
                    var.value = (var.scalar() or "") + value
                elif isinstance(var.value, dict):
                    var.value[0] = value
                else:
                    var.value = value
            elif array and var.value is None:
                var.value = {}
            if integer:
                var.integer = True
            if export:
                var.exported = True
            if unexport:
                var.exported = False
            if readonly:
                var.readonly = True
        except OneshError as e:
            io.error(argv0, e.message)
            status = 1
    return status


def export(argv: list[str], io: IO) -> int:
    args = argv[1:]
    unexport = False
    listing = False
    funcs = False
    while args and args[0].startswith("-") and args[0] != "-":
        if args[0] == "--":
            args = args[1:]
            break
        for c in args[0][1:]:
            if c == "n":
                unexport = True
            elif c == "p":
                listing = True
            elif c == "f":
                funcs = True
            else:
                io.error("export", f"-{c}: invalid option")
                io.err("export: usage: export [-fn] [name[=value] ...] or export -p\n")
                return 2
        args = args[1:]
    if funcs:
        # functions are not passed to child processes; still validate names
        status = 0
        for n in args:
            if n.split("=", 1)[0] not in io.state.functions:
                io.error("export", f"{n}: not a function")
                status = 1
        return status
    if not args or listing:
        for name, v in io.state.all_vars():
            if v.exported:
                io.out(declare_line(name, v) + "\n")
        return 0
    return _assign_attr(io, "export", args, export=not unexport, unexport=unexport)


def readonly(argv: list[str], io: IO) -> int:
    args = argv[1:]
    array = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        if args[0] == "--":
            args = args[1:]
            break
        for c in args[0][1:]:
            if c == "a":
                array = True
            elif c not in "pfA":
                io.error("readonly", f"-{c}: invalid option")
                io.err("readonly: usage: readonly [-aAf] [name[=value] ...] or readonly -p\n")
                return 2
        args = args[1:]
    if not args:
        for name, v in io.state.all_vars():
            if v.readonly:
                io.out(declare_line(name, v) + "\n")
        return 0
    return _assign_attr(io, "readonly", args, readonly=True, array=array)


def local(argv: list[str], io: IO) -> int:
    if not io.state.in_function:
        io.error("local", "can only be used in a function")
        return 1
    # `local -` (save options for the function) is accepted; restoring them
    # on return is the interpreter's job, which does not do it yet.
    args = [a for a in argv[1:] if a != "-"]
    if not args:
        if len(argv) == 1:
            for name, v in io.state.frames[-1].locals.items():
                io.out(declare_line(name, v) + "\n")
        return 0
    return declare(["local", *args], io, local=True)


_SHOPT_NAMES = ("dotglob", "extglob", "failglob", "nullglob")


def shopt(argv: list[str], io: IO) -> int:
    """The glob options bash keeps in shopt; onesh stores them with the
    `set -o` options."""
    args = argv[1:]
    mode = ""
    quiet = printable = use_o = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        if args[0] == "--":
            args = args[1:]
            break
        for c in args[0][1:]:
            if c in "su":
                mode = c
            elif c == "q":
                quiet = True
            elif c == "p":
                printable = True
            elif c == "o":
                use_o = True
            else:
                io.error("shopt", f"-{c}: invalid option")
                io.err("shopt: usage: shopt [-pqsu] [-o] [optname ...]\n")
                return 2
        args = args[1:]
    st = io.state
    known = _SET_O_ORDER if use_o else _SHOPT_NAMES
    for n in args:
        if n not in known:
            io.error("shopt", f"{n}: invalid shell option name")
            return 1
    if mode:
        for n in args:
            st.options.set(n, mode == "s")
        return 0
    status = 0
    for n in args or known:
        on = n in st.options
        if args and not on:
            status = 1
        if quiet:
            continue
        if use_o:
            io.out(f"set {'-' if on else '+'}o {n}\n" if printable else f"{n:<15}\t{'on' if on else 'off'}\n")
        else:
            io.out(f"shopt {'-s' if on else '-u'} {n}\n" if printable else f"{n:<15}\t{'on' if on else 'off'}\n")
    return status


def declare(argv: list[str], io: IO, local: bool = False) -> int:
    args = argv[1:]
    opts: set[str] = set()
    off: set[str] = set()
    while args and args[0][:1] in "-+" and len(args[0]) > 1:
        if args[0] == "--":
            args = args[1:]
            break
        target = opts if args[0][0] == "-" else off
        for c in args[0][1:]:
            if c not in "aAfFgilnprtuxI":
                io.error(argv[0], f"-{c}: invalid option")
                return 2
            target.add(c)
        args = args[1:]
    st = io.state
    if "f" in opts or "F" in opts:
        names = args or sorted(st.functions)
        status = 0
        for n in names:
            if n not in st.functions:
                status = 1
                continue
            if "F" in opts:
                io.out(f"declare -f {n}\n" if not args else f"{n}\n")
            else:
                from onesh.builtins.evaluation import function_listing

                io.out(function_listing(st, n) + "\n")
        return status
    if not args and opts and not opts & {"p", "f", "F"}:
        # `declare -x` alone lists the variables with those attributes
        def has(v: Var, c: str) -> bool:
            return {"a": isinstance(v.value, dict), "i": v.integer, "r": v.readonly,
                    "x": v.exported}.get(c, True)

        for name, v in st.all_vars():
            if all(has(v, c) for c in opts):
                io.out(declare_line(name, v) + "\n")
        return 0
    if "p" in opts or (not args and not opts):
        if not args:
            for name, v in st.all_vars():
                if "p" in opts or not opts:
                    io.out((declare_line(name, v) if "p" in opts else f"{name}={quote_value(v.scalar() or '')}") + "\n")
            return 0
        status = 0
        for n in args:
            found = st.var(n)
            if found is None:
                io.error(argv[0], f"{n}: not found")
                status = 1
            else:
                io.out(declare_line(n, found) + "\n")
        return status
    in_func = st.in_function and "g" not in opts
    status = _assign_attr(io, argv[0], args, export="x" in opts, readonly="r" in opts,
                          local=local or in_func, integer="i" in opts, array="a" in opts,
                          unexport="x" in off)
    return status


def unset(argv: list[str], io: IO) -> int:
    args = argv[1:]
    mode = "v"
    explicit = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        if args[0] == "--":
            args = args[1:]
            break
        for c in args[0][1:]:
            if c in "fvn":
                mode = "f" if c == "f" else "v"
                explicit = True
            else:
                io.error("unset", f"-{c}: invalid option")
                return 2
        args = args[1:]
    st = io.state
    status = 0
    for name in args:
        if mode == "f":
            st.functions.pop(name, None)
            continue
        base = name
        index: str | None = None
        if name.endswith("]") and "[" in name:
            base, index = name[:-1].split("[", 1)
        if not is_name(base):
            if not explicit:
                # bash falls back to unsetting a function of that name
                st.functions.pop(name, None)
                continue
            io.error("unset", f"`{name}': not a valid identifier")
            status = 1
            continue
        try:
            if index is not None:
                v = st.var(base)
                if v is not None and isinstance(v.value, dict) and index.lstrip("-").isdigit():
                    v.value.pop(int(index), None)
                continue
            if st.var(base) is None and base in st.functions:
                st.functions.pop(base)
                continue
            st.unset(base)
        except OneshError as e:
            io.error("unset", e.message.removeprefix("unset: "))
            status = 1
    return status


# nullglob, dotglob … are `shopt` options in bash, so `set -o` does not list them
_SET_O_ORDER = sorted((set(OPTION_LETTERS.values()) | set(LONG_ONLY_OPTIONS)) - {"nullglob", "failglob", "dotglob", "extglob"})


def set_(argv: list[str], io: IO) -> int:
    st = io.state
    args = argv[1:]
    if not args:
        for name, v in st.all_vars():
            if v.value is None:
                continue
            if isinstance(v.value, dict):
                items = " ".join(f"[{k}]={_dq(x)}" for k, x in sorted(v.value.items()))
                io.out(f"{name}=({items})\n")
            else:
                io.out(f"{name}={quote_value(v.value)}\n")
        return 0
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            st.positional = args[i + 1:]
            return 0
        if a in ("-", "+"):
            # `set -` turns off -x and -v and ends options
            st.options.set("xtrace", False)
            st.options.set("verbose", False)
            st.positional = args[i + 1:]
            return 0
        if a[0] not in "-+":
            st.positional = args[i:]
            return 0
        on = a[0] == "-"
        for c in a[1:]:
            if c == "o":
                i += 1
                if i >= len(args):
                    for name in _SET_O_ORDER:
                        if on:
                            io.out(f"{name:<15}\t{'on' if name in st.options else 'off'}\n")
                        else:
                            io.out(f"set {'-' if name in st.options else '+'}o {name}\n")
                    return 0
                try:
                    st.options.set(args[i], on)
                except OneshError as e:
                    io.error("set", e.message.removeprefix("set: "))
                    return 2
            elif c in OPTION_LETTERS:
                st.options.set(OPTION_LETTERS[c], on)
            else:
                io.error("set", f"{a[0]}{c}: invalid option")
                io.err("set: usage: set [-abefhkmnptuvxBCEHPT] [-o option-name] [--] [-] [arg ...]\n")
                return 2
        i += 1
    return 0
