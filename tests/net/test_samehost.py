"""Same-host pipes: when a Unix socket replaces TLS over TCP, and how the
private directory it lives in is checked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import stat
from pathlib import Path

import pytest
import zmq.asyncio

from onesh.net import samehost
from onesh.net.keys import ClusterKeys, create_secret, load_secret
from onesh.net.pipe_protocol import FRAME_MAX
from onesh.net.pipe_wire import HEADER_SIZE
from onesh.net.pipes import PipeReceiver, PipeSender
from onesh.net.transport import pipe_bind


@pytest.fixture
def tmpdir_(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(samehost.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.delenv("ONESH_NO_IPC", raising=False)
    monkeypatch.delenv("ONESH_PIPE_TRANSPORT", raising=False)
    return tmp_path


def test_the_private_directory_is_made_0700_and_checked(tmpdir_: Path) -> None:
    d = samehost.ipc_dir()
    assert d == str(tmpdir_ / f"onesh-{os.getuid()}")
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    os.chmod(d, 0o755)  # opened to others (by someone, somehow): not used
    assert samehost.ipc_dir() is None
    assert pipe_bind("127.0.0.1", True) == "tls://127.0.0.1:0"
    os.chmod(d, 0o700)
    os.rmdir(d)
    os.symlink(tmpdir_, d)  # a link planted in its place: not followed
    assert samehost.ipc_dir() is None


def test_a_unix_socket_only_for_a_writer_on_this_host(tmpdir_: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert pipe_bind("10.0.0.5", False) == "tls://10.0.0.5:0"
    assert pipe_bind("::1", False) == "tls://[::1]:0"
    monkeypatch.setenv("ONESH_PIPE_TRANSPORT", "zmq")  # ZeroMQ + Curve between hosts, if asked
    assert pipe_bind("10.0.0.5", False) == "tcp://10.0.0.5:0"
    assert pipe_bind("10.0.0.5", False, "tls") == "tls://10.0.0.5:0"  # the shell's pick wins
    monkeypatch.delenv("ONESH_PIPE_TRANSPORT")
    assert pipe_bind("10.0.0.5", False, "zmq") == "tcp://10.0.0.5:0"
    assert pipe_bind("10.0.0.5", False, "rot13") == "tls://10.0.0.5:0"  # nothing unknown: the default
    ep = pipe_bind("10.0.0.5", True)
    assert ep.startswith(f"unix://{tmpdir_}/onesh-{os.getuid()}/p")
    assert pipe_bind("10.0.0.5", True) != ep  # a fresh name each time
    key = samehost.host_key()
    assert key is not None and key.split(":")[-2] == str(os.getuid())
    assert samehost.same_host(key, key) and not samehost.same_host(None, None)
    assert not samehost.same_host(key, key.replace(f":{os.getuid()}:", ":12345:"))  # another user
    monkeypatch.setenv("ONESH_NO_IPC", "1")  # forces the between-hosts path, even for a same-host writer
    assert samehost.host_key() is None and samehost.ipc_dir() is None
    assert pipe_bind("10.0.0.5", True) == "tls://10.0.0.5:0"
    assert pipe_bind("10.0.0.5", True, "zmq") == "tcp://10.0.0.5:0"


def test_a_runtime_sweeps_only_dead_sockets(tmpdir_: Path) -> None:
    d = samehost.ipc_dir()
    assert d is not None
    live = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    live.bind(os.path.join(d, "plive"))
    live.listen(1)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    dead.bind(os.path.join(d, "pdead"))  # bound, never listening, closed: what a killed process leaves
    dead.close()
    try:
        assert samehost.sweep_stale() == 1
        assert sorted(os.listdir(d)) == ["plive"]
    finally:
        live.close()


def test_the_sweep_does_not_wait_on_a_receiver_that_accepts_nothing(tmpdir_: Path) -> None:
    """A live receiver that is frozen (or busy) with a full accept queue
    is left alone, at once: it once held a runtime's start for ever."""
    d = samehost.ipc_dir()
    assert d is not None
    frozen = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    frozen.bind(os.path.join(d, "pfrozen"))
    frozen.listen(1)
    queued = []
    for _ in range(4):  # (more than its backlog: a blocking connect would wait)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect(os.path.join(d, "pfrozen"))
        queued.append(c)
    try:
        assert samehost.sweep_stale() == 0
        assert os.listdir(d) == ["pfrozen"]
    finally:
        for c in queued:
            c.close()
        frozen.close()


def test_a_peer_sending_garbage_or_oversized_packets_is_dropped(tmpdir_: Path) -> None:
    create_secret(str(tmpdir_ / "secret"))
    keys = ClusterKeys.from_secret(load_secret(str(tmpdir_ / "secret")))

    async def body() -> None:
        ctx = zmq.asyncio.Context()  # (a Unix-socket pipe never touches it)
        rx = PipeReceiver(ctx, keys, "j/0/in", bind=pipe_bind("127.0.0.1", True))
        ep = await rx.start()
        path = ep[len("unix://"):]
        rogues = []
        for packet in (b"\x07junk", b"\x03\x02" + b"x" * (FRAME_MAX + HEADER_SIZE + 4096)):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            s.connect(path)
            s.send(packet)
            rogues.append(s)
        tx = PipeSender(ctx, keys, "j/0/in", ep)
        await tx.start()
        await tx.write(b"still fine\n")
        await tx.close()
        assert await rx.read() == b"still fine\n"
        for s in rogues:  # each was dropped: its socket reads end of stream
            s.settimeout(5)
            assert s.recv(16) == b""
            s.close()
        assert rx.rejected == 0  # (never even decoded)
        await rx.close()
        ctx.destroy(linger=0)

    asyncio.run(asyncio.wait_for(body(), 30))


def test_a_whole_frame_fits_a_packet_and_a_kernel_that_refuses_one_is_named(
        caplog: pytest.LogCaptureFixture) -> None:
    """A frame is one packet: the kernel's default limits take a full one
    (a 212992-byte wmem_max is doubled), and a socket whose buffer is
    too small for one says what to raise instead of failing in silence."""
    from onesh.net.unixsock import MAX_PACKET, _Conn

    class NoLoop:
        def add_reader(self, *_: object) -> None: ...
        def remove_reader(self, *_: object) -> None: ...
        def add_writer(self, *_: object) -> None: ...
        def remove_writer(self, *_: object) -> None: ...

    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with contextlib.closing(a), contextlib.closing(b):
        # (the most a default kernel lets _tune have: wmem_max, 212992, doubled)
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 212992)
        header, body = b"h" * HEADER_SIZE, b"x" * (MAX_PACKET - HEADER_SIZE)
        closed: list[object] = []
        conn = _Conn(a, NoLoop(), lambda *_: None, lambda: None, closed.append)  # type: ignore[arg-type]
        conn.send(header, body)
        assert not closed and b.recv(MAX_PACKET + 1) == header + body
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)  # (too small for a frame)
        conn.send(header, body)
        assert conn.closed
        assert "refuses a" in caplog.text and "net.core.wmem_max" in caplog.text
