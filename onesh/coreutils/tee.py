"""tee [-ai] [-p] [--output-error[=MODE]] [FILE...]

Copies stdin to stdout and every FILE (opened through the pluggable
opener, so a cluster namespace can serve them), flushing each block as it
comes.  A FILE that cannot be opened or written is reported and dropped
(status 1); a closed stdout ends tee with 141 unless -p is given."""

from __future__ import annotations

import signal
from typing import Any

from onesh.coreutils.common import Io, canon, parse, read_block, why

LONG = {"--append": "-a", "--ignore-interrupts": "-i", "--output-error": "-p"}


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, "aip", ["append", "ignore-interrupts", "output-error=?"])
    flags = {o for o, _ in canon(opts, LONG)}
    if "-i" in flags:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_going = "-p" in flags
    append = "-a" in flags
    outs: list[tuple[str, Any]] = []
    for name in files:
        try:
            outs.append((name, io.open_output(name, append)))
        except OSError as e:
            io.error(f"{name}: {why(e)}")
    stdout_ok = True
    try:
        while data := read_block(io.stdin):
            if stdout_ok:
                try:
                    io.write(data)
                    io.flush()
                except BrokenPipeError:
                    if not keep_going:
                        raise
                    stdout_ok = False
            for pair in list(outs):
                name, f = pair
                try:
                    f.write(data)
                    f.flush()
                except OSError as e:
                    io.error(f"{name}: {why(e)}")
                    outs.remove(pair)
            if not stdout_ok and not outs:
                break
    finally:
        for name, f in outs:
            try:
                f.close()
            except OSError as e:
                io.error(f"{name}: {why(e)}")
    return io.status
