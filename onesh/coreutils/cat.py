"""cat [-AbeEnstTv] [FILE...]"""

from __future__ import annotations

import os
from typing import Any

from onesh.coreutils.common import BLOCK, Io, inputs, line_blocks, parse, read_block


def _visible(line: bytes, tabs: bool, nonprint: bool) -> bytes:
    out = bytearray()
    for b in line:
        if (b == 9 and not tabs) or b == 10:
            out.append(b)
        elif nonprint or b == 9:
            if b >= 128:
                out += b"M-"
                b -= 128
            if b < 32:
                out += b"^" + bytes([b + 64])
            elif b == 127:
                out += b"^?"
            else:
                out.append(b)
        else:
            out.append(b)
    return bytes(out)


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, "AbeEnstTuv", ["show-all", "number-nonblank", "show-ends", "number",
                                             "squeeze-blank", "show-tabs", "show-nonprinting"])
    flags: set[str] = set()
    longmap = {"--show-all": "A", "--number-nonblank": "b", "--show-ends": "E", "--number": "n",
               "--squeeze-blank": "s", "--show-tabs": "T", "--show-nonprinting": "v"}
    for o, _ in opts:
        flags.add(longmap.get(o, o.lstrip("-")))
    if "A" in flags:
        flags |= {"v", "E", "T"}
    if "e" in flags:
        flags |= {"v", "E"}
    if "t" in flags:
        flags |= {"v", "T"}
    flags.discard("u")
    if not flags:
        for _, f in inputs(io, files):
            _copy(io, f)
        return io.status
    lineno = 0
    blank_run = False
    for _, f in inputs(io, files):
        for block in line_blocks(f):
            out = []
            for line in block:
                blank = line in (b"\n",)
                if "s" in flags and blank and blank_run:
                    continue
                blank_run = blank
                body = line[:-1] if line.endswith(b"\n") else line
                nl = b"\n" if line.endswith(b"\n") else b""
                if "v" in flags or "T" in flags:
                    body = _visible(body, "T" in flags, "v" in flags)
                if "E" in flags and nl:
                    body += b"$"
                if "b" in flags:
                    if body:
                        lineno += 1
                        body = b"%6d\t" % lineno + body
                elif "n" in flags:
                    lineno += 1
                    body = b"%6d\t" % lineno + body
                out.append(body + nl)
            io.write(b"".join(out))
            io.flush()
    return io.status


def _copy(io: Io, f: Any) -> None:
    """The plain `cat`: a tight read/write loop on fds when there are fds."""
    io.flush()
    try:
        fd = f.fileno()
    except (OSError, AttributeError, ValueError):
        fd = -1
    while True:
        data = os.read(fd, BLOCK * 4) if fd >= 0 else read_block(f)
        if not data:
            return
        _write_all(data)


def _write_all(data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(1, view)
        view = view[n:]
