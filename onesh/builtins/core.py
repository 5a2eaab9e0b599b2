"""Control-flow and status builtins: : true false exit return break continue shift."""

from __future__ import annotations

from onesh.builtins.api import IO
from onesh.engine.control import BreakLoop, ContinueLoop, ExitShell, ReturnFromFunction


def colon(argv: list[str], io: IO) -> int:
    return 0


def true(argv: list[str], io: IO) -> int:
    return 0


def false(argv: list[str], io: IO) -> int:
    return 1


def _status_arg(argv: list[str], io: IO) -> int | None:
    """Parse `exit N`/`return N`; None after printing an error."""
    if len(argv) < 2:
        return io.state.last_status
    if len(argv) > 2:
        io.error(argv[0], "too many arguments")
        return None
    arg = argv[1]
    try:
        return int(arg, 10) & 0xFF
    except ValueError:
        io.error(argv[0], f"{arg}: numeric argument required")
        return -2


def exit_(argv: list[str], io: IO) -> int:
    st = _status_arg(argv, io)
    if st is None:
        # bash still exits, with status 1, when given too many arguments
        st = 1
    if st == -2:
        st = 2
    if io.state.interactive:
        io.err("exit\n")
    raise ExitShell(st)


def return_(argv: list[str], io: IO) -> int:
    st = _status_arg(argv, io)
    if st is None:
        return 1
    if st == -2:
        st = 2
    if not io.state.in_function and not io.shell.sourcing:
        io.error("return", "can only `return' from a function or sourced script")
        return 2
    raise ReturnFromFunction(st)


def _levels(argv: list[str], io: IO) -> int | None:
    if io.state.loop_depth == 0:
        io.error(argv[0], "only meaningful in a `for', `while', or `until' loop")
        return None
    if len(argv) < 2:
        return 1
    try:
        n = int(argv[1])
    except ValueError:
        io.error(argv[0], f"{argv[1]}: numeric argument required")
        raise ExitShell(128) from None
    if n < 1:
        io.error(argv[0], f"{argv[1]}: loop count out of range")
        return -1
    return min(n, io.state.loop_depth)


def break_(argv: list[str], io: IO) -> int:
    n = _levels(argv, io)
    if n is None:
        return 0
    if n < 0:
        return 1
    raise BreakLoop(n)


def continue_(argv: list[str], io: IO) -> int:
    n = _levels(argv, io)
    if n is None:
        return 0
    if n < 0:
        return 1
    raise ContinueLoop(n)


def shift(argv: list[str], io: IO) -> int:
    n = 1
    if len(argv) > 1:
        try:
            n = int(argv[1])
        except ValueError:
            io.error("shift", f"{argv[1]}: numeric argument required")
            return 1
    pos = io.state.positional
    if n < 0:
        io.error("shift", f"{argv[1]}: shift count out of range")
        return 1
    if n > len(pos):
        return 1
    io.state.positional = pos[n:]
    return 0
