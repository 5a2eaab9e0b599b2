"""tee [-ai] [-p] [--output-error[=MODE]] [FILE...]

Copies stdin to stdout and every FILE (opened through the pluggable
opener, so a cluster namespace can serve them), flushing each block as it
comes.  A FILE that cannot be opened or written is reported and dropped
(status 1); a closed stdout ends tee with 141 unless -p is given.  In a
stage on the cluster its FILEs are namespace files (runtime/nsresolver.write),
and checkpoints of where it stands in each let it go on elsewhere."""

from __future__ import annotations

import signal
from typing import Any

from onesh.coreutils.common import Io, ToolState, Usage, canon, keep, parse, read_block, why

LONG = {"--append": "-a", "--ignore-interrupts": "-i", "--output-error": "-p"}


SHORT, LONGS = "aip", ["append", "ignore-interrupts", "output-error=?"]
# Where a stage on the cluster writes a FILE by name is the namespace's,
# but for these: a device or a local special file (/dev/stderr), a named
# pipe, a runtime's own files.
NOT_IN_NAMESPACE = ("/dev/", "/pipes/", "/net/", "/proc/", "/sys/")


def outputs(argv: list[str]) -> tuple[list[str], bool] | None:
    """tee's FILE operands and whether it appends (None: its options do
    not parse, it will say so when it runs)."""
    try:
        opts, files = parse(argv, SHORT, LONGS)
    except Usage:
        return None
    return files, any(o == "-a" for o, _ in canon(opts, LONG))


def in_namespace(path: str) -> bool:
    """Is absolute `path`, a FILE of a tee on the cluster, a namespace file?"""
    return path.startswith("/") and not path.startswith(NOT_IN_NAMESPACE) and path != "/"


class Written(ToolState):
    """Where tee stands in each FILE, for a stage restarted elsewhere
    (coreutils/restart.py).  A checkpoint first makes what was written
    durable and visible (its FILEs are namespace files: commit()), then
    holds each one's size; the successor cuts each FILE back to that size
    and goes on from the checkpoint's input, so every FILE ends up with
    each byte exactly once."""

    KEPT = ("sizes",)

    def __init__(self) -> None:
        self.sizes: list[list[Any]] = []  # [[FILE, size], ...]; -1: dropped after an error
        self.outs: list[tuple[str, Any]] = []
        self.broken: list[tuple[str, OSError]] = []  # (a commit failed: tee reports it and drops the FILE)

    def snapshot(self) -> dict[str, Any]:
        sizes: list[list[Any]] = [[name, size] for name, size in self.sizes if size < 0]
        for name, f in self.outs:
            if name == "-":
                continue  # (our stdout again: where it stands is the output's own checkpoint)
            # (a tee that goes on elsewhere writes namespace files only:
            # engine/restarts.tee_restarts; nsfiles.Writer)
            try:
                f.commit()
                sizes.append([name, f.base + f.size()])
            except OSError as e:
                self.broken.append((name, e))
                sizes.append([name, -1])
        self.sizes = sizes
        return super().snapshot()

    def where(self, name: str) -> int | None:
        return next((int(size) for n, size in self.sizes if n == name), None)


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, SHORT, LONGS)
    flags = {o for o, _ in canon(opts, LONG)}
    if "-i" in flags:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    keep_going = "-p" in flags
    append = "-a" in flags
    state = keep(io.stdin, Written())  # (a successor's: where each FILE goes on)
    outs = state.outs
    for name in files:
        at = state.where(name)
        if at is not None and at < 0:
            continue  # (its predecessor had dropped it, and said so)
        try:
            outs.append((name, io.open_output(name, append, at)))
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
            while state.broken:
                name, failed = state.broken.pop(0)
                io.error(f"{name}: {why(failed)}")
                outs[:] = [pair for pair in outs if pair[0] != name]
            if not stdout_ok and not outs:
                break
    finally:
        for name, f in outs:
            try:
                f.close()
            except OSError as e:
                io.error(f"{name}: {why(e)}")
    return io.status
