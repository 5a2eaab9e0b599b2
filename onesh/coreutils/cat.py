"""cat [-AbeEnstTuv] [FILE...]

Without options a tight os.read/os.write loop (256 KiB blocks) between the
descriptors when there are descriptors; each block is written as soon as
it is read, so a device or pipe streams.  Line numbers and the blank-line
squeeze carry over from one file to the next, as in GNU cat."""

from __future__ import annotations

import os
import re
from typing import Any

from onesh.coreutils.common import BLOCK, Io, canon, inputs, parse, read_block, split_lines

COPY_BLOCK = 4 * BLOCK


def _show(b: int, tabs: bool) -> bytes:
    out = b""
    if b >= 128:
        out = b"M-"
        b -= 128
    if b < 32:
        return out + b"^" + bytes([b + 64])
    if b == 127:
        return out + b"^?"
    return out + bytes([b])


_NONPRINT = {b: _show(b, True) for b in range(256)}
_RX_V = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f-\xff]")  # -v: all but TAB (and printable)
_RX_VT = re.compile(rb"[\x00-\x1f\x7f-\xff]")  # -v -T
_RX_T = re.compile(rb"\t")


def _visible(body: bytes, tabs: bool, nonprint: bool) -> bytes:
    if nonprint:
        rx = _RX_VT if tabs else _RX_V
        return rx.sub(lambda m: _NONPRINT[m[0][0]], body)
    return body.replace(b"\t", b"^I") if tabs else body


LONG = {"--show-all": "-A", "--number-nonblank": "-b", "--show-ends": "-E", "--number": "-n",
        "--squeeze-blank": "-s", "--show-tabs": "-T", "--show-nonprinting": "-v"}


SHORT = "AbeEnstTuv"


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, SHORT, [k[2:] for k in LONG])
    flags: set[str] = {o[1] for o, _ in canon(opts, LONG)}
    if "A" in flags:
        flags |= {"v", "E", "T"}
    if "e" in flags:
        flags |= {"v", "E"}
    if "t" in flags:
        flags |= {"v", "T"}
    flags -= {"u", "A", "e", "t"}
    if "b" in flags:
        flags.discard("n")
    if not flags:
        for _, f in inputs(io, files):
            _copy(io, f)
        return io.status
    numbers = "n" in flags or "b" in flags
    nonblank_only = "b" in flags
    squeeze = "s" in flags
    ends = "E" in flags
    tabs, nonprint = "T" in flags, "v" in flags
    lineno = 0
    blank_run = 0  # consecutive empty lines seen
    at_bol = True
    for _, f in inputs(io, files):
        # Raw blocks, not whole lines: a partial line is written at once and
        # its rest continues it (at_bol), so an endless line still streams.
        while data := read_block(f):
            block = split_lines(data)
            out = []
            for line in block:
                nl = line.endswith(b"\n")
                body = line[:-1] if nl else line
                if at_bol:
                    if not body and nl:
                        blank_run += 1
                        if squeeze and blank_run > 1:
                            continue
                    else:
                        blank_run = 0
                    if numbers and (body or not nonblank_only):
                        lineno += 1
                        out.append(b"%6d\t" % lineno)
                elif body or not nl:
                    blank_run = 0
                if tabs or nonprint:
                    body = _visible(body, tabs, nonprint)
                out.append(body)
                if nl:
                    out.append(b"$\n" if ends else b"\n")
                at_bol = nl
            io.write(b"".join(out))
            io.flush()
    return io.status


def _copy(io: Io, f: Any) -> None:
    """The plain `cat`: os.read/os.write on fds when there are fds."""
    out_fd = io.out_fd()
    try:
        in_fd = int(f.fileno())  # nothing has been read through f yet
    except (OSError, AttributeError, ValueError):
        in_fd = -1
    take = getattr(f, "read_view", None)
    if take is not None and out_fd < 0:
        # A network pipe (onesh.net.netio): each frame is handed on as it
        # arrived, by reference, to the next pipe: no copy.
        while data := take():
            io.write(data)
            io.flush()
        return
    while True:
        data = os.read(in_fd, COPY_BLOCK) if in_fd >= 0 else read_block(f)
        if not data:
            return
        if out_fd >= 0:
            _write_all(out_fd, data)
        else:
            io.write(data)
            io.flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]
