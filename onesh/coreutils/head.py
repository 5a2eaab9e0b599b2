"""head [-n [-]N] [-c [-]N] [-qv] [FILE...]"""

from __future__ import annotations

from collections import deque

from onesh.coreutils.common import Io, Usage, inputs, line_blocks, parse, read_block


def _count(v: str, what: str) -> tuple[int, bool]:
    neg = v.startswith("-")
    t = v[1:] if neg or v.startswith("+") else v
    mult = {"b": 512, "K": 1024, "k": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    m = 1
    if t and t[-1] in mult:
        m, t = mult[t[-1]], t[:-1]
    if not t.isdigit():
        raise Usage(f"invalid number of {what}: '{v}'")
    return int(t) * m, neg


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, "n:c:qv", ["lines=", "bytes=", "quiet", "silent", "verbose"],
                        numeric_shorthand=True)
    n, neg, by_bytes = 10, False, False
    verbose = quiet = False
    for o, v in opts:
        if o in ("-n", "--lines"):
            (n, neg), by_bytes = _count(v, "lines"), False
        elif o in ("-c", "--bytes"):
            (n, neg), by_bytes = _count(v, "bytes"), True
        elif o in ("-q", "--quiet", "--silent"):
            quiet, verbose = True, False
        elif o in ("-v", "--verbose"):
            verbose, quiet = True, False
    names = files or ["-"]
    headers = (len(names) > 1 or verbose) and not quiet
    first = True
    for name, f in inputs(io, names):
        if headers:
            io.write((b"" if first else b"\n") + b"==> %s <==\n" % (b"standard input" if name == "-" else name.encode()))
        first = False
        if by_bytes:
            _bytes(io, f, n, neg)
        else:
            _lines(io, f, n, neg)
        io.flush()
    return io.status


def _bytes(io: Io, f: object, n: int, neg: bool) -> None:
    if neg:
        data = b""
        while chunk := read_block(f):
            data += chunk
        io.write(data[:max(0, len(data) - n)])
        return
    left = n
    while left > 0:
        chunk = read_block(f)
        if not chunk:
            return
        io.write(chunk[:left])
        left -= len(chunk[:left])


def _lines(io: Io, f: object, n: int, neg: bool) -> None:
    if neg:
        keep: deque[bytes] = deque()
        for block in line_blocks(f):
            for line in block:
                keep.append(line)
                if len(keep) > n:
                    io.write(keep.popleft())
        return
    left = n
    if left == 0:
        return
    for block in line_blocks(f):
        take = block[:left]
        io.write(b"".join(take))
        io.flush()
        left -= len(take)
        if left <= 0:
            return
