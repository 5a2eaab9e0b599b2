"""tail [-n [+]N] [-c [+]N] [-f] [-qv] [FILE...]"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from onesh.coreutils.common import Io, Usage, inputs, line_blocks, parse, read_block


def _count(v: str, what: str) -> tuple[int, bool]:
    plus = v.startswith("+")
    t = v.lstrip("+-")
    if not t.isdigit():
        raise Usage(f"invalid number of {what}: '{v}'")
    return int(t), plus


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, "n:c:fFqvs:", ["lines=", "bytes=", "follow", "quiet", "silent", "verbose",
                                             "sleep-interval="], numeric_shorthand=True)
    n, plus, by_bytes, follow = 10, False, False, False
    quiet = verbose = False
    for o, v in opts:
        if o in ("-n", "--lines"):
            (n, plus), by_bytes = _count(v, "lines"), False
        elif o in ("-c", "--bytes"):
            (n, plus), by_bytes = _count(v, "bytes"), True
        elif o in ("-f", "-F", "--follow"):
            follow = True
        elif o in ("-q", "--quiet", "--silent"):
            quiet = True
        elif o in ("-v", "--verbose"):
            verbose = True
    names = files or ["-"]
    headers = (len(names) > 1 or verbose) and not quiet
    first = True
    for name, f in inputs(io, names):
        if headers:
            io.write((b"" if first else b"\n") + b"==> %s <==\n" % (b"standard input" if name == "-" else name.encode()))
        first = False
        if by_bytes:
            data = b"".join(iter(lambda f=f: read_block(f), b""))  # type: ignore[misc]
            io.write(data[n - 1 if n else 0:] if plus else (data[-n:] if n else b""))
        elif plus:
            k = 0
            for block in line_blocks(f):
                for line in block:
                    k += 1
                    if k >= n:
                        io.write(line)
                io.flush()
        else:
            keep: deque[bytes] = deque(maxlen=n) if n else deque(maxlen=0)
            for block in line_blocks(f):
                keep.extend(block)
            io.write(b"".join(keep))
        io.flush()
        if follow and len(names) == 1 and name != "-":
            _follow(io, f)
    return io.status


def _follow(io: Io, f: Any) -> None:
    while True:
        data = read_block(f)
        if data:
            io.write(data)
            io.flush()
        else:
            time.sleep(0.2)
