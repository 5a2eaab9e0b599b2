"""Network pipes, driven by asyncio: stage hosts, the shell, named pipes.

`PipeReceiver` (the downstream end: it listens) and `PipeSender` (the
upstream end: it dials) are the ends of `pipe_ends` with asyncio's
waiting: a reader awaits data, a writer awaits credit, a task runs the
resend timer.  When the reader cannot be reached (`--dial-out`) the
pipe is turned round: the writer binds (`PipeSender(bind=)`) and the
reader dials it (`PipeReceiver(connect=)`).  The transport is picked by the endpoint's scheme
(`transport`: unix:// on one host, tls:// between hosts, tcp:// for
ZeroMQ + Curve); a receiver binds what `transport.pipe_bind` chose.  A
ZeroMQ receiver's process runs the ZAP authenticator on the Context it
passes (`onesh.net.keys.start_authenticator`); the other transports
ignore the Context.

The pumps below copy between a pipe and an fd: a stage host's commands'
stdio (builtin agents included: they are processes with OS pipes as
stdio) and the shell's.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import resource
import stat
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from onesh.aio import within
from onesh.net.keys import ClusterKeys
from onesh.net.pipe_ends import PIPE_WINDOW, RESEND_AFTER, LineSampler, ReceiverEnd, SenderEnd
from onesh.net.pipe_protocol import DEFAULT_WINDOW, FRAME_MAX, Data, PipeError
from onesh.net.transport import Credentials, pipe_bind

log = logging.getLogger("onesh.pipes")

CLOSE_LINGER = 0.5  # a reader closing before its writer said hello waits this long for it
CLOSE_FLUSH = 0.5  # seconds a closing end waits for the kernel to take its last messages
READ_SIZE = 256 * 1024  # bytes a pump reads at once from a pipe (it gives what it holds)
FILE_READ_SIZE = 1024 * 1024  # ... from a regular file (each read is a thread hop)
PIPE_BUFFER = 256 * 1024  # room a pump gives the OS pipe it reads or writes


async def _flush_then(flush: Any, shut: Any) -> None:
    """Let the transport hand its last messages to the kernel (an ack
    just before closing matters: without it the writer would wait for
    ever), then close it."""
    deadline = asyncio.get_running_loop().time() + CLOSE_FLUSH
    while flush() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    shut()


class PipeReceiver(ReceiverEnd):
    """The downstream end of a pipe (listens)."""

    def __init__(self, ctx: Any, keys: ClusterKeys, pipe_id: str, bind: str | None = None,
                 window: int = PIPE_WINDOW, *, connect: str = "", **holding: Any) -> None:
        """Listen on `bind`; or, with `connect` (we cannot be reached: a
        `--dial-out` runtime), dial the writer's bound endpoint instead.
        `holding`: a stage that can be restarted elsewhere (ReceiverEnd)."""
        super().__init__(Credentials(keys, ctx), pipe_id, bind or pipe_bind("127.0.0.1", False), window,
                         connect=connect, **holding)
        self.ready = asyncio.Event()
        self.peer_seen = asyncio.Event()
        # Why the writer gave up while we still read (pump_pipe_to_fd): the
        # stream did not end, it was cut off, and that is not to pass for
        # an end of stream in silence.
        self.cut_off = ""

    def _notify(self) -> None:
        self.ready.set()
        if self.peer is not None:
            self.peer_seen.set()

    async def start(self) -> str:
        return self.open(asyncio.get_running_loop())

    async def read(self) -> bytes:
        """The next data (all that is buffered), b"" at end of stream."""
        return b"".join(await self._take())

    async def _take(self) -> list[Data]:
        """Like read(), as the received parts (no copy); [] at end of stream."""
        while True:
            if self.proto._ready:
                return self.take()
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
        if self._listener is not None and not self.proto.eof and self.peer is None:
            # Closing before the writer connected (a reader that exited at
            # once): give it a moment, so it learns the reader is gone
            # instead of waiting to be heard.
            with contextlib.suppress(TimeoutError):
                await within(self.peer_seen.wait(), CLOSE_LINGER)
        self.end_acks()
        await _flush_then(self.flush, self.shut)


class PipeSender(SenderEnd):
    """The upstream end of a pipe (dials; or binds, `bind=`, when its
    reader dials out: `start()` then returns the endpoint to give it)."""

    def __init__(self, ctx: Any, keys: ClusterKeys, pipe_id: str, endpoint: str = "", *, bind: str = "",
                 adopt: bool = False, epoch: int = 0, file: int = -1) -> None:
        super().__init__(Credentials(keys, ctx), pipe_id, endpoint, bind=bind, adopt=adopt, epoch=epoch, file=file)
        self.credit = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None

    def _notify(self) -> None:
        self.credit.set()

    async def start(self) -> str:
        self.open(asyncio.get_running_loop())
        self._timer = asyncio.get_running_loop().create_task(self._resend_loop())
        return self.endpoint

    async def _resend_loop(self) -> None:
        while True:
            await asyncio.sleep(RESEND_AFTER / 2)
            self.tick()

    async def write(self, data: bytes | memoryview) -> None:
        # bytes (and views of bytes) are framed by reference; anything else is copied
        view = memoryview(data)
        self.lines.sample((view,))
        while view:
            n = self.offer(view)
            if n:
                view = view[n:]
                continue
            await self._await_credit()

    async def write_span(self, offset: int, length: int) -> None:
        """Send `length` bytes at `offset` of our file (at most a frame)."""
        while not self.offer_span(offset, length):
            await self._await_credit()

    async def _await_credit(self) -> None:
        """Blocked (backpressure) until the reader's next word: credit, or gone."""
        self.credit.clear()
        self._blocked = True
        try:
            await self.credit.wait()
        finally:
            self._blocked = False

    async def flush(self) -> None:
        self.flush_now()

    async def close(self, timeout: float = 3600.0) -> None:
        """End of stream; returns once the reader has acknowledged all of it."""
        self.end_stream()
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
        """A fresh connection (a new identity), then replay from the reader's ack."""
        self.relink()

    async def _shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None
        await _flush_then(self.flush_link, self.shut)


# ------------------------------------------------------------------ pumps
def _is_regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def span_source(fd: int) -> int:
    """fd, when a reader on this host could be given it and read spans of
    it (a regular file opened for reading: PipeSender(file=)); else -1."""
    if not _is_regular(fd) or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY:
        return -1
    return fd


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


class FileReads:
    """Reads of a regular file, on the loop while they never wait.

    A read of a file in the page cache takes well under a millisecond per
    MiB; handing each to a thread costs more than the read (a thread-pool
    hop and the GIL passed back and forth: measured, 10% of a 3-stage
    pipeline's throughput).  A file on a slow or remote disk, though, must
    not stall the loop (the job's Ctrl-C, its output).  So the first reads
    go to a thread; once FAST_READS in a row took less than FAST, reads
    happen on the loop.  One there that put the thread to sleep (a
    voluntary context switch, counted by the kernel per thread: it waited
    for a disk or a server; a busy machine preempting us is an involuntary
    one, and says nothing about the file) sends the rest back to the
    thread.  (A thread's own read is timed instead: taking the GIL back
    after it can sleep too.  Where switches are not counted per thread,
    all reads go to the thread.)"""

    FAST_READS = 4
    FAST = 0.01  # seconds a thread's read may take (the GIL's switch interval is 5 ms)

    def __init__(self) -> None:
        self.quick = 0  # thread reads in a row that were quick; FAST_READS: read on the loop
        self.on_loop = 0  # reads done on the loop (for the tests)

    async def read(self, fd: int) -> bytes:
        if self.quick >= self.FAST_READS:
            self.on_loop += 1
            before = resource.getrusage(_RUSAGE_THREAD).ru_nvcsw
            data = os.read(fd, FILE_READ_SIZE)
            if resource.getrusage(_RUSAGE_THREAD).ru_nvcsw != before:
                self.quick = 0
            return data
        data, took = await asyncio.to_thread(_timed_read, fd)
        self.quick = self.quick + 1 if took <= self.FAST and _RUSAGE_THREAD else 0
        return data


_RUSAGE_THREAD: int = getattr(resource, "RUSAGE_THREAD", 0)  # (0, RUSAGE_SELF, stands for "not counted": never used then)


def _timed_read(fd: int) -> tuple[bytes, float]:
    t0 = time.monotonic()
    data = os.read(fd, FILE_READ_SIZE)
    return data, time.monotonic() - t0


async def pump_fd_to_pipe(fd: int, sender: PipeSender, *, close_fd: bool = True) -> int:
    """Copy an fd (pipe, socket, tty or regular file) into a network pipe
    until EOF, then end the pipe.  If the reader is gone, stop and close
    the fd, so the process writing into it gets SIGPIPE/EPIPE.  The
    sender's own file (`file=`), when its reader is on this host, goes
    as spans: the reader reads it (see _send_spans)."""
    total = 0
    file_reads = FileReads()
    with _nonblocking(fd, close_fd) as regular:
        try:
            if regular and sender.file == fd and sender.spans_go_as_spans:
                total = await _send_spans(fd, sender)
                await sender.close()
                return total
            while True:
                if regular:
                    data = await file_reads.read(fd)
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


async def _send_spans(fd: int, sender: PipeSender) -> int:
    """A regular file into a pipe as spans of it, from the fd's offset to
    its end (its size once we get there: a file that grows meanwhile is
    read on, as a read loop would).  The fd's offset is left at the end,
    where reading it would have left it."""
    start = offset = os.lseek(fd, 0, os.SEEK_CUR)
    try:
        while True:
            size = os.fstat(fd).st_size
            if offset >= size:
                break
            while offset < size:
                n = min(FRAME_MAX, size - offset)
                await sender.write_span(offset, n)
                offset += n
    finally:
        with contextlib.suppress(OSError):
            os.lseek(fd, offset, os.SEEK_SET)
    return offset - start


async def pump_pipe_to_fd(receiver: PipeReceiver, fd: int, *, close_fd: bool = True,
                          close_pipe: bool = True, gate: Callable[[], Awaitable[None]] | None = None) -> int:
    """Copy a network pipe into an fd until end of stream.  A closed reader
    on the fd (EPIPE) closes the pipe, telling its writer it is gone; an
    aborted writer ends the copy (its reason is kept in `receiver.cut_off`
    for the caller to report).  With
    `close_pipe` false the caller closes it (a reader holding its acks
    lets go of its input only once its output is safe).  `gate`, when
    given, is awaited before each read of the pipe (it may hold the copy)."""
    total = 0
    with _nonblocking(fd, close_fd):
        try:
            while True:
                if gate is not None:
                    await gate()
                try:
                    chunks = await receiver._take()
                except PipeError as e:
                    log.info("pipe %s aborted by its writer: %s", receiver.pipe_id, e)
                    receiver.cut_off = str(e)
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
            if close_pipe:
                await receiver.close()
    return total


__all__ = [
    "DEFAULT_WINDOW",
    "LineSampler",
    "PipeError",
    "PipeReceiver",
    "PipeSender",
    "pump_fd_to_pipe",
    "pump_pipe_to_fd",
    "span_source",
]
