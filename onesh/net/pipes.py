"""Network pipes: the asyncio + ZeroMQ driver around `pipe_protocol`.

A pipe has a *receiver* (the downstream stage; a ROUTER socket it binds)
and a *sender* (the upstream stage; a DEALER that connects).  Both are
CurveZMQ with the cluster keys, so the process must run the ZAP
authenticator on its Context (`onesh.net.keys.start_authenticator`).

Wire messages are msgpack arrays with a version and the pipe id (the
receiver names the pipe; a sender wired to another pipe is ignored):

    [1, "h", pipe_id]                           sender → receiver: hello (on (re)connect)
    [1, "f", pipe_id, seq, data, eof, error]    sender → receiver: a frame (≤ 64 KiB)
    [1, "a", pipe_id, seq, credit, gone]        receiver → sender: cumulative ack

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
import logging
import os
import stat
from collections.abc import Iterator
from typing import Any

import msgpack
import zmq
import zmq.asyncio

from onesh.net.keys import ClusterKeys, secure_client, secure_server
from onesh.net.pipe_protocol import (
    DEFAULT_WINDOW,
    FRAME_MAX,
    Ack,
    Frame,
    PipeError,
    Receiver,
    Sender,
)

log = logging.getLogger("onesh.pipes")

VERSION = 1
RESEND_AFTER = 0.5  # seconds without an ack before the sender replays
GIVE_UP_AFTER = 10.0  # a blocked sender that hears nothing this long: reader gone
CLOSE_LINGER = 0.5  # a reader closing before its writer said hello waits this long for it
READ_SIZE = 256 * 1024
PIPE_WINDOW = 32  # frames in flight per pipe: 2 MiB


class WireError(Exception):
    pass


def encode_frame(pipe_id: str, f: Frame) -> bytes:
    return bytes(msgpack.packb([VERSION, "f", pipe_id, f.seq, f.data, f.eof, f.error], use_bin_type=True))


def encode_ack(pipe_id: str, a: Ack, gone: bool = False) -> bytes:
    return bytes(msgpack.packb([VERSION, "a", pipe_id, a.seq, a.credit, gone], use_bin_type=True))


def encode_hello(pipe_id: str) -> bytes:
    return bytes(msgpack.packb([VERSION, "h", pipe_id], use_bin_type=True))


def decode(data: bytes, pipe_id: str) -> tuple[str, Any]:
    """("h", None) | ("f", Frame) | ("a", (Ack, gone)); WireError otherwise."""
    try:
        msg = msgpack.unpackb(data, raw=False, strict_map_key=True, max_bin_len=FRAME_MAX,
                              max_str_len=4096, max_array_len=8)
    except Exception as e:  # noqa: BLE001 - any malformed input is a WireError
        raise WireError(f"undecodable message: {e}") from None
    if not isinstance(msg, list) or len(msg) < 3:
        raise WireError("not a pipe message")
    if msg[0] != VERSION:
        raise WireError(f"unsupported pipe protocol version {msg[0]!r}")
    kind, pid = msg[1], msg[2]
    if pid != pipe_id:
        raise WireError(f"message for pipe {pid!r}, this is {pipe_id!r}")
    if kind == "h" and len(msg) == 3:
        return "h", None
    if kind == "f" and len(msg) == 7:
        _, _, _, seq, body, eof, err = msg
        if not (isinstance(seq, int) and seq > 0 and isinstance(body, bytes) and isinstance(eof, bool)
                and isinstance(err, str)):
            raise WireError("malformed frame")
        return "f", Frame(seq, body, eof, err)
    if kind == "a" and len(msg) == 6:
        _, _, _, seq, credit, gone = msg
        if not (isinstance(seq, int) and seq >= 0 and isinstance(credit, int) and credit >= 0
                and isinstance(gone, bool)):
            raise WireError("malformed ack")
        return "a", (Ack(seq, credit), gone)
    raise WireError(f"unknown message kind {kind!r}")


class _Owner:
    """One socket, one task: it receives and sends everything queued."""

    def __init__(self, sock: zmq.asyncio.Socket, on_frames: Any, after_batch: Any = None) -> None:
        self.sock = sock
        self.outbox: asyncio.Queue[list[bytes] | None] = asyncio.Queue()  # None: stop
        self.on_frames = on_frames
        self.after_batch = after_batch  # called once per burst of received messages
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        recv: asyncio.Future[list[bytes]] = asyncio.ensure_future(self.sock.recv_multipart(copy=True))
        out: asyncio.Future[list[bytes] | None] = asyncio.ensure_future(self.outbox.get())
        try:
            while True:
                waiting: set[asyncio.Future[Any]] = {recv, out}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if recv in done:
                    self.on_frames(recv.result())
                    # Take what else has arrived without an event-loop round
                    # per message (the hot path of a bulk stream).
                    for _ in range(64):
                        more: Any = self.sock.recv_multipart(flags=zmq.NOBLOCK, copy=True)
                        if not more.done() or more.exception() is not None:
                            more.cancel()
                            break
                        self.on_frames(more.result())
                    if self.after_batch is not None:
                        self.after_batch()
                    recv = asyncio.ensure_future(self.sock.recv_multipart(copy=True))
                if out in done:
                    item = out.result()
                    # Send what else is queued without another wait() round.
                    while item is not None:
                        sent: Any = self.sock.send_multipart(item, flags=zmq.NOBLOCK, copy=False)
                        if not sent.done() or sent.exception() is not None:
                            sent.cancel()
                            await self.sock.send_multipart(item, copy=False)
                        if self.outbox.empty():
                            break
                        item = self.outbox.get_nowait()
                    if item is None:
                        return  # close(): everything queued before it is sent
                    out = asyncio.ensure_future(self.outbox.get())
        finally:
            recv.cancel()
            out.cancel()
            for fut in (recv, out):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fut

    async def close(self, flush: float = 0.5) -> None:
        """Send what is queued (an ack just before closing matters: without
        it the writer would wait for ever), then close."""
        if not self.task.done():
            self.outbox.put_nowait(None)
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self.task), flush)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        self.sock.close(linger=0)


class PipeReceiver:
    """The downstream end of a pipe (binds)."""

    def __init__(self, ctx: zmq.asyncio.Context, keys: ClusterKeys, pipe_id: str,
                 bind: str = "tcp://127.0.0.1:0", window: int = PIPE_WINDOW) -> None:
        self.ctx, self.keys, self.pipe_id, self.bind = ctx, keys, pipe_id, bind
        self.proto = Receiver(window)
        self.peer: bytes | None = None
        self.peer_seen = asyncio.Event()
        self._ack_due = False
        self.ready = asyncio.Event()
        self.rejected = 0
        self.bytes_in = 0
        self.closed = False
        self._owner: _Owner | None = None
        self.endpoint = ""

    async def start(self) -> str:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)  # acks only: bounded by the frames we receive
        sock.setsockopt(zmq.RCVHWM, 0)  # frames: bounded by the credit we grant
        secure_server(sock, self.keys)
        sock.bind(self.bind)
        last = sock.getsockopt(zmq.LAST_ENDPOINT)
        self.endpoint = last.decode() if isinstance(last, bytes) else str(last)
        self._owner = _Owner(sock, self._on_frames, self._ack_batch)
        return self.endpoint

    def _send_ack(self, gone: bool = False) -> None:
        if self.peer is not None and self._owner is not None:
            self._owner.outbox.put_nowait([self.peer, encode_ack(self.pipe_id, self.proto.ack(), gone)])

    def _on_frames(self, frames: list[bytes]) -> None:
        if len(frames) != 2:
            self.rejected += 1
            return
        ident, body = frames
        try:
            kind, value = decode(body, self.pipe_id)
        except WireError as e:
            self.rejected += 1
            log.warning("pipe %s: rejected a message: %s", self.pipe_id, e)
            return
        self.peer = ident  # acks go to the newest connection
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
        if self._ack_due:
            self._ack_due = False
            self._send_ack(gone=self.closed)

    async def read(self) -> bytes:
        """The next data (all that is buffered), b"" at end of stream."""
        while True:
            if self.proto._ready:
                data = self.proto.read()
                self.bytes_in += len(data)
                self._send_ack()  # credit freed
                return data
            if self.proto.error:
                raise PipeError(self.proto.error)
            if self.proto.eof:
                return b""
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
                        await asyncio.wait_for(self.peer_seen.wait(), CLOSE_LINGER)
                self._send_ack(gone=True)
            await self._owner.close()
            self._owner = None


class PipeSender:
    """The upstream end of a pipe (connects)."""

    def __init__(self, ctx: zmq.asyncio.Context, keys: ClusterKeys, pipe_id: str, endpoint: str) -> None:
        self.ctx, self.keys, self.pipe_id, self.endpoint = ctx, keys, pipe_id, endpoint
        self.proto = Sender(FRAME_MAX, FRAME_MAX)
        self.credit = asyncio.Event()
        self.gone = False
        self.bytes_out = 0
        self.resends = 0
        self._owner: _Owner | None = None
        self._timer: asyncio.Task[None] | None = None
        self._last_ack = 0.0
        self._last_heard = 0.0
        self._blocked = False
        self._want_flush = False
        self.gone_reason = "reader gone"

    async def start(self) -> None:
        self._open()
        self._timer = asyncio.get_running_loop().create_task(self._resend_loop())

    def _open(self) -> None:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDHWM, 0)  # bounded by credit, never by a drop
        sock.setsockopt(zmq.RCVHWM, 0)
        secure_client(sock, self.keys)
        sock.connect(self.endpoint)
        self._owner = _Owner(sock, self._on_frames)
        self._owner.outbox.put_nowait([encode_hello(self.pipe_id)])
        self._last_ack = self._last_heard = asyncio.get_running_loop().time()

    def _on_frames(self, frames: list[bytes]) -> None:
        if len(frames) != 1:
            return
        try:
            kind, value = decode(frames[0], self.pipe_id)
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
            self._want_flush = bool(self.proto._pending)
        self._push()
        self.credit.set()

    def _push(self) -> None:
        if self._owner is None:
            return
        for f in self.proto.frames_to_send():
            self._owner.outbox.put_nowait([encode_frame(self.pipe_id, f)])

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
                self._owner.outbox.put_nowait([encode_hello(self.pipe_id)])
                self.proto.on_reconnect()
                self._push()
                self._last_ack = loop.time()

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.gone:
                raise PipeError(self.gone_reason)
            room = self.proto.writable()
            n = self.proto.write(bytes(view[:room])) if room else 0
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

    async def flush(self) -> None:
        self.proto.flush()
        self._want_flush = bool(self.proto._pending)
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
        """A fresh socket (new identity), then replay from the reader's ack."""
        if self._owner is not None:
            await self._owner.close()
        self._open()
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


# ------------------------------------------------------------------ pumps
def _is_regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


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
    Yields whether the fd is a regular file."""
    regular = _is_regular(fd)
    was_blocking = os.get_blocking(fd)
    if not regular:
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
                    data = await asyncio.to_thread(os.read, fd, READ_SIZE)
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
                    data = await receiver.read()
                except PipeError as e:
                    log.info("pipe %s aborted by its writer: %s", receiver.pipe_id, e)
                    break
                if not data:
                    break
                view = memoryview(data)
                while view:
                    try:
                        n = os.write(fd, view)
                    except BlockingIOError:
                        await _fd_ready(fd, write=True)
                        continue
                    view = view[n:]
                total += len(data)
        except OSError as e:
            if e.errno not in (errno.EPIPE, errno.ECONNRESET):
                raise
        finally:
            await receiver.close()
    return total


__all__ = ["DEFAULT_WINDOW", "PipeError", "PipeReceiver", "PipeSender", "pump_fd_to_pipe", "pump_pipe_to_fd"]
