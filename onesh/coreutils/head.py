"""head [-n [-]N] [-c [-]N] [-qv] [FILE...]  (N may end in b kB K MB M GB G)"""

from __future__ import annotations

from collections import deque
from typing import Any

from onesh.coreutils.common import (
    Io,
    ToolState,
    Usage,
    canon,
    digits,
    fsname,
    inputs,
    keep,
    line_blocks,
    parse,
    read_block,
)

SUFFIX = {"b": 512, "kB": 1000, "K": 1024, "k": 1024, "KiB": 1024, "MB": 1000 ** 2, "M": 1024 ** 2,
          "MiB": 1024 ** 2, "GB": 1000 ** 3, "G": 1024 ** 3, "GiB": 1024 ** 3, "TB": 1000 ** 4,
          "T": 1024 ** 4}


def count_arg(v: str, what: str, sign: str = "-") -> tuple[int, bool]:
    """'N', '-N' (sign '-') or '+N' (sign '+') with a size suffix → (N, signed)."""
    signed = v.startswith(sign)
    t = v[1:] if v[:1] in "+-" else v
    if v.startswith("-") and sign == "+":
        signed = False
    mult = 1
    for suf in sorted(SUFFIX, key=len, reverse=True):
        if t.endswith(suf) and digits(t[:-len(suf)]):
            mult, t = SUFFIX[suf], t[:-len(suf)]
            break
    if not digits(t):
        raise Usage(f"invalid number of {what}: '{v}'")
    return int(t) * mult, signed


LONG = {"--lines": "-n", "--bytes": "-c", "--quiet": "-q", "--silent": "-q", "--verbose": "-v"}


def header(io: Io, name: str, first: bool) -> None:
    shown = b"standard input" if name == "-" else fsname(name)
    io.write((b"" if first else b"\n") + b"==> " + shown + b" <==\n")


SHORT = "n:c:qvz"
LONGS = ["lines=", "bytes=", "quiet", "silent", "verbose"]
NUMERIC = True  # (-N: -n N)

def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, SHORT, LONGS, numeric_shorthand=True)
    n, neg, by_bytes = 10, False, False
    verbose = quiet = False
    for o, v in canon(opts, LONG):
        if o == "-n":
            (n, neg), by_bytes = count_arg(v, "lines"), False
        elif o == "-c":
            (n, neg), by_bytes = count_arg(v, "bytes"), True
        elif o == "-q":
            quiet, verbose = True, False
        elif o == "-v":
            verbose, quiet = True, False
        elif o == "-z":
            raise Usage("-z is not supported by the builtin head agent")
    names = files or ["-"]
    headers = (len(names) > 1 or verbose) and not quiet
    first = True
    for name, f in inputs(io, names):
        if headers:
            header(io, name, first)
        first = False
        if by_bytes:
            _bytes(io, f, n, neg)
        else:
            _lines(io, f, n, neg)
        io.flush()
    return io.status


class _Head(ToolState):
    """What is left to print, or what is held back (-N: the last N lines
    or bytes)."""

    KEPT = ("left", "held", "tail")

    def __init__(self, left: int) -> None:
        self.left = left
        self.held: deque[bytes] = deque()
        self.tail = b""


def _bytes(io: Io, f: Any, n: int, neg: bool) -> None:
    st = keep(f, _Head(n))
    if neg:
        while chunk := read_block(f):
            st.tail += chunk
            if len(st.tail) > n:
                io.write(st.tail[:len(st.tail) - n])
                st.tail = st.tail[len(st.tail) - n:]
                io.flush()
        return
    while st.left > 0:
        chunk = read_block(f)
        if not chunk:
            return
        io.write(chunk[:st.left])
        io.flush()
        st.left -= len(chunk[:st.left])


def _lines(io: Io, f: Any, n: int, neg: bool) -> None:
    st = keep(f, _Head(n))
    if neg:
        held = st.held
        for block in line_blocks(f):
            held.extend(block)
            out = [held.popleft() for _ in range(max(0, len(held) - n))]
            if out:
                io.write(b"".join(out))
                io.flush()
        return
    if st.left <= 0:
        return
    for block in line_blocks(f):
        take = block[:st.left]
        io.write(b"".join(take))
        io.flush()
        st.left -= len(take)
        if st.left <= 0:
            return
