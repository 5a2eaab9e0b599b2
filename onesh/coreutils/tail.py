"""tail [-n [+]N] [-c [+]N] [-f|-F] [-s SECS] [-qv] [FILE...]

A regular file is read from its end (seeking), a stream to its end.
-f follows regular files as they grow (polling every -s seconds, default
0.2); a device or pipe with -f is passed through as it streams."""

from __future__ import annotations

import os
import stat
import time
from collections import deque
from typing import Any

from onesh.coreutils.common import (
    BLOCK,
    Io,
    ToolState,
    Usage,
    canon,
    digits,
    inputs,
    keep,
    line_blocks,
    parse,
    read_block,
)
from onesh.coreutils.head import count_arg, header

LONG = {"--lines": "-n", "--bytes": "-c", "--follow": "-f", "--quiet": "-q", "--silent": "-q",
        "--verbose": "-v", "--sleep-interval": "-s", "--retry": ""}


def _regular(f: Any) -> bool:
    try:
        return stat.S_ISREG(os.fstat(f.fileno()).st_mode) and bool(f.seekable())
    except (OSError, AttributeError, ValueError):
        return False


def _streaming(f: Any) -> bool:
    from onesh.runtime.devices import is_stream

    return is_stream(f)


SHORT = "n:c:fFqvs:z"
LONGS = ["lines=", "bytes=", "follow", "quiet", "silent", "verbose", "sleep-interval=", "retry"]
NUMERIC = True  # (-N: -n N)

def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, SHORT, LONGS, numeric_shorthand=True)
    n, plus, by_bytes, follow = 10, False, False, False
    quiet = verbose = False
    interval = 0.2
    for o, v in canon(opts, LONG):
        if o == "-n":
            (n, plus), by_bytes = count_arg(v, "lines", "+"), False
        elif o == "-c":
            (n, plus), by_bytes = count_arg(v, "bytes", "+"), True
        elif o in ("-f", "-F"):
            follow = True
        elif o == "-q":
            quiet, verbose = True, False
        elif o == "-v":
            verbose, quiet = True, False
        elif o == "-s":
            try:
                interval = max(0.01, float(v))
            except ValueError:
                raise Usage(f"invalid number of seconds: '{v}'") from None
        elif o == "-z":
            raise Usage("-z is not supported by the builtin tail agent")
    names = files or ["-"]
    if len(names) > 1 and len(argv) > 1 and argv[1][:1] == "-" and digits(argv[1][1:]):
        raise Usage(f"option used in invalid context -- {argv[1][1:2]}")
    headers = (len(names) > 1 or verbose) and not quiet
    if n == 0 and not plus and not follow:
        headers = False  # GNU prints nothing at all for -n 0 / -c 0
    first = True
    followed: list[tuple[str, Any]] = []
    for name, f in inputs(io, names):
        if headers:
            header(io, name, first)
        first = False
        if follow and _streaming(f):
            _stream(io, f)
            continue
        if by_bytes:
            _bytes(io, f, n, plus)
        else:
            _lines(io, f, n, plus)
        io.flush()
        if follow and _regular(f):
            followed.append((name, os.fdopen(os.dup(f.fileno()), "rb")))
    if followed:
        try:
            _follow(io, followed, headers, interval)
        finally:
            for _, f in followed:
                f.close()
    return io.status


def _stream(io: Io, f: Any) -> None:
    while data := read_block(f):
        io.write(data)
        io.flush()


class _Tail(ToolState):
    """What is still to skip (+N), or the last N lines or bytes kept."""

    KEPT = ("skip", "kept", "last")

    def __init__(self, skip: int, n: int) -> None:
        self.skip = skip
        self.kept: deque[bytes] = deque(maxlen=n)
        self.last = b""


def _bytes(io: Io, f: Any, n: int, plus: bool) -> None:
    if plus:
        skip = max(0, n - 1)
        if _regular(f):
            f.seek(skip, os.SEEK_CUR)
            skip = 0
        st = keep(f, _Tail(skip, 0))
        while data := read_block(f):
            if st.skip:
                cut = min(st.skip, len(data))
                data, st.skip = data[cut:], st.skip - cut
            io.write(data)
            io.flush()
        return
    if _regular(f):
        size = os.fstat(f.fileno()).st_size
        f.seek(max(0, size - n))
        while data := read_block(f):
            io.write(data)
        return
    st = keep(f, _Tail(0, 0))
    while data := read_block(f):
        st.last = (st.last + data)[-n:] if n else b""
    io.write(st.last)


def _lines(io: Io, f: Any, n: int, plus: bool) -> None:
    if plus:
        st = keep(f, _Tail(max(0, n - 1), 0))
        for block in line_blocks(f):
            if st.skip < len(block):
                io.write(b"".join(block[st.skip:]))
                io.flush()
            st.skip = max(0, st.skip - len(block))
        return
    if n == 0:
        return
    if _regular(f):
        _lines_from_end(io, f, n)
        return
    st = keep(f, _Tail(0, n))
    for block in line_blocks(f):
        st.kept.extend(block)
    io.write(b"".join(st.kept))


def _lines_from_end(io: Io, f: Any, n: int) -> None:
    start = f.tell()
    end = os.fstat(f.fileno()).st_size
    pos = end
    tail = b""
    while pos > start:
        step = min(BLOCK, pos - start)
        pos -= step
        f.seek(pos)
        tail = f.read(step) + tail
        # A final line without newline counts as a line; the newline
        # ending the file does not start one.
        body = tail[:-1] if tail.endswith(b"\n") else tail
        if body.count(b"\n") >= n:
            break
    body = tail[:-1] if tail.endswith(b"\n") else tail
    idx = len(body)
    for _ in range(n):
        idx = body.rfind(b"\n", 0, idx)
        if idx < 0:
            break
    io.write(tail[idx + 1:] if idx >= 0 else tail)
    f.seek(end)


def _follow(io: Io, followed: list[tuple[str, Any]], headers: bool, interval: float) -> None:
    last = followed[-1][0]
    while True:
        got = False
        for name, f in followed:
            data = f.read(BLOCK)
            if data:
                got = True
                if headers and name != last:
                    header(io, name, False)
                    last = name
                io.write(data)
                io.flush()
        if not got:
            time.sleep(interval)
