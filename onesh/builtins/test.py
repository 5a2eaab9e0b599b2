"""test / [ — POSIX argument-count rules plus bash's extensions."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from onesh.builtins.api import IO
from onesh.errors import OneshError

if TYPE_CHECKING:
    from onesh.engine.state import ShellState

UNARY_OPS = frozenset(["-e", "-f", "-d", "-r", "-w", "-x", "-s", "-L", "-h", "-p", "-S", "-b", "-c", "-t", "-g", "-u", "-k", "-O", "-G", "-N", "-z", "-n", "-a", "-o", "-v", "-R"])
BINARY_OPS = frozenset(["=", "==", "!=", "<", ">", "-eq", "-ne", "-lt", "-le", "-gt", "-ge", "-nt", "-ot", "-ef"])


class TestError(OneshError):
    status = 2


def _int(s: str) -> int:
    t = s.strip()
    try:
        v = int(t, 10)
    except ValueError:
        raise TestError(f"{s}: integer expression expected") from None
    if not -(1 << 63) <= v < (1 << 63):
        # bash's intmax_t cannot hold it: not an integer expression
        raise TestError(f"{s}: integer expression expected")
    return v


def _stat(path: str, follow: bool = True) -> os.stat_result | None:
    try:
        return os.stat(path) if follow else os.lstat(path)
    except (OSError, ValueError):
        return None


def unary_test(op: str, arg: str, state: ShellState | None = None) -> bool:
    if op == "-z":
        return arg == ""
    if op == "-n":
        return arg != ""
    if op == "-t":
        try:
            return os.isatty(_int(arg))
        except OSError:
            return False
    if op == "-v":
        return state is not None and state.var(arg) is not None and state.var(arg).value is not None  # type: ignore[union-attr]
    if op == "-R":
        # onesh has no namerefs, so no variable is one
        return False
    if op in ("-L", "-h"):
        st = _stat(arg, follow=False)
        return st is not None and stat.S_ISLNK(st.st_mode)
    if op == "-o":
        return state is not None and arg in state.options
    st = _stat(arg)
    if st is None:
        return False
    m = st.st_mode
    if op in ("-e", "-a"):
        return True
    if op == "-f":
        return stat.S_ISREG(m)
    if op == "-d":
        return stat.S_ISDIR(m)
    if op == "-p":
        return stat.S_ISFIFO(m)
    if op == "-S":
        return stat.S_ISSOCK(m)
    if op == "-b":
        return stat.S_ISBLK(m)
    if op == "-c":
        return stat.S_ISCHR(m)
    if op == "-s":
        return st.st_size > 0
    if op == "-r":
        return os.access(arg, os.R_OK)
    if op == "-w":
        return os.access(arg, os.W_OK)
    if op == "-x":
        return os.access(arg, os.X_OK)
    if op == "-g":
        return bool(m & stat.S_ISGID)
    if op == "-u":
        return bool(m & stat.S_ISUID)
    if op == "-k":
        return bool(m & stat.S_ISVTX)
    if op == "-O":
        return st.st_uid == os.geteuid()
    if op == "-G":
        return st.st_gid == os.getegid()
    if op == "-N":
        return st.st_mtime > st.st_atime
    raise TestError(f"{op}: unary operator expected")


def binary_test(a: str, op: str, b: str) -> bool:
    if op in ("=", "=="):
        return a == b
    if op == "!=":
        return a != b
    if op == "<":
        return a < b
    if op == ">":
        return a > b
    if op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
        x, y = _int(a), _int(b)
        return {"-eq": x == y, "-ne": x != y, "-lt": x < y, "-le": x <= y, "-gt": x > y, "-ge": x >= y}[op]
    if op in ("-nt", "-ot"):
        sa, sb = _stat(a), _stat(b)
        if op == "-nt":
            return sa is not None and (sb is None or sa.st_mtime > sb.st_mtime)
        return sb is not None and (sa is None or sa.st_mtime < sb.st_mtime)
    if op == "-ef":
        sa, sb = _stat(a), _stat(b)
        return sa is not None and sb is not None and (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
    raise TestError(f"{op}: binary operator expected")


class _Eval:
    """Recursive descent for the -a/-o/!/( ) forms with more than 4 args."""

    def __init__(self, args: list[str], state: ShellState) -> None:
        self.args = args
        self.pos = 0
        self.state = state

    def run(self) -> bool:
        v = self.or_()
        if self.pos != len(self.args):
            raise TestError(f"{self.args[self.pos]}: unexpected argument" if self.pos < len(self.args) else "syntax error")
        return v

    def or_(self) -> bool:
        v = self.and_()
        while self.pos < len(self.args) and self.args[self.pos] == "-o":
            self.pos += 1
            v = self.and_() or v
        return v

    def and_(self) -> bool:
        v = self.not_()
        while self.pos < len(self.args) and self.args[self.pos] == "-a":
            self.pos += 1
            v = self.not_() and v
        return v

    def not_(self) -> bool:
        # In the general (5+ argument / recursive) grammar `!` is always
        # negation, so a trailing `!` is "argument expected", like bash.
        if self.pos < len(self.args) and self.args[self.pos] == "!":
            self.pos += 1
            return not self.not_()
        return self.primary()

    def primary(self) -> bool:
        a = self.args
        if self.pos >= len(a):
            raise TestError("argument expected")
        t = a[self.pos]
        if t == "(" :
            rest = len(a) - self.pos
            if rest >= 3 and a[self.pos + 2] == ")" and a[self.pos + 1] not in UNARY_OPS:
                self.pos += 3
                return a[self.pos - 2] != ""
            self.pos += 1
            v = self.or_()
            if self.pos >= len(a) or a[self.pos] != ")":
                raise TestError("`)' expected")
            self.pos += 1
            return v
        if self.pos + 2 < len(a) + 0 and a[self.pos + 1] in BINARY_OPS:
            self.pos += 3
            return binary_test(t, a[self.pos - 2], a[self.pos - 1])
        if t in UNARY_OPS and self.pos + 1 < len(a):
            self.pos += 2
            return unary_test(t, a[self.pos - 1], self.state)
        self.pos += 1
        return t != ""


def evaluate(args: list[str], state: ShellState) -> bool:
    n = len(args)
    if n == 0:
        return False
    if n == 1:
        return args[0] != ""
    if n == 2:
        if args[0] == "!":
            return args[1] == ""
        if args[0] in UNARY_OPS:
            return unary_test(args[0], args[1], state)
        raise TestError(f"{args[0]}: unary operator expected")
    if n == 3:
        if args[1] in BINARY_OPS:
            return binary_test(args[0], args[1], args[2])
        if args[1] in ("-a", "-o"):
            left, right = args[0] != "", args[2] != ""
            return (left and right) if args[1] == "-a" else (left or right)
        if args[0] == "!":
            return not evaluate(args[1:], state)
        if args[0] == "(" and args[2] == ")":
            return args[1] != ""
        raise TestError(f"{args[1]}: binary operator expected")
    if n == 4:
        if args[0] == "!":
            return not evaluate(args[1:], state)
        if args[0] == "(" and args[3] == ")":
            return evaluate(args[1:3], state)
    return _Eval(args, state).run()


def test(argv: list[str], io: IO) -> int:
    try:
        return 0 if evaluate(argv[1:], io.state) else 1
    except TestError as e:
        io.error(argv[0], e.message)
        return 2


def bracket(argv: list[str], io: IO) -> int:
    if argv[-1] != "]":
        io.error("[", "missing `]'")
        return 2
    return test(argv[:-1], io)
