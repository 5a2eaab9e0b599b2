"""A pump reads a regular file on its loop while its reads never wait, in a
thread once one does (net/pipes.FileReads)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from onesh.net.pipes import FILE_READ_SIZE, FileReads


def read_all(path: Path, reads: FileReads) -> bytes:
    async def body() -> bytes:
        fd = os.open(path, os.O_RDONLY)
        try:
            out = bytearray()
            while data := await reads.read(fd):
                out += data
            return bytes(out)
        finally:
            os.close(fd)

    return asyncio.run(body())


def test_a_cached_file_is_read_on_the_loop_after_a_few_quick_reads(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FileReads, "FAST", 1.0)  # (a busy machine's thread reads are quick too)
    data = os.urandom(12 * FILE_READ_SIZE + 5)
    (tmp_path / "f").write_bytes(data)
    reads = FileReads()
    assert read_all(tmp_path / "f", reads) == data
    # (reads 1-4 in a thread, then the rest and the end of file on the loop)
    assert reads.on_loop == 13 - FileReads.FAST_READS + 1


def test_a_slow_file_goes_back_to_the_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(12 * FILE_READ_SIZE)
    (tmp_path / "f").write_bytes(data)
    real_read = os.read
    stalled: list[int] = []

    def slow_read(fd: int, n: int) -> bytes:
        got = real_read(fd, n)
        if reads.on_loop == 2 and not stalled:  # (a disk that stalls, once)
            time.sleep(0.01)
            stalled.append(fd)
        return got

    monkeypatch.setattr(FileReads, "FAST", 1.0)
    reads = FileReads()
    monkeypatch.setattr(os, "read", slow_read)
    assert read_all(tmp_path / "f", reads) == data
    # 4 in a thread, 3 on the loop (the third sleeps), 4 in a thread, the last 1 and the end on the loop
    assert stalled and reads.on_loop == 3 + 2
