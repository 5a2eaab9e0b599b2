"""getopts OPTSTRING NAME [ARG ...]: one option per call, POSIX and bash.

OPTIND names the next argument; the position inside a group of letters
(`-ab`) is kept in the shell state and forgotten when OPTIND is reset by
the script, as bash does.  A leading `:` in OPTSTRING (or OPTERR=0) makes
errors silent: NAME is then `?` or `:` and OPTARG the offending letter.
"""

from __future__ import annotations

from onesh.builtins.api import IO
from onesh.errors import OneshError
from onesh.parser.words import is_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from onesh.engine.state import ShellState


def getopts(argv: list[str], io: IO) -> int:
    if len(argv) < 3:
        io.error("getopts", "usage: getopts optstring name [arg ...]")
        return 2
    optstring, name = argv[1], argv[2]
    if not is_name(name):
        io.error("getopts", f"`{name}': not a valid identifier")
        return 1
    st = io.state
    args = argv[3:] if len(argv) > 3 else list(st.positional)
    silent = optstring.startswith(":")
    if silent:
        optstring = optstring[1:]
    report = not silent and st.get("OPTERR") != "0"
    raw = st.get("OPTIND") or "1"
    optind = int(raw) if raw.isdigit() and int(raw) > 0 else 1
    last_ind, pos = st.getopts_position
    if last_ind != optind or pos < 1:
        pos = 1  # OPTIND was set by the script: start at its first letter
    try:
        if optind > len(args):
            return _done(st, name, optind)
        arg = args[optind - 1]
        if pos == 1 and (len(arg) < 2 or arg[0] != "-"):
            return _done(st, name, optind)
        if pos == 1 and arg == "--":
            return _done(st, name, optind + 1)
        letter = arg[pos]
        pos += 1
        at_end = pos >= len(arg)
        if letter == ":" or letter not in optstring:
            if report:
                io.err(f"onesh: illegal option -- {letter}\n")
            _advance(st, optind + 1 if at_end else optind, 1 if at_end else pos)
            st.set(name, "?")
            if silent:
                st.set("OPTARG", letter)
            else:
                st.unset("OPTARG")
            return 0
        if optstring[optstring.index(letter) + 1:].startswith(":"):
            if not at_end:
                st.set("OPTARG", arg[pos:])
                _advance(st, optind + 1, 1)
            elif optind < len(args):
                st.set("OPTARG", args[optind])
                _advance(st, optind + 2, 1)
            else:
                if report:
                    io.err(f"onesh: option requires an argument -- {letter}\n")
                _advance(st, optind + 1, 1)
                if silent:
                    st.set(name, ":")
                    st.set("OPTARG", letter)
                else:
                    st.set(name, "?")
                    st.unset("OPTARG")
                return 0
        else:
            st.unset("OPTARG")
            _advance(st, optind + 1 if at_end else optind, 1 if at_end else pos)
        st.set(name, letter)
        return 0
    except OneshError as e:
        io.error("getopts", e.message)
        return 1


def _advance(st: ShellState, optind: int, pos: int) -> None:
    st.set("OPTIND", str(optind))
    st.getopts_position = (optind, pos)


def _done(st: ShellState, name: str, optind: int) -> int:
    _advance(st, optind, 1)
    st.set(name, "?")
    return 1
