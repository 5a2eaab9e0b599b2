"""A regular file into a network pipe as spans of it: over a Unix socket
the file itself goes to the reader, which reads it; over any other link
the writer reads what it sends.  Real sockets, real files."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest
import zmq.asyncio
from net_helpers import zmq_session
from test_net_pipes import bind_for, keys  # noqa: F401  (the fixture)

from onesh.net.keys import ClusterKeys
from onesh.net.pipe_protocol import FRAME_MAX
from onesh.net.pipes import PipeReceiver, PipeSender, pump_fd_to_pipe


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("transport", ["unix", "tls", "zmq"])
def test_a_file_arrives_exactly_once_across_reconnects(keys: ClusterKeys, tmp_path: Path,  # noqa: F811
                                                       transport: str) -> None:
    """From the fd's offset to the end, every byte once, though the link is
    opened again mid-stream (each new connection brings the file again);
    the fd is left at the end, as a read loop leaves it."""
    src = tmp_path / "in.bin"
    data = os.urandom(6 * FRAME_MAX + 4321)
    src.write_bytes(data)
    start = 1000

    async def body(ctx: zmq.asyncio.Context) -> None:
        fds_before = _open_fds()
        fd = os.open(src, os.O_RDONLY)
        os.lseek(fd, start, os.SEEK_SET)
        rx = PipeReceiver(ctx, keys, "job/1/in", bind=bind_for(transport), window=2)
        tx = PipeSender(ctx, keys, "job/1/in", await rx.start(), file=fd)
        await tx.start()
        assert tx.spans_go_as_spans == (transport == "unix")
        got = bytearray()
        inodes = set()

        relink_at = [FRAME_MAX, 3 * FRAME_MAX]  # (the reader holds 2 frames: the writer is mid-file then)

        async def reader() -> None:
            while chunk := await rx.read():
                got.extend(chunk)
                if relink_at and len(got) >= relink_at[0]:
                    relink_at.pop(0)
                    await tx.reconnect()
                for conn in getattr(rx._listener, "conns", ()):
                    if getattr(conn, "file", -1) >= 0:
                        inodes.add(os.fstat(conn.file).st_ino)

        task = asyncio.create_task(reader())
        sent = await pump_fd_to_pipe(fd, tx, close_fd=False)
        await task
        await rx.close()
        assert sent == len(data) - start and os.lseek(fd, 0, os.SEEK_CUR) == len(data)
        assert hashlib.sha256(got).digest() == hashlib.sha256(data[start:]).digest()
        assert tx.reconnects == 2
        # The reader had the writer's file itself (over Unix), and nothing
        # of it stays open once the pipe is closed.
        assert inodes == ({os.stat(src).st_ino} if transport == "unix" else set())
        os.close(fd)
        if transport != "zmq":  # (zmq keeps sockets of its own open)
            assert _open_fds() == fds_before

    asyncio.run(zmq_session(keys, body))


@pytest.mark.parametrize("transport", ["tls", "zmq"])
def test_a_span_for_a_reader_elsewhere_goes_as_its_bytes(keys: ClusterKeys, tmp_path: Path,  # noqa: F811
                                                         transport: str) -> None:
    """A writer whose reader moved to another host (a replay of spans over
    TLS or ZeroMQ) reads what it sends."""
    src = tmp_path / "in.bin"
    data = os.urandom(2 * FRAME_MAX + 17)
    src.write_bytes(data)

    async def body(ctx: zmq.asyncio.Context) -> None:
        fd = os.open(src, os.O_RDONLY)
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for(transport))
        tx = PipeSender(ctx, keys, "p", await rx.start(), file=fd)
        await tx.start()
        for off in range(0, len(data), FRAME_MAX):
            await tx.write_span(off, min(FRAME_MAX, len(data) - off))
        close = asyncio.create_task(tx.close())
        got = bytearray()
        while chunk := await rx.read():
            got.extend(chunk)
        await close
        await rx.close()
        os.close(fd)
        assert bytes(got) == data

    asyncio.run(zmq_session(keys, body))


def test_a_span_without_its_file_is_refused_and_sent_again(keys: ClusterKeys, tmp_path: Path) -> None:  # noqa: F811
    """A reader given a span by a connection that brought no file rejects
    it; the writer's next hello brings the file and the replay gets through."""
    src = tmp_path / "in.bin"
    data = os.urandom(FRAME_MAX)
    src.write_bytes(data)

    async def body(ctx: zmq.asyncio.Context) -> None:
        fd = os.open(src, os.O_RDONLY)
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for("unix"))
        tx = PipeSender(ctx, keys, "p", await rx.start())  # no file yet: its hello brings none
        await tx.start()
        tx.file = fd
        await tx.write_span(0, len(data))
        got = await asyncio.wait_for(rx.read(), 10)  # after the resend timer's hello (with the file)
        assert bytes(got) == data and rx.rejected >= 1
        await tx.abort("done")
        await rx.close()
        os.close(fd)

    asyncio.run(zmq_session(keys, body))


def test_a_span_the_writer_cannot_read_cuts_its_reader_off(keys: ClusterKeys, tmp_path: Path) -> None:  # noqa: F811
    """Never a silent gap: a span the writer must spell out and cannot read
    ends the reader's input with the reason."""
    from onesh.net.pipe_protocol import PipeError

    src = tmp_path / "in.bin"
    src.write_bytes(os.urandom(1000))

    async def body(ctx: zmq.asyncio.Context) -> None:
        fd = os.open(src, os.O_WRONLY)  # (pread fails: EBADF)
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for("tls"))
        tx = PipeSender(ctx, keys, "p", await rx.start(), file=fd)
        await tx.start()
        await tx.write_span(0, 1000)
        with pytest.raises(PipeError, match="reading the input file failed"):
            await asyncio.wait_for(rx.read(), 10)
        await tx._shutdown()
        await rx.close()
        os.close(fd)

    asyncio.run(zmq_session(keys, body))
