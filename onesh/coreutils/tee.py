"""tee [-a] [FILE...]"""

from __future__ import annotations

import signal
import sys

from onesh.coreutils.common import Io, parse, read_block, why


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, "ai", ["append", "ignore-interrupts"])
    flags = {o for o, _ in opts}
    if flags & {"-i", "--ignore-interrupts"}:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    append = bool(flags & {"-a", "--append"})
    outs = []
    for name in files:
        try:
            outs.append(io.open_output(name, append))
        except OSError as e:
            io.error(f"{name}: {why(e)}")
    try:
        while data := read_block(sys.stdin.buffer):
            io.write(data)
            io.flush()
            for f in outs:
                f.write(data)
                f.flush()
    finally:
        for f in outs:
            f.close()
    return io.status
