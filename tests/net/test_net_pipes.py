"""Network pipes over real sockets, on every transport: TLS 1.3 and ZeroMQ +
Curve over TCP on loopback, Unix packet sockets in a private directory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import ssl
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio
from net_helpers import zmq_session

from onesh.net import pipe_wire as wire
from onesh.net.keys import (
    ClusterKeys,
    create_secret,
    load_secret,
    secure_client,
)
from onesh.net.pipe_protocol import FRAME_MAX, Frame, PipeError
from onesh.net.pipes import PipeReceiver, PipeSender, pump_pipe_to_fd
from onesh.net.tlscerts import server_name, tls_context
from onesh.net.transport import pipe_bind

TRANSPORTS = ["unix", "tls", "zmq"]


@pytest.fixture
def keys(tmp_path: Path) -> ClusterKeys:
    create_secret(str(tmp_path / "secret"))
    return ClusterKeys.from_secret(load_secret(str(tmp_path / "secret")))


def bind_for(transport: str) -> str:
    if transport == "unix":
        ep = pipe_bind("127.0.0.1", True)
        assert ep.startswith("unix://")
        return ep
    return {"tls": "tls://127.0.0.1:0", "zmq": "tcp://127.0.0.1:0"}[transport]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bytes_arrive_exactly_once_across_reconnects(keys: ClusterKeys, transport: str) -> None:
    data = os.urandom(8 * 1024 * 1024 + 12345)

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "job/1/in", bind=bind_for(transport))
        ep = await rx.start()
        assert ep.startswith(bind_for(transport).split("://")[0] + "://")
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
                await tx.reconnect()  # a new connection mid-stream: replay, de-dup
                relinks += 1
        await tx.close()
        await task
        await rx.close()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
        # the relinks really were new connections that reached the reader
        # (one may not have: zmq and TLS connect in the background, and a relink
        # soon after another can drop a connection before it came up)
        assert relinks >= 5 and tx.reconnects == relinks and rx.links >= relinks - (transport != "unix")
        assert not (path and os.path.exists(path))  # a Unix socket's file goes with its receiver

    asyncio.run(zmq_session(keys, body))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_backpressure_keeps_the_writer_bounded(keys: ClusterKeys, transport: str) -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for(transport), window=4)
        tx = PipeSender(ctx, keys, "p", await rx.start())
        await tx.start()
        blocked = asyncio.create_task(tx.write(os.urandom(4 * 1024 * 1024)))
        await asyncio.sleep(0.5)
        assert not blocked.done() and tx.blocked  # nobody reads: the writer waits for credit
        assert tx.proto.replay_size <= 4 * FRAME_MAX
        assert rx.proto.buffered <= 4 * FRAME_MAX
        total = 0
        while total < 4 * 1024 * 1024:
            total += len(await rx.read())
        await blocked
        await tx.abort("done")
        await rx.close()

    asyncio.run(zmq_session(keys, body))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_abort_and_reader_gone(keys: ClusterKeys, transport: str) -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for(transport))
        tx = PipeSender(ctx, keys, "p", await rx.start())
        await tx.start()
        await tx.write(b"partial")
        await tx.abort("upstream failed")
        with pytest.raises(PipeError, match="upstream failed"):
            while await rx.read():
                pass
        await rx.close()
        rx2 = PipeReceiver(ctx, keys, "q", bind=bind_for(transport))
        tx2 = PipeSender(ctx, keys, "q", await rx2.start())
        await tx2.start()
        await tx2.write(b"x" * (FRAME_MAX + 4464))
        await rx2.read()
        await rx2.close()  # the reader stops: the writer learns it
        with pytest.raises(PipeError, match="reader gone"):
            for _ in range(1000):
                await tx2.write(b"y" * 65536)
        await tx2._shutdown()

    asyncio.run(zmq_session(keys, body))


@pytest.mark.parametrize("transport", ["unix", "tls"])
def test_a_reader_that_died_is_gone_within_a_second_or_two(keys: ClusterKeys, transport: str) -> None:
    """A reader killed outright sends no `gone`; its endpoint refusing the
    writer's reconnects says it (zmq cannot tell: there the writer waits
    GIVE_UP_AFTER)."""

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for(transport), window=2)
        tx = PipeSender(ctx, keys, "p", await rx.start())
        await tx.start()
        await tx.write(b"x" * (FRAME_MAX + 4464))
        await rx.read()
        rx.shut()  # the listener and its connections vanish, no word sent (a SIGKILL)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(PipeError, match="reader gone"):
            for _ in range(1000):
                await tx.write(b"y" * 65536)
        assert loop.time() - t0 < 5
        await tx._shutdown()

    asyncio.run(zmq_session(keys, body))


class Rogue:
    """A peer with the cluster's credentials that sends whatever a test
    says, on any transport."""

    def __init__(self, transport: str, ctx: zmq.asyncio.Context, keys: ClusterKeys) -> None:
        self.transport, self.ctx, self.keys = transport, ctx, keys

    async def connect(self, endpoint: str) -> None:
        if self.transport == "zmq":
            self.z = self.ctx.socket(zmq.DEALER)
            secure_client(self.z, self.keys)
            self.z.connect(endpoint)
        elif self.transport == "unix":
            self.u = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            self.u.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            self.u.connect(endpoint[len("unix://"):])
            self.u.setblocking(False)
        else:
            host, port = endpoint[len("tls://"):].rsplit(":", 1)
            self.r, self.w = await asyncio.open_connection(host, int(port), ssl=tls_context(self.keys, server=False),
                                                           server_hostname=server_name(self.keys))

    async def send(self, header: bytes, body: bytes = b"") -> None:
        if self.transport == "zmq":
            await self.z.send_multipart([header, body])
        elif self.transport == "unix":
            self.u.send(header + body)
        else:
            self.w.write(header + body)
            await self.w.drain()

    async def recv(self) -> tuple[bytes, bytes]:
        if self.transport == "zmq":
            h, b = await asyncio.wait_for(self.z.recv_multipart(), 5)
            return h, b
        if self.transport == "unix":
            packet = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.u, 1 << 17), 5)
            return packet[:wire.HEADER_SIZE], packet[wire.HEADER_SIZE:]
        h = await asyncio.wait_for(self.r.readexactly(wire.HEADER_SIZE), 5)
        return h, await self.r.readexactly(wire.body_length(h))

    async def ack(self, pipe_id: str = "p") -> tuple[int, int, bool]:
        msg = wire.decode(*await self.recv())
        assert isinstance(msg, tuple)
        (a, gone) = msg
        return a.seq, a.credit, gone

    async def closed(self) -> bool:
        """Did the receiver drop us?"""
        try:
            if self.transport == "unix":
                return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.u, 16), 5) == b""
            return await asyncio.wait_for(self.r.read(16), 5) == b""
        except (ConnectionError, ssl.SSLError):
            return True

    def close(self) -> None:
        if self.transport == "zmq":
            self.z.close(linger=0)
        elif self.transport == "unix":
            self.u.close()
        else:
            self.w.close()


def _frame(seq: int, data: bytes, eof: bool = False) -> tuple[bytes, bytes]:
    header, body = wire.frame(Frame(seq, data, eof))
    return header, bytes(body)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_foreign_and_malformed_messages_are_rejected(keys: ClusterKeys, transport: str) -> None:
    """Frames before a hello, a hello for another pipe, an ack sent to a
    reader, garbage: all refused; the pipe goes on with its writer."""

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "mine", bind=bind_for(transport))
        ep = await rx.start()
        evil = Rogue(transport, ctx, keys)
        await evil.connect(ep)
        await evil.send(*_frame(1, b"sneaked in"))  # no hello yet
        await evil.send(*wire.hello("other"))  # another pipe's
        await evil.send(*_frame(1, b"still not"))
        await evil.send(*wire.ack(wire.Ack(0, 1)))  # an ack, to a reader
        expected = 4
        if transport != "tls":  # (a bad header in a TLS stream ends the connection: see below)
            await evil.send(wire.HEADER.pack(3, wire.FRAME, 0, 0, 1, 1, 0, 0, 0, 0), b"x")  # an old version
            await evil.send(wire.HEADER.pack(wire.VERSION, 99, 0, 0, 1, 0, 0, 0, 0, 0))  # an unknown kind
            expected = 6
        tx = PipeSender(ctx, keys, "mine", ep)
        await tx.start()
        await tx.write(b"hello")
        await tx.close()
        assert await rx.read() == b"hello"
        assert rx.rejected == expected
        assert rx.proto.duplicates == rx.proto.out_of_order == 0
        evil.close()
        await rx.close()

    asyncio.run(zmq_session(keys, body))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_message_far_over_the_limit_is_not_even_buffered(keys: ClusterKeys, transport: str) -> None:
    """A peer announcing more than any message holds is dropped before
    the bytes are kept (zmq's MAXMSGSIZE; the packet size of the Unix
    socket; the header's length in the TLS stream)."""

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "mine", bind=bind_for(transport))
        ep = await rx.start()
        evil = Rogue(transport, ctx, keys)
        await evil.connect(ep)
        await evil.send(*wire.hello("mine"))
        await evil.ack("mine")  # the link is up
        huge = 4 * FRAME_MAX
        await evil.send(wire.HEADER.pack(wire.VERSION, wire.FRAME, 0, 0, 1, huge, 0, 0, 0, 0), b"z" * huge)
        if transport != "zmq":
            assert await evil.closed()
        tx = PipeSender(ctx, keys, "mine", ep)
        await tx.start()
        await tx.write(b"hello")
        await tx.close()
        assert await rx.read() == b"hello"
        assert rx.proto.bytes_out == 5 and rx.rejected == 0
        evil.close()
        await rx.close()

    asyncio.run(zmq_session(keys, body))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_duplicate_replayed_and_early_frames_over_the_wire(keys: ClusterKeys, transport: str) -> None:
    """A hand-driven sender: replays, a gap, then the missing frame; the
    reader gets each byte once, in order, and the acks say where it is."""

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for(transport), window=8)
        ep = await rx.start()
        peer = Rogue(transport, ctx, keys)
        await peer.connect(ep)
        await peer.send(*wire.hello("p"))
        assert await peer.ack() == (0, 8, False)
        await peer.send(*_frame(1, b"one "))
        assert (await peer.ack())[0] == 1
        await peer.send(*_frame(1, b"one "))  # a replay
        assert (await peer.ack())[0] == 1
        await peer.send(*_frame(3, b"three"))  # early: 2 is missing
        assert (await peer.ack())[0] == 1
        await peer.send(*_frame(2, b"two "))
        assert (await peer.ack())[0] == 2
        for seq, data in ((2, b"two "), (3, b"three"), (1, b"one ")):
            await peer.send(*_frame(seq, data))
            await peer.ack()
        await peer.send(*_frame(4, b"", eof=True))
        assert (await peer.ack())[0] == 4
        got = b""
        while chunk := await rx.read():
            got += chunk
        assert got == b"one two three"
        assert rx.proto.duplicates == 3 and rx.proto.out_of_order == 1
        peer.close()
        await rx.close()

    asyncio.run(zmq_session(keys, body))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_reconnect_while_blocked_on_credit(keys: ClusterKeys, transport: str) -> None:
    """The writer is blocked on a full window, replaces its connection
    (the frames in flight are lost with the old one), the reader drains
    slowly: every byte once, in order, memory bounded by the window."""
    data = os.urandom(3 * 1024 * 1024 + 99)

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for(transport), window=4)
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

    asyncio.run(zmq_session(keys, body))


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_reader_closing_at_the_end_still_acknowledges_it(keys: ClusterKeys, transport: str) -> None:
    """The reader closes as soon as it sees the end of stream: the ack of
    that end must still leave, or the writer would wait until it gives up."""

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for(transport))
        tx = PipeSender(ctx, keys, "p", await rx.start())
        await tx.start()
        await tx.write(b"x" * 100_000)
        closing = asyncio.create_task(tx.close())
        while await rx.read():
            pass
        await rx.close()
        await closing
        assert tx.proto.done and not tx.gone and tx.resends == 0

    asyncio.run(zmq_session(keys, body))


def test_a_send_zmq_refuses_waits_in_order() -> None:
    """With a high-water mark (pipes have none) and no peer yet, zmq says
    EAGAIN: the owner keeps those messages, in order, until it can send."""
    from onesh.net.zmqlink import Owner

    async def body() -> None:
        ctx = zmq.asyncio.Context()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        dealer: zmq.Socket[Any] = zmq.Socket(ctx, zmq.DEALER)
        dealer.setsockopt(zmq.SNDHWM, 2)
        dealer.connect(f"tcp://127.0.0.1:{port}")  # nobody there yet
        owner = Owner(dealer, asyncio.get_running_loop(), lambda frames: None)
        for i in range(50):
            owner.send([b"%d" % i])
        assert owner.backlog  # zmq took the first few only
        router = ctx.socket(zmq.ROUTER)
        router.bind(f"tcp://127.0.0.1:{port}")
        got = [(await asyncio.wait_for(router.recv_multipart(), 10))[1] for _ in range(50)]
        assert got == [b"%d" % i for i in range(50)] and not owner.backlog
        owner.close()
        router.close(linger=0)
        ctx.destroy(linger=0)

    asyncio.run(body())


@pytest.mark.parametrize("transport", ["tls", "zmq"])
def test_without_the_cluster_secret_nothing_gets_through(keys: ClusterKeys, tmp_path: Path, transport: str) -> None:
    """Another cluster's keys (a Curve key, a TLS certificate the reader
    does not trust, and that does not trust the reader's): no byte passes."""
    create_secret(str(tmp_path / "other"))
    stranger = ClusterKeys.from_secret(load_secret(str(tmp_path / "other")))

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for(transport))
        ep = await rx.start()
        tx = PipeSender(ctx, stranger, "p", ep)
        await tx.start()
        writing = asyncio.create_task(tx.write(b"z" * (4 * FRAME_MAX)))
        await asyncio.sleep(1.0)
        assert not writing.done() and rx.proto.bytes_out == 0 and rx.peer is None
        writing.cancel()
        await tx._shutdown()
        await rx.close()

    asyncio.run(zmq_session(keys, body))


def test_the_tls_certificate_is_the_same_wherever_the_secret_is(keys: ClusterKeys, tmp_path: Path) -> None:
    from onesh.net.tlscerts import cluster_pem

    again = ClusterKeys.from_secret(load_secret(str(tmp_path / "secret")))
    assert cluster_pem(keys) == cluster_pem(again)  # Ed25519 signs deterministically
    create_secret(str(tmp_path / "other"))
    assert cluster_pem(ClusterKeys.from_secret(load_secret(str(tmp_path / "other"))))[0] != cluster_pem(keys)[0]


@pytest.mark.parametrize("transport", ["tls", "unix"])
def test_pumps_between_processes(keys: ClusterKeys, tmp_path: Path, transport: str) -> None:
    """A child process writes through pump_fd_to_pipe; we read with pump_pipe_to_fd."""
    src = tmp_path / "in"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    secret = str(tmp_path / "secret")
    child = r'''
import asyncio, os, sys
from onesh.net.keys import ClusterKeys, load_secret
from onesh.net.pipes import PipeSender, pump_fd_to_pipe
async def main():
    tx = PipeSender(None, ClusterKeys.from_secret(load_secret(sys.argv[1])), "x", sys.argv[2])
    await tx.start()
    await pump_fd_to_pipe(0, tx, close_fd=False)
asyncio.run(main())
'''

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "x", bind=bind_for(transport))
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

    asyncio.run(zmq_session(keys, body))


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


def test_a_peer_that_never_finishes_its_tls_handshake_is_cut_off(keys: ClusterKeys,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A connection that opens the port and says nothing (a scanner, a
    stalled client) is closed after the handshake timeout; the pipe still
    takes its real writer."""
    import socket

    from onesh.net import tlslink

    monkeypatch.setattr(tlslink, "HANDSHAKE_TIMEOUT", 0.3)

    async def body(ctx: zmq.asyncio.Context) -> None:
        rx = PipeReceiver(ctx, keys, "p", bind=bind_for("tls"))
        ep = await rx.start()
        host, port = ep[len("tls://"):].rsplit(":", 1)
        silent = socket.create_connection((host, int(port)))
        silent.setblocking(False)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        assert await asyncio.wait_for(loop.sock_recv(silent, 1), 5) == b""  # closed by the reader's end
        assert 0.2 < loop.time() - t0 < 3
        silent.close()
        tx = PipeSender(ctx, keys, "p", ep)
        await tx.start()
        await tx.write(b"still open")
        await tx.close()
        got = b""
        while chunk := await rx.read():
            got += chunk
        assert got == b"still open"
        await rx.close()

    asyncio.run(zmq_session(keys, body))
