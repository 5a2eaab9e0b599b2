"""Network pipes over real zmq sockets: Curve-secured TCP on loopback, and
Unix sockets in a private directory (same host)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
import zmq
import zmq.asyncio

from onesh.net.keys import ClusterKeys, create_secret, load_secret, start_authenticator
from onesh.net.pipe_protocol import FRAME_MAX, PipeError
from onesh.net.pipes import (
    VERSION,
    PipeReceiver,
    PipeSender,
    WireError,
    decode,
    encode_frame,
    encode_hello,
    pump_pipe_to_fd,
)
from onesh.net.samehost import pipe_bind


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


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_bytes_arrive_exactly_once_across_reconnects(keys: ClusterKeys, transport: str) -> None:
    data = os.urandom(8 * 1024 * 1024 + 12345)

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "job/1/in", bind=pipe_bind("127.0.0.1", transport == "unix"))
        ep = await rx.start()
        assert ep.startswith(f"{transport}://")
        path = ep[len("unix://"):] if transport == "unix" else None
        if path:
            assert stat.S_ISSOCK(os.stat(path).st_mode)
        tx = PipeSender(ctx, keys, "job/1/in", ep)
        await tx.start()
        got = bytearray()

        async def reader() -> None:
            while chunk := await rx.read():
                got.extend(chunk)

        task = asyncio.create_task(reader())
        step = 100_000
        relinks = 0
        for i in range(0, len(data), step):
            await tx.write(data[i:i + step])
            if i % (step * 17) == 0:
                await tx.reconnect()  # a new socket mid-stream: replay, de-dup
                relinks += 1
        await tx.close()
        await task
        await rx.close()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        # every relink really was a new connection that reached the reader
        # (the first one may not have: the relink right after the first
        # write can drop its socket before anything left it)
        assert relinks >= 5 and tx.reconnects == relinks and rx.links >= relinks
        assert not (path and os.path.exists(path))  # a Unix socket's file goes with its receiver

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


def _header(*fields: object) -> bytes:
    return bytes(msgpack.packb(list(fields)))


MALFORMED: list[tuple[str, list[bytes]]] = [
    ("not msgpack", [b"\xc1garbage"]),
    ("another pipe", [_header(VERSION, "f", "other", 1, False, ""), b"x"]),
    ("old version", [_header(1, "f", "mine", 1, b"x", False, "")]),
    ("unknown version", [_header(9, "h", "mine")]),
    ("negative seq", [_header(VERSION, "f", "mine", -1, False, ""), b"x"]),
    ("seq not an int", [_header(VERSION, "f", "mine", True, False, ""), b"x"]),
    ("eof not a bool", [_header(VERSION, "f", "mine", 1, 0, ""), b"x"]),
    ("frame without its data part", [_header(VERSION, "f", "mine", 1, False, "")]),
    ("data packed in the header", [_header(VERSION, "f", "mine", 1, b"x", False, ""), b"x"]),
    ("oversize data part", [_header(VERSION, "f", "mine", 1, False, ""), b"z" * (FRAME_MAX + 1)]),
    ("oversize data part by far", [_header(VERSION, "f", "mine", 1, False, ""), b"z" * (FRAME_MAX + 9999)]),
    ("oversize header", [_header(VERSION, "h", "mine", "x" * 5000)]),
    ("abort frame with data", [_header(VERSION, "f", "mine", 1, False, "boom"), b"x"]),
    ("hello with a data part", [_header(VERSION, "h", "mine"), b"x"]),
    ("three parts", [_header(VERSION, "f", "mine", 1, False, ""), b"x", b"y"]),
    ("a map", [bytes(msgpack.packb({"v": VERSION}))]),
    ("unknown kind", [_header(VERSION, "z", "mine")]),
    ("an ack to the receiver", [_header(VERSION, "a", "mine", 0, 1, False)]),
]


@pytest.mark.parametrize("parts", [p for _, p in MALFORMED], ids=[n for n, _ in MALFORMED])
def test_decode_rejects_malformed_messages(parts: list[bytes]) -> None:
    if parts[0] == MALFORMED[-1][1][0]:
        assert decode(parts, "mine")[0] == "a"  # well-formed; the receiver refuses it (see below)
        return
    with pytest.raises(WireError):
        decode(parts, "mine")


def test_decode_keeps_the_data_part_as_a_view() -> None:
    part = os.urandom(FRAME_MAX)
    kind, f = decode([_header(VERSION, "f", "mine", 7, True, ""), part], "mine")
    assert kind == "f" and (f.seq, f.eof, f.error) == (7, True, "")
    assert isinstance(f.data, memoryview) and f.data.obj is part  # no copy
    head, data = encode_frame("mine", f)
    assert data is f.data and decode([head, data], "mine")[1].data == part


def _rogue_peer(ctx: zmq.asyncio.Context, keys: ClusterKeys, endpoint: str) -> zmq.asyncio.Socket:
    """A socket with the cluster's keys that speaks whatever a test sends."""
    from onesh.net.keys import secure_client

    sock = ctx.socket(zmq.DEALER)
    secure_client(sock, keys)
    sock.connect(endpoint)
    return sock


def test_foreign_and_malformed_messages_are_rejected(keys: ClusterKeys) -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "mine")
        ep = await rx.start()
        evil = _rogue_peer(ctx, keys, ep)
        for name, parts in MALFORMED:
            if name != "oversize data part by far":  # (see the next test)
                await evil.send_multipart(parts)
        tx = PipeSender(ctx, keys, "mine", ep)
        await tx.start()
        await tx.write(b"hello")
        await tx.close()
        assert await rx.read() == b"hello"
        assert rx.rejected == len(MALFORMED) - 1
        assert rx.proto.duplicates == rx.proto.out_of_order == 0
        evil.close(linger=0)
        await rx.close()

    asyncio.run(_session(keys, body))


def test_a_part_far_over_the_limit_is_not_even_buffered(keys: ClusterKeys) -> None:
    """zmq drops a peer announcing a part far bigger than a frame (its
    MAXMSGSIZE) before receiving it; the pipe goes on with its writer."""

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "mine")
        ep = await rx.start()
        evil = _rogue_peer(ctx, keys, ep)
        await evil.send_multipart(encode_hello("mine"))
        await asyncio.wait_for(evil.recv_multipart(), 5)  # the link is up
        await evil.send_multipart([_header(VERSION, "f", "mine", 1, False, ""), b"z" * (4 * FRAME_MAX)])
        tx = PipeSender(ctx, keys, "mine", ep)
        await tx.start()
        await tx.write(b"hello")
        await tx.close()
        assert await rx.read() == b"hello"
        assert rx.proto.bytes_out == 5 and rx.rejected == 0
        evil.close(linger=0)
        await rx.close()

    asyncio.run(_session(keys, body))


def test_duplicate_replayed_and_early_frames_over_the_wire(keys: ClusterKeys) -> None:
    """A hand-driven sender: replays, a gap, then the missing frame; the
    reader gets each byte once, in order, and the acks say where it is."""

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", window=8)
        ep = await rx.start()
        dealer = _rogue_peer(ctx, keys, ep)

        async def ack() -> tuple[int, int, bool]:
            kind, (a, gone) = decode(await asyncio.wait_for(dealer.recv_multipart(), 5), "p")
            assert kind == "a"
            return a.seq, a.credit, gone

        def frame(seq: int, data: bytes, eof: bool = False) -> list[bytes]:
            return [_header(VERSION, "f", "p", seq, eof, ""), data]

        await dealer.send_multipart(encode_hello("p"))
        assert await ack() == (0, 8, False)
        await dealer.send_multipart(frame(1, b"one "))
        assert (await ack())[0] == 1
        await dealer.send_multipart(frame(1, b"one "))  # a replay
        assert (await ack())[0] == 1
        await dealer.send_multipart(frame(3, b"three"))  # early: 2 is missing
        assert (await ack())[0] == 1
        await dealer.send_multipart(frame(2, b"two "))
        assert (await ack())[0] == 2
        for seq, data in ((2, b"two "), (3, b"three"), (1, b"one ")):
            await dealer.send_multipart(frame(seq, data))
            await ack()
        await dealer.send_multipart(frame(4, b"", eof=True))
        assert (await ack())[0] == 4
        got = b""
        while chunk := await rx.read():
            got += chunk
        assert got == b"one two three"
        assert rx.proto.duplicates == 3 and rx.proto.out_of_order == 1
        dealer.close(linger=0)
        await rx.close()

    asyncio.run(_session(keys, body))


def test_reconnect_while_blocked_on_credit(keys: ClusterKeys) -> None:
    """The writer is blocked on a full window, replaces its socket (the
    frames in flight are lost with the old one), the reader drains slowly:
    every byte once, in order, memory bounded by the window."""
    data = os.urandom(3 * 1024 * 1024 + 99)

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", window=4)
        tx = PipeSender(ctx, keys, "p", await rx.start())
        await tx.start()
        async def writer() -> None:
            await tx.write(data)
            await tx.close()

        writing = asyncio.create_task(writer())
        got = bytearray()
        for i in range(10_000):
            if i % 3 == 0 and not tx.proto._closed:
                await tx.reconnect()
                assert tx.proto.replay_size <= 4 * FRAME_MAX
            await asyncio.sleep(0.002)
            chunk = await rx.read()
            if not chunk:
                break
            got += chunk
        await writing
        assert bytes(got) == data
        await rx.close()

    asyncio.run(_session(keys, body))


def test_a_reader_closing_at_the_end_still_acknowledges_it(keys: ClusterKeys) -> None:
    """The reader closes as soon as it sees the end of stream: the ack of
    that end must still leave, or the writer would wait until it gives up."""

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p")
        tx = PipeSender(ctx, keys, "p", await rx.start())
        await tx.start()
        await tx.write(b"x" * 100_000)
        closing = asyncio.create_task(tx.close())
        while await rx.read():
            pass
        await rx.close()
        await closing
        assert tx.proto.done and not tx.gone and tx.resends == 0

    asyncio.run(_session(keys, body))


def test_a_send_zmq_refuses_waits_in_order() -> None:
    """With a high-water mark (pipes have none) and no peer yet, zmq says
    EAGAIN: the owner keeps those messages, in order, until it can send."""
    import socket

    from onesh.net.pipes import _Owner

    async def body() -> None:
        ctx = zmq.asyncio.Context()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.SNDHWM, 2)
        dealer.connect(f"tcp://127.0.0.1:{port}")  # nobody there yet
        owner = _Owner(dealer, lambda frames: None)
        for i in range(50):
            owner.send([b"%d" % i])
        assert owner.backlog  # zmq took the first few only
        router = ctx.socket(zmq.ROUTER)
        router.bind(f"tcp://127.0.0.1:{port}")
        got = [(await asyncio.wait_for(router.recv_multipart(), 10))[1] for _ in range(50)]
        assert got == [b"%d" % i for i in range(50)] and not owner.backlog
        await owner.close()
        router.close(linger=0)
        ctx.destroy(linger=0)

    asyncio.run(body())


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


def test_a_pump_widens_the_os_pipe_it_is_given() -> None:
    import fcntl

    from onesh.net.pipes import PIPE_BUFFER, _widen

    if not hasattr(fcntl, "F_GETPIPE_SZ"):
        pytest.skip("no F_SETPIPE_SZ here")
    r, w = os.pipe()
    try:
        _widen(w)
        if fcntl.fcntl(r, fcntl.F_GETPIPE_SZ) < PIPE_BUFFER:
            with pytest.raises(OSError):  # only refused by the user's pipe quota
                fcntl.fcntl(r, fcntl.F_SETPIPE_SZ, PIPE_BUFFER)
        _widen(r)  # the read end too, and twice is harmless
        with open(os.devnull, "rb") as f:
            _widen(f.fileno())  # not a pipe: left alone
    finally:
        os.close(r)
        os.close(w)
