"""Network pipes over real Curve-secured zmq sockets on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio

from onesh.net.keys import ClusterKeys, create_secret, load_secret, start_authenticator
from onesh.net.pipe_protocol import PipeError
from onesh.net.pipes import PipeReceiver, PipeSender, pump_pipe_to_fd


@pytest.fixture
def keys(tmp_path: Path) -> ClusterKeys:
    create_secret(str(tmp_path / "secret"))
    return ClusterKeys.from_secret(load_secret(str(tmp_path / "secret")))


async def _session(keys: ClusterKeys, body):  # type: ignore[no-untyped-def]
    ctx = zmq.asyncio.Context()
    auth = start_authenticator(ctx, keys)
    try:
        return await asyncio.wait_for(body(ctx), 60)
    finally:
        auth.stop()
        ctx.destroy(linger=0)


def test_bytes_arrive_exactly_once_across_reconnects(keys: ClusterKeys) -> None:
    data = os.urandom(8 * 1024 * 1024 + 12345)

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "job/1/in")
        ep = await rx.start()
        tx = PipeSender(ctx, keys, "job/1/in", ep)
        await tx.start()
        got = bytearray()

        async def reader() -> None:
            while chunk := await rx.read():
                got.extend(chunk)

        task = asyncio.create_task(reader())
        step = 100_000
        for i in range(0, len(data), step):
            await tx.write(data[i:i + step])
            if i % (step * 17) == 0:
                await tx.reconnect()  # a new socket mid-stream: replay, de-dup
        await tx.close()
        await task
        await rx.close()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        assert rx.proto.duplicates >= 0

    asyncio.run(_session(keys, body))


def test_backpressure_keeps_the_writer_bounded(keys: ClusterKeys) -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", window=4)
        tx = PipeSender(ctx, keys, "p", await rx.start())
        await tx.start()
        blocked = asyncio.create_task(tx.write(os.urandom(4 * 1024 * 1024)))
        await asyncio.sleep(0.5)
        assert not blocked.done()  # nobody reads: the writer waits for credit
        assert tx.proto.replay_size <= 4 * 64 * 1024
        assert rx.proto.buffered <= 4 * 64 * 1024
        total = 0
        while total < 4 * 1024 * 1024:
            total += len(await rx.read())
        await blocked
        await tx.abort("done")
        await rx.close()

    asyncio.run(_session(keys, body))


def test_abort_and_reader_gone(keys: ClusterKeys) -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p")
        tx = PipeSender(ctx, keys, "p", await rx.start())
        await tx.start()
        await tx.write(b"partial")
        await tx.abort("upstream failed")
        with pytest.raises(PipeError, match="upstream failed"):
            while await rx.read():
                pass
        await rx.close()
        rx2 = PipeReceiver(ctx, keys, "q")
        tx2 = PipeSender(ctx, keys, "q", await rx2.start())
        await tx2.start()
        await tx2.write(b"x" * 70000)
        await rx2.read()
        await rx2.close()  # the reader stops: the writer learns it
        with pytest.raises(PipeError, match="reader gone"):
            for _ in range(1000):
                await tx2.write(b"y" * 65536)
        await tx2._shutdown()

    asyncio.run(_session(keys, body))


def test_foreign_and_malformed_messages_are_rejected(keys: ClusterKeys) -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        from onesh.net.keys import secure_client

        rx = PipeReceiver(ctx, keys, "mine")
        ep = await rx.start()
        evil = ctx.socket(zmq.DEALER)
        secure_client(evil, keys)
        evil.connect(ep)
        for junk in (b"\xc1garbage", msgpack.packb([1, "f", "other", 1, b"x", False, ""]),
                     msgpack.packb([9, "h", "mine"]), msgpack.packb([1, "f", "mine", -1, b"x", False, ""])):
            await evil.send(junk)
        tx = PipeSender(ctx, keys, "mine", ep)
        await tx.start()
        await tx.write(b"hello")
        await tx.close()
        assert await rx.read() == b"hello"
        assert rx.rejected == 4
        evil.close(linger=0)
        await rx.close()

    asyncio.run(_session(keys, body))


def test_without_the_cluster_keys_nothing_gets_through(keys: ClusterKeys, tmp_path: Path) -> None:
    create_secret(str(tmp_path / "other"))
    stranger = ClusterKeys.from_secret(load_secret(str(tmp_path / "other")))

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p")
        ep = await rx.start()
        tx = PipeSender(ctx, stranger, "p", ep)
        await tx.start()
        writing = asyncio.create_task(tx.write(b"z" * 200_000))
        await asyncio.sleep(1.0)
        assert not writing.done() and rx.proto.bytes_out == 0 and rx.peer is None
        writing.cancel()
        await tx._shutdown()
        await rx.close()

    asyncio.run(_session(keys, body))


def test_pumps_between_processes(keys: ClusterKeys, tmp_path: Path) -> None:
    """A child process writes through pump_fd_to_pipe; we read with pump_pipe_to_fd."""
    src = tmp_path / "in"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    secret = str(tmp_path / "secret")
    child = r'''
import asyncio, os, sys, zmq.asyncio
from onesh.net.keys import ClusterKeys, load_secret
from onesh.net.pipes import PipeSender, pump_fd_to_pipe
async def main():
    ctx = zmq.asyncio.Context()
    tx = PipeSender(ctx, ClusterKeys.from_secret(load_secret(sys.argv[1])), "x", sys.argv[2])
    await tx.start()
    await pump_fd_to_pipe(0, tx, close_fd=False)
    ctx.destroy(linger=0)
asyncio.run(main())
'''

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "x")
        ep = await rx.start()
        with open(src, "rb") as fin:
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", child, secret, ep, stdin=fin)
        r, w = os.pipe()
        out = tmp_path / "out"
        cat = subprocess.Popen(["cat"], stdin=r, stdout=open(out, "wb"))  # noqa: SIM115
        os.close(r)
        await pump_pipe_to_fd(rx, w)
        assert await proc.wait() == 0
        assert cat.wait() == 0
        assert out.read_bytes() == src.read_bytes()

    asyncio.run(_session(keys, body))
