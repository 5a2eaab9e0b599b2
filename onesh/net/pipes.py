"""Network pipes: the asyncio + ZeroMQ driver around `pipe_protocol`.

A pipe has a *receiver* (the downstream stage; a ROUTER socket it binds)
and a *sender* (the upstream stage; a DEALER that connects).  When the
receiver runs on a runtime the cluster cannot dial (`--dial-out`: NAT, a
firewall), the roles of the connection turn round and nothing else does:
the sender binds (`bind=`) and the receiver connects (`connect=`); the
messages, the Curve roles (receiver = server) and the protocol are the
same, as zmq lets either end of a connection bind.  Over TCP
both are CurveZMQ with the cluster keys, so the process must run the ZAP
authenticator on its Context (`onesh.net.keys.start_authenticator`); two
ends on one host use a Unix packet socket in a private directory instead
(`unix://` endpoints: `onesh.net.samehost`, `onesh.net.unixsock`), with
the same messages.

Wire messages (version 2) are zmq messages whose first part is a msgpack
array with a version and the pipe id (the receiver names the pipe; a sender
wired to another pipe is ignored); a frame's data travels as a second,
raw part: it is not packed, and it is copied once on its way out (zmq
takes a copy of the bytes written) and not at all on its way in (the
reader gets views of the received message):

    [[2, "h", pipe_id]]                                 sender → receiver: hello (on (re)connect)
    [[2, "f", pipe_id, seq, eof, error], data]          sender → receiver: a frame (data ≤ 64 KiB)
    [[2, "a", pipe_id, seq, credit, gone]]              receiver → sender: cumulative ack

Flow control is the protocol's credit: the sender never has more than
`credit` frames in flight, so no zmq queue grows and no high-water mark
is ever reached.  When acks stop coming the sender re-sends its hello and
every unacknowledged frame (the receiver drops duplicates), which is also
what `reconnect()` does after opening a fresh socket.  `gone` tells the
sender that the reader stopped reading (SIGPIPE for a network pipe).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import stat
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any, cast

import msgpack
import zmq
import zmq.asyncio

from onesh.aio import within
from onesh.net.keys import ClusterKeys, secure_client, secure_server
from onesh.net.pipe_protocol import (
    DEFAULT_WINDOW,
    FRAME_MAX,
    Ack,
    Data,
    Frame,
    PipeError,
    Receiver,
    Sender,
)
from onesh.net.unixsock import UnixDealer, UnixRouter, is_unix, path_of

log = logging.getLogger("onesh.pipes")

VERSION = 2
RESEND_AFTER = 0.5  # seconds without an ack before the sender replays
GIVE_UP_AFTER = 10.0  # a blocked sender that hears nothing this long: reader gone
CLOSE_LINGER = 0.5  # a reader closing before its writer said hello waits this long for it
READ_SIZE = 256 * 1024  # bytes a pump reads at once from a pipe (it gives what it holds)
FILE_READ_SIZE = 1024 * 1024  # ... from a regular file (each read is a thread hop)
PIPE_BUFFER = 256 * 1024  # room a pump gives the OS pipe it reads or writes
PIPE_WINDOW = 32  # frames in flight per pipe: 2 MiB
HEADER_MAX = 4200  # bytes of a message's msgpack part (an abort reason is at most 4 KiB)
WIRE_SLACK = 1024  # bytes a zmq part may exceed its payload limit by on the wire
RECV_BATCH = 64  # messages a socket's handler takes before it yields a loop round

Part = bytes | memoryview | zmq.Frame


class WireError(Exception):
    pass


def encode_frame(pipe_id: str, f: Frame) -> list[Data]:
    """A frame as a two-part message; its data part is sent as is."""
    return [msgpack.packb([VERSION, "f", pipe_id, f.seq, f.eof, f.error]), f.data]


def encode_ack(pipe_id: str, a: Ack, gone: bool = False) -> list[Data]:
    return [msgpack.packb([VERSION, "a", pipe_id, a.seq, a.credit, gone])]


def encode_hello(pipe_id: str) -> list[Data]:
    return [msgpack.packb([VERSION, "h", pipe_id])]


def _view(part: Part) -> memoryview:
    return part.buffer if isinstance(part, zmq.Frame) else memoryview(part)


def decode(parts: Sequence[Part], pipe_id: str) -> tuple[str, Any]:
    """The parts of one message (without a ROUTER's identity) →
    ("h", None) | ("f", Frame) | ("a", (Ack, gone)); WireError otherwise.
    A frame's data is a view of the received part (no copy)."""
    if not 1 <= len(parts) <= 2:
        raise WireError(f"a pipe message has 1 or 2 parts, not {len(parts)}")
    header = _view(parts[0])
    if header.nbytes > HEADER_MAX:
        raise WireError(f"header of {header.nbytes} bytes")
    try:
        msg = msgpack.unpackb(header, raw=False, strict_map_key=True, max_bin_len=0,
                              max_str_len=4096, max_array_len=8, max_map_len=0, max_ext_len=0)
    except Exception as e:  # noqa: BLE001 - any malformed input is a WireError
        raise WireError(f"undecodable message: {e}") from None
    if not isinstance(msg, list) or len(msg) < 3:
        raise WireError("not a pipe message")
    if msg[0] != VERSION:
        raise WireError(f"unsupported pipe protocol version {msg[0]!r}")
    kind, pid = msg[1], msg[2]
    if pid != pipe_id:
        raise WireError(f"message for pipe {pid!r}, this is {pipe_id!r}")
    if kind == "f" and len(msg) == 6:
        if len(parts) != 2:
            raise WireError("a frame without its data part")
        _, _, _, seq, eof, err = msg
        if not (type(seq) is int and seq > 0 and type(eof) is bool and isinstance(err, str)):
            raise WireError("malformed frame")
        data = _view(parts[1])
        if data.nbytes > FRAME_MAX:
            raise WireError(f"frame of {data.nbytes} bytes (at most {FRAME_MAX})")
        if err and data.nbytes:
            raise WireError("an abort frame carries no data")
        return "f", Frame(seq, data, eof, err)
    if len(parts) != 1:
        raise WireError(f"a {kind!r} message has no data part")
    if kind == "h" and len(msg) == 3:
        return "h", None
    if kind == "a" and len(msg) == 6:
        _, _, _, seq, credit, gone = msg
        if not (type(seq) is int and seq >= 0 and type(credit) is int and credit >= 0
                and type(gone) is bool):
            raise WireError("malformed ack")
        return "a", (Ack(seq, credit), gone)
    raise WireError(f"unknown message kind {kind!r}")


class _Owner:
    """One socket and everything done with it, driven by the event loop.

    The loop watches the socket's fd and calls `_on_event`, which takes
    every message that has arrived (up to RECV_BATCH per call, then it
    yields a round), hands each to `on_frames`, then calls `after_batch`
    once.  `send()` hands a message to zmq at once (non-blocking; with no
    high-water mark zmq takes it): no task, no future, no extra event-loop
    round per message — the latency of a line.  Only if zmq refuses
    (EAGAIN) does a message wait in `backlog` (every later one behind it,
    so the order is kept) until the socket is writable again.

    zmq's fd is edge-triggered and any send or recv may consume its wake-
    up, so after each of ours we look at the socket's EVENTS ourselves.
    Close it (close the pipe) before destroying the Context: the loop
    watches its fd until then."""

    def __init__(self, sock: zmq.asyncio.Socket, on_frames: Any, after_batch: Any = None) -> None:
        self.sock = sock
        # A plain (synchronous) handle on the same socket: the asyncio
        # wrapper's futures are never used, so it never watches the fd.
        self.raw: zmq.Socket[bytes] = zmq.Socket.shadow(sock.underlying)
        self.on_frames = on_frames
        self.after_batch = after_batch  # called once per burst of received messages
        self.backlog: deque[list[Data]] = deque()
        self.closing = False
        self._closed = False  # the socket is closed: never touch `raw` again
        self._due = False  # _on_event is scheduled
        self._loop = asyncio.get_running_loop()
        self._fd = cast(int, self.raw.get(zmq.FD))
        self._loop.add_reader(self._fd, self._on_event)
        self._wake()

    def send(self, parts: list[Data]) -> None:
        if self.closing:
            return
        if not self.backlog:
            try:
                # copy=True: a 64 KiB memcpy into zmq's message costs less
                # than pyzmq's zero-copy, whose every free wakes its gc
                # thread for the GIL (measured: +8-15% through a stage).
                self.raw.send_multipart(parts, flags=zmq.NOBLOCK, copy=True)
            except zmq.Again:
                pass
            else:
                self._recheck()
                return
        self.backlog.append(parts)
        self._recheck()

    def _recheck(self) -> None:
        events = cast(int, self.raw.get(zmq.EVENTS))
        if events & zmq.POLLIN or (self.backlog and events & zmq.POLLOUT):
            self._wake()

    def _wake(self) -> None:
        if not self._due:
            self._due = True
            self._loop.call_soon(self._on_event)

    def _on_event(self) -> None:
        self._due = False
        if self._closed:
            return
        got = 0
        while True:
            events = cast(int, self.raw.get(zmq.EVENTS))
            while self.backlog and events & zmq.POLLOUT:
                try:
                    self.raw.send_multipart(self.backlog[0], flags=zmq.NOBLOCK, copy=True)
                except zmq.Again:
                    break
                self.backlog.popleft()
                events = cast(int, self.raw.get(zmq.EVENTS))
            if not events & zmq.POLLIN:
                break
            if got == RECV_BATCH:
                self._wake()  # more: let the others run a round first
                break
            try:
                frames = self.raw.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            got += 1
            try:
                self.on_frames(frames)
            except Exception:  # a bug must not stop the socket for good
                log.exception("pipe socket: handling a message failed")
        if got and self.after_batch is not None:
            self.after_batch()

    async def close(self, flush: float = 0.5) -> None:
        """Give zmq what is still in the backlog (an ack just before
        closing matters: without it the writer would wait for ever), then
        close."""
        self.closing = True
        deadline = self._loop.time() + flush
        while self.backlog and self._loop.time() < deadline:
            self._on_event()
            if self.backlog:
                await asyncio.sleep(0.01)
        self._closed = True
        self._loop.remove_reader(self._fd)
        self.sock.close(linger=0)


class PipeReceiver:
    """The downstream end of a pipe (binds)."""

    def __init__(self, ctx: zmq.asyncio.Context, keys: ClusterKeys, pipe_id: str,
                 bind: str = "tcp://127.0.0.1:0", window: int = PIPE_WINDOW, *, connect: str = "") -> None:
        self.ctx, self.keys, self.pipe_id, self.bind = ctx, keys, pipe_id, bind
        self.connect = connect  # a sender's bound endpoint to dial instead (we dial out)
        self.proto = Receiver(window)
        self.peer: bytes | None = None
        self.peer_seen = asyncio.Event()
        self._ack_due = False
        self._granted = 0  # the highest seq our last ack let the writer send
        self.ready = asyncio.Event()
        self.rejected = 0
        self.links = 0  # connections writers made to us (one per relink)
        self.lines = LineSampler()
        self.bytes_in = 0
        self.closed = False
        self._owner: _Owner | UnixRouter | None = None
        self.endpoint = ""

    async def start(self) -> str:
        if is_unix(self.bind):
            self._owner = UnixRouter(path_of(self.bind), FRAME_MAX + HEADER_MAX + WIRE_SLACK,
                                     self._on_frames, self._ack_batch)
            self.endpoint = self.bind
            return self.endpoint
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)  # acks only: bounded by the frames we receive
        sock.setsockopt(zmq.RCVHWM, 0)  # frames: bounded by the credit we grant
        # A part bigger than any frame is never buffered: zmq drops the
        # peer as it announces it (slack: Curve's box around each part).
        sock.setsockopt(zmq.MAXMSGSIZE, FRAME_MAX + WIRE_SLACK)
        secure_server(sock, self.keys)
        if self.connect:
            sock.connect(self.connect)
            self.endpoint = ""  # (nobody dials us)
        else:
            sock.bind(self.bind)
            last = sock.getsockopt(zmq.LAST_ENDPOINT)
            self.endpoint = last.decode() if isinstance(last, bytes) else str(last)
        self._owner = _Owner(sock, self._on_frames, self._ack_batch)
        return self.endpoint

    def _send_ack(self, gone: bool = False) -> None:
        self._ack_due = False
        if self.peer is not None and self._owner is not None:
            ack = self.proto.ack()
            self._granted = ack.seq + ack.credit
            self._owner.send([self.peer, *encode_ack(self.pipe_id, ack, gone)])

    def _on_frames(self, frames: list[Part]) -> None:
        try:
            if len(frames) < 2:
                raise WireError("a message without the sender's identity")
            kind, value = decode(frames[1:], self.pipe_id)
        except WireError as e:
            self.rejected += 1
            log.warning("pipe %s: rejected a message: %s", self.pipe_id, e)
            return
        ident = frames[0]
        peer = ident.bytes if isinstance(ident, zmq.Frame) else bytes(ident)
        if peer != self.peer:
            self.links += 1  # a writer's first connection, or a new one after a relink
            self.peer = peer  # acks go to the newest connection
        self.peer_seen.set()
        if kind == "f":
            self.proto.on_frame(value)
            self.ready.set()
        elif kind == "a":
            self.rejected += 1
            return
        # One cumulative ack per burst of frames (after_batch), not one per
        # frame: the writer's credit and replay only need the latest.
        self._ack_due = True

    def _ack_batch(self) -> None:
        # Not delayed, only put after the reader: a reader woken by these
        # frames runs first in this same loop round (it forwards the data
        # before we spend time on the ack), and the ack then carries the
        # credit its read freed as well.
        if self._ack_due:
            if self.proto.eof:
                self._send_ack(gone=self.closed)  # nothing left to forward: the writer waits for this one
            else:
                asyncio.get_running_loop().call_soon(self._ack_now)

    def _ack_now(self) -> None:
        if self._ack_due:
            self._send_ack(gone=self.closed)

    async def read(self) -> bytes:
        """The next data (all that is buffered), b"" at end of stream."""
        return b"".join(await self._take())

    async def _take(self) -> list[Data]:
        """Like read(), as the received parts (no copy); [] at end of stream."""
        while True:
            if self.proto._ready:
                chunks = self.proto.take()
                self.bytes_in += sum(len(c) for c in chunks)
                self.lines.sample(chunks)
                if not self._ack_due and self._granted - self.proto.ack().seq <= self.proto.window // 2:
                    # The writer is running out of credit: grant what was
                    # freed.  (While it has plenty, the ack that follows
                    # its next frames carries the news; no extra message.)
                    self._send_ack()
                return chunks
            if self.proto.error:
                raise PipeError(self.proto.error)
            if self.proto.eof:
                return []
            self.ready.clear()
            await self.ready.wait()

    async def close(self) -> None:
        """Stop reading.  A writer still sending is told the reader is gone."""
        if self.closed:
            return
        self.closed = True
        if self._owner is not None:
            if not self.proto.eof:
                if self.peer is None:
                    # Closing before the writer connected (a reader that
                    # exited at once): give it a moment, so it learns the
                    # reader is gone instead of waiting to be heard.
                    with contextlib.suppress(TimeoutError):
                        await within(self.peer_seen.wait(), CLOSE_LINGER)
                self._send_ack(gone=True)
            elif self._ack_due:
                self._send_ack()  # the ack of the end of stream, still due: the writer waits for it
            await self._owner.close()
            self._owner = None


class PipeSender:
    """The upstream end of a pipe (connects; or binds, `bind=`, when its
    reader dials out: `start()` then returns the endpoint to give it)."""

    def __init__(self, ctx: zmq.asyncio.Context, keys: ClusterKeys, pipe_id: str, endpoint: str = "", *,
                 bind: str = "") -> None:
        self.ctx, self.keys, self.pipe_id, self.endpoint = ctx, keys, pipe_id, endpoint
        self.bind = bind
        self.proto = Sender(FRAME_MAX, FRAME_MAX)
        self.credit = asyncio.Event()
        self.gone = False
        self.bytes_out = 0
        self.resends = 0
        self.reconnects = 0
        self.lines = LineSampler()
        self._owner: _Owner | UnixDealer | None = None
        self._timer: asyncio.Task[None] | None = None
        self._last_ack = 0.0
        self._last_heard = 0.0
        self._blocked = False
        self._want_flush = False
        self.gone_reason = "reader gone"

    async def start(self) -> str:
        self._open()
        self._timer = asyncio.get_running_loop().create_task(self._resend_loop())
        return self.endpoint

    def _open(self) -> None:
        if is_unix(self.endpoint):
            self._owner = UnixDealer(path_of(self.endpoint), HEADER_MAX + WIRE_SLACK, self._on_frames)
        else:
            self._owner = self._open_zmq()
        self._owner.send(encode_hello(self.pipe_id))
        self._last_ack = self._last_heard = asyncio.get_running_loop().time()

    def _open_zmq(self) -> _Owner:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)  # bounded by credit, never by a drop
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, HEADER_MAX + WIRE_SLACK)  # acks only
        secure_client(sock, self.keys)
        if self.bind:
            # Until the reader dials in, zmq refuses our hellos (a DEALER
            # with no peer): they wait in the owner's backlog, and the
            # reader has GIVE_UP_AFTER to come.
            sock.bind(self.bind)
            last = sock.getsockopt(zmq.LAST_ENDPOINT)
            self.endpoint = last.decode() if isinstance(last, bytes) else str(last)
        else:
            sock.connect(self.endpoint)
        return _Owner(sock, self._on_frames)

    def _on_frames(self, frames: list[Part]) -> None:
        try:
            kind, value = decode(frames, self.pipe_id)
        except WireError as e:
            log.warning("pipe %s: rejected a message: %s", self.pipe_id, e)
            return
        if kind != "a":
            return
        ack, gone = value
        self._last_ack = self._last_heard = asyncio.get_running_loop().time()
        try:
            self.proto.on_ack(ack)
        except PipeError as e:
            log.warning("pipe %s: %s", self.pipe_id, e)
            return
        if gone:
            self.gone = True
        if self._want_flush:
            # A flush asked for before we had credit (the first line of a
            # stream): frame it now instead of waiting for more data.
            self.proto.flush()
            self._want_flush = bool(self.proto.pending)
        self._push()
        self.credit.set()

    def _push(self) -> None:
        if self._owner is None:
            return
        for f in self.proto.frames_to_send():
            self._owner.send(encode_frame(self.pipe_id, f))

    async def _resend_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(RESEND_AFTER / 2)
            if self.proto.done or self._owner is None:
                continue
            waiting = self.proto.replay_size > 0 or not self.proto._limit or self._blocked or (
                self.proto._closed and not self.proto.done)
            if waiting and loop.time() - self._last_heard > GIVE_UP_AFTER:
                # Blocked and the reader answers nothing, not even a hello
                # (a live but slow reader does): it is gone.
                self.gone = True
                self.gone_reason = f"reader unreachable for {GIVE_UP_AFTER:g}s"
                self.credit.set()
                continue
            if waiting and loop.time() - self._last_ack > RESEND_AFTER:
                # No ack for a while: the link may have been lost (zmq
                # drops queued messages on a peer restart).  Say hello
                # again and replay everything unacknowledged.
                self.resends += 1
                if isinstance(self._owner, UnixDealer) and self._owner.broken:
                    self._owner.reopen()  # (zmq reconnects by itself)
                self._owner.send(encode_hello(self.pipe_id))
                self.proto.on_reconnect()
                self._push()
                self._last_ack = loop.time()

    async def write(self, data: bytes) -> None:
        # bytes are framed by reference (no copy); anything else is copied
        view = memoryview(data) if isinstance(data, bytes) else memoryview(bytes(data))
        self.lines.sample((view,))
        while view:
            if self.gone:
                raise PipeError(self.gone_reason)
            room = self.proto.writable()
            n = self.proto.write(view[:room]) if room else 0
            if n:
                view = view[n:]
                self.bytes_out += n
                self._push()
                continue
            self.credit.clear()
            self._blocked = True
            try:
                await self.credit.wait()
            finally:
                self._blocked = False

    @property
    def blocked(self) -> bool:
        """Waiting for credit: the reader is slower than we are (backpressure)."""
        return self._blocked

    async def flush(self) -> None:
        self.proto.flush()
        self._want_flush = bool(self.proto.pending)
        self._push()

    async def close(self, timeout: float = 3600.0) -> None:
        """End of stream; returns once the reader has acknowledged all of it."""
        self.proto.close()
        self._push()
        try:
            async with asyncio.timeout(timeout):
                while not self.proto.done and not self.gone:
                    self.credit.clear()
                    self._push()
                    if self.proto.done:
                        break
                    await self.credit.wait()
        finally:
            await self._shutdown()

    async def abort(self, reason: str) -> None:
        self.proto.abort(reason)
        self._push()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                while not self.proto.done and not self.gone:
                    self.credit.clear()
                    await self.credit.wait()
        await self._shutdown()

    async def reconnect(self) -> None:
        """A fresh socket (new identity), then replay from the reader's ack.
        A bound end keeps its socket (its port is the reader's only way to
        us, and zmq frees it only some time after a close): it says hello
        again and replays, the reader's zmq redials by itself."""
        if self.bind and self._owner is not None:
            self._owner.send(encode_hello(self.pipe_id))
        else:
            if self._owner is not None:
                await self._owner.close()
            self._open()
        self.reconnects += 1
        self.proto.on_reconnect()
        self._push()

    async def _shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        if self._owner is not None:
            await self._owner.close()
            self._owner = None


class LineSampler:
    """Lines per byte, from every SAMPLE_EVERY-th block: `top --cluster`
    shows lines/s without a newline count on the hot path."""

    SAMPLE_EVERY = 16

    def __init__(self) -> None:
        self.blocks = 0
        self.bytes = 0
        self.newlines = 0

    def sample(self, blocks: Any) -> None:
        self.blocks += 1
        if self.blocks % self.SAMPLE_EVERY == 1:
            for b in blocks:
                self.bytes += len(b)
                self.newlines += bytes(b).count(b"\n") if isinstance(b, memoryview) else b.count(b"\n")

    def lines(self, total_bytes: int) -> int:
        """About how many lines `total_bytes` of this stream hold."""
        return round(total_bytes * self.newlines / self.bytes) if self.bytes else 0


# ------------------------------------------------------------------ pumps
def _is_regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def _widen(fd: int) -> None:
    """Give an OS pipe PIPE_BUFFER bytes of room instead of the usual 64
    KiB: a quarter of the system calls and wake-ups between a pump and its
    command on a stream (measured: +40% through a stage).  Best effort: a
    user over its pipe quota (pipe-user-pages-soft) just keeps 64 KiB."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is None:
        return
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, setpipe, PIPE_BUFFER)
    except OSError:
        pass


def _advance(chunks: list[Data], n: int) -> list[Data]:
    """What is left of chunks once n bytes of them were written."""
    i = 0
    while i < len(chunks) and n >= len(chunks[i]):
        n -= len(chunks[i])
        i += 1
    rest = chunks[i:]
    if n:
        rest[0] = memoryview(rest[0])[n:]
    return rest


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


async def _fd_ready(fd: int, *, write: bool) -> None:
    """Wait until a non-blocking fd can be read (or written)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if write else (loop.add_reader, loop.remove_reader)
    add(fd, _wake, fut)
    try:
        await fut
    finally:
        remove(fd)


@contextlib.contextmanager
def _nonblocking(fd: int, close_fd: bool) -> Iterator[bool]:
    """Non-blocking mode for a pump's fd (regular files stay blocking: they
    never wait, and epoll refuses them); restored, or the fd closed, after.
    An OS pipe is also widened (see _widen).  Yields whether the fd is a
    regular file."""
    regular = _is_regular(fd)
    was_blocking = os.get_blocking(fd)
    if not regular:
        _widen(fd)
        os.set_blocking(fd, False)
    try:
        yield regular
    finally:
        if not regular:
            with contextlib.suppress(OSError):
                os.set_blocking(fd, was_blocking)
        if close_fd:
            with contextlib.suppress(OSError):
                os.close(fd)


async def pump_fd_to_pipe(fd: int, sender: PipeSender, *, close_fd: bool = True) -> int:
    """Copy an fd (pipe, socket, tty or regular file) into a network pipe
    until EOF, then end the pipe.  If the reader is gone, stop and close
    the fd, so the process writing into it gets SIGPIPE/EPIPE."""
    total = 0
    with _nonblocking(fd, close_fd) as regular:
        try:
            while True:
                if regular:
                    data = await asyncio.to_thread(os.read, fd, FILE_READ_SIZE)
                else:
                    try:
                        data = os.read(fd, READ_SIZE)
                    except BlockingIOError:
                        # Nothing more right now: ship the partial frame so a
                        # line does not wait for 64 KiB to accumulate.
                        await sender.flush()
                        await _fd_ready(fd, write=False)
                        continue
                if not data:
                    break
                await sender.write(data)
                total += len(data)
            await sender.close()
        except PipeError:
            await sender._shutdown()
    return total


async def pump_pipe_to_fd(receiver: PipeReceiver, fd: int, *, close_fd: bool = True) -> int:
    """Copy a network pipe into an fd until end of stream.  A closed reader
    on the fd (EPIPE) closes the pipe, telling its writer it is gone; an
    aborted writer ends the copy (the abort reason is logged)."""
    total = 0
    with _nonblocking(fd, close_fd):
        try:
            while True:
                try:
                    chunks = await receiver._take()
                except PipeError as e:
                    log.info("pipe %s aborted by its writer: %s", receiver.pipe_id, e)
                    break
                if not chunks:
                    break
                # The received parts go to the fd as they are (one writev,
                # no join).
                while chunks:
                    try:
                        n = os.writev(fd, chunks)
                    except BlockingIOError:
                        await _fd_ready(fd, write=True)
                        continue
                    total += n
                    chunks = _advance(chunks, n)
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                raise
        finally:
            await receiver.close()
    return total


__all__ = ["DEFAULT_WINDOW", "PipeError", "PipeReceiver", "PipeSender", "pump_fd_to_pipe", "pump_pipe_to_fd"]
