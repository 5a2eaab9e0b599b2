"""Network pipes as files, for synchronous code: a builtin agent's stdin and
stdout when it reads and writes its pipes itself.

A builtin agent is `run(argv, io) -> int`, synchronous and blocking.  Given
a `NetInput` as stdin and a `NetOutput` as stdout it reads frames from one
network pipe and writes frames into the next in its own process: no OS
pipe, no pump process, no copy of its own (a `cat` hands on the very
buffers it received).  The pipes' transports run on a `PollLoop` that
turns only while the agent waits: for input, for credit, for its end of
stream to be acknowledged.  Acks, credit, replay and relinks are the pipe
protocol's, exactly as for the asyncio ends (`pipe_ends`).

Signals stay prompt but never cut the protocol's bookkeeping in half
(`Signals`): outside our calls one raises at once; inside, it is noted,
the loop is woken (a wake-up fd), and it raises at the next safe point.
SIGINT raises KeyboardInterrupt (the agents' own exit 130); SIGTERM,
SIGHUP and SIGQUIT raise `Terminated`; SIGUSR2 re-opens the output's
connection (fault injection, as a stage host does with its pipes).
"""

from __future__ import annotations

import errno
import io
import os
import signal
from collections.abc import Callable
from typing import Any

from onesh.net.pipe_ends import PIPE_WINDOW, RESEND_AFTER, ReceiverEnd, SenderEnd
from onesh.net.pipe_protocol import MARK_READS, Data, Mark, PipeError
from onesh.net.pollloop import PollLoop
from onesh.net.transport import Credentials

CLOSE_FLUSH = 0.5  # seconds a closing end gives the kernel to take its last messages
STATE_EVERY = 4 << 20  # input bytes between two checkpoints of a tool's state


class Terminated(BaseException):
    """SIGTERM, SIGHUP or SIGQUIT arrived (a BaseException: the agents'
    `except Exception` must not take it for an error of theirs)."""

    def __init__(self, sig: int) -> None:
        super().__init__(f"signal {sig}")
        self.sig = sig


class Signals:
    """Signal handling for a process that drives pipes synchronously."""

    DEFERRED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)

    def __init__(self, loop: PollLoop) -> None:
        self.depth = 0  # > 0: inside our pipe code, where a signal only notes itself
        self.pending = 0
        self.relink = False
        self._r, self._w = os.pipe()
        for fd in (self._r, self._w):
            os.set_blocking(fd, False)
        loop.add_reader(self._r, self._drain)
        signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        for sig in self.DEFERRED:
            signal.signal(sig, self._handler)
        signal.signal(signal.SIGUSR2, self._on_relink)

    def _drain(self) -> None:
        try:
            while os.read(self._r, 64):
                pass
        except BlockingIOError:
            pass

    def _handler(self, sig: int, frame: Any) -> None:
        if self.depth:
            self.pending = self.pending or sig
            return
        raise self.exception(sig)

    def _on_relink(self, sig: int, frame: Any) -> None:
        self.relink = True

    @staticmethod
    def exception(sig: int) -> BaseException:
        return KeyboardInterrupt() if sig == signal.SIGINT else Terminated(sig)

    def check(self) -> None:
        """At a safe point: raise what arrived meanwhile."""
        if self.pending:
            sig, self.pending = self.pending, 0
            raise self.exception(sig)

    def __enter__(self) -> Signals:
        self.depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self.depth -= 1
        if not self.depth and exc[0] is None:
            self.check()


class PipeIo:
    """The loop and the pipe ends of one process, and its waiting."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self.loop = PollLoop()
        self.signals = Signals(self.loop)
        self.senders: list[SenderEnd] = []
        self._next_tick = self.loop.time() + RESEND_AFTER / 2
        self.on_progress: Callable[[], None] = _nothing  # counters changed (see the stage host's reports)

    def receiver(self, pipe_id: str, bind: str, window: int = PIPE_WINDOW, *, hold: bool = False,
                 skip_to: int = -1) -> NetInput:
        end = ReceiverEnd(self.creds, pipe_id, bind, window, hold=hold, skip_to=skip_to)
        end.open(self.loop)
        return NetInput(self, end)

    def sender(self, pipe_id: str, endpoint: str, *, adopt: bool = False, epoch: int = 0) -> NetOutput:
        end = SenderEnd(self.creds, pipe_id, endpoint, adopt=adopt, epoch=epoch)
        end.open(self.loop)
        self.senders.append(end)
        return NetOutput(self, end)

    def poll(self) -> None:
        """One round without waiting: what the sockets hold (acks, credit)
        is taken in and what waits for credit goes out.  A writer that never
        blocks (a slow source: a sensor) calls it after each write, or its
        frames would wait for the next time it blocks."""
        now = self.loop.time()
        if now >= self._next_tick:
            self._next_tick = now + RESEND_AFTER / 2
            for end in self.senders:
                end.tick()
        self.loop.run_once(0)

    def wait(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        """Turn the loop until done() (True) or timeout seconds pass (False)."""
        loop = self.loop
        deadline = None if timeout is None else loop.time() + timeout
        while not done():
            self.signals.check()
            if self.signals.relink:
                self.signals.relink = False
                for end in self.senders:
                    end.relink()
                continue
            now = loop.time()
            if now >= self._next_tick:
                self._next_tick = now + RESEND_AFTER / 2
                for end in self.senders:
                    end.tick()
                continue
            if deadline is not None and now >= deadline:
                return False
            wake = self._next_tick if deadline is None else min(deadline, self._next_tick)
            loop.run_once(max(0.0, wake - now))
        return True


class InputCutOff(OSError):
    """The writer of our input gave up mid-stream (it found us unreachable
    for too long: SIGSTOP, a partition): the tool says so and fails."""

    def __str__(self) -> str:
        return str(self.strerror)


class NetInput(io.RawIOBase):
    """A network pipe's receiving end as a binary reader."""

    def __init__(self, pio: PipeIo, end: ReceiverEnd) -> None:
        super().__init__()
        self.pio, self.end = pio, end
        self.endpoint = end.endpoint
        self._rest: Data = b""  # a frame not handed out whole
        self.aborted = ""  # the writer's abort reason, if it gave up
        # Checkpoints (a stage that can be restarted elsewhere): when the
        # tool asks for more, it has made all its output of what it was
        # handed, but for what it holds back (an unfinished line).
        self.marks: NetOutput | None = None  # the output our checkpoints go to
        self.handed = end.proto.skip_to  # the stream's offset after what we handed out
        self._held = 0
        # A tool with state (wc, sort, ...): every STATE_EVERY bytes, its
        # snapshot at the offset it is through with goes to on_state (the
        # stage host stores it).
        self.tracked: Any = None
        self.on_state: Callable[[int, dict[str, Any], bytes], None] | None = None  # (offset, state, spill)
        self.restored: dict[str, Any] | None = None  # the state a successor starts from
        self.respill = b""  # and the log of what its predecessor read (sort)
        self._last_state = self.handed
        self._reads = 0
        self.on_end: Callable[[], None] | None = None  # (the end of the stream is reached)

    def track(self, tool_state: Any) -> None:
        """The tool's state (coreutils.common.ToolState) is checkpointed;
        a successor's is restored now."""
        self.tracked = tool_state
        if self.restored is not None:
            tool_state.restore(self.restored)
        if self.respill:
            tool_state.unspill(self.respill)
            self.respill = b""

    def hold_back(self, n: int) -> None:
        """The next read's checkpoint: the tool still holds the last n
        bytes it was handed, unprocessed (common.line_blocks)."""
        self._held = n

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        raise io.UnsupportedOperation("a network pipe has no file descriptor")

    def read_view(self, n: int = -1) -> Data:
        """Up to n bytes (all of the next frame if n < 0) as they arrived,
        without a copy; b"" at the end of the stream.  A writer that gave
        up raises InputCutOff (its reason is kept in `aborted`)."""
        done = self.handed - self._held  # (the input the tool is through with)
        self._held = 0
        if self.marks is not None:
            self.marks.checkpoint(done)
        if self.tracked is not None and self.on_state is not None and done > self._last_state:
            self._reads += 1
            if done - self._last_state >= STATE_EVERY or self._reads >= MARK_READS:
                # (by reads too: small frames, a sensor's lines, would fill
                # what the writer keeps for us, HOLD_MAX frames, first)
                self._last_state, self._reads = done, 0
                spill = getattr(self.tracked, "spill", None)
                self.on_state(done, self.tracked.snapshot(), spill() if spill is not None else b"")
        if not self._rest:
            with self.pio.signals:
                proto = self.end.proto
                self.pio.wait(lambda: bool(proto._ready) or proto.eof or bool(proto.error))
                if proto.error and not proto._ready:
                    # (not an end of stream: what the writer had not sent
                    # is lost, and the tool must not finish as if whole)
                    self.aborted = proto.error
                    raise InputCutOff(errno.EIO, f"its input was cut off: its writer gave up ({proto.error})")
                chunks = self.end.take(1)
                self.pio.on_progress()
            if not chunks:
                if self.on_end is not None:
                    self.on_end()
                    self.on_end = None
                return b""
            self._rest = chunks[0]
        data = self._rest
        if 0 <= n < len(data):
            self._rest = memoryview(data)[n:]
            self.handed += n
            return memoryview(data)[:n]
        self._rest = b""
        self.handed += len(data)
        return data

    def read1(self, n: int = -1) -> bytes:
        return bytes(self.read_view(n))

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            return self.readall()
        return self.read1(n)

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read_view():
            parts.append(chunk)
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read_view(len(view))
        view[:len(data)] = data
        return len(data)

    def close(self) -> None:
        """Stop reading: a writer still sending is told the reader is gone."""
        if self.closed:
            return
        end = self.end
        with self.pio.signals:
            end.end_acks()
            self.pio.wait(lambda: not end.flush(), CLOSE_FLUSH)
            end.shut()
        super().close()


class NetOutput(io.RawIOBase):
    """A network pipe's sending end as a binary writer.  A reader that
    stopped reading makes a write raise BrokenPipeError (EPIPE)."""

    def __init__(self, pio: PipeIo, end: SenderEnd) -> None:
        super().__init__()
        self.pio, self.end = pio, end
        self.written = 0  # the stream's offset after what the tool wrote (its checkpoints' `out`)

    def checkpoint(self, inp: int) -> None:
        """Input up to byte `inp` made the output written so far."""
        if self.end.proto.checkpoint(Mark(inp, self.written)):
            self.end._push()  # (an empty frame carries it)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        raise io.UnsupportedOperation("a network pipe has no file descriptor")

    def write(self, data: Any) -> int:
        """All of data (bytes and views of bytes are framed by reference,
        anything else is copied), waiting for credit as needed."""
        view = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        total = len(view)
        self.written += total
        end = self.end
        with self.pio.signals:
            end.lines.sample((view,))
            try:
                while view:
                    n = end.offer(view)
                    if n:
                        view = view[n:]
                        continue
                    end._blocked = True
                    self.pio.on_progress()
                    try:
                        self.pio.wait(lambda: end.gone or end.proto.writable() > 0)
                    finally:
                        end._blocked = False
            except PipeError as e:
                raise BrokenPipeError(32, str(e)) from None
            finally:
                self.pio.on_progress()
        return total

    def flush(self) -> None:
        """Ship what was written, in a short frame if need be; when no
        credit allows it yet (the start of the stream, or a reader that
        fell behind), wait for credit, as a write to a full pipe waits."""
        end = self.end
        if not self.closed and (end.proto.pending or end._want_flush):
            # (nothing pending: every byte written is framed and handed to
            # the transport already, as a bulk writer's full frames are)
            with self.pio.signals:
                end.flush_now()
                self.pio.poll()
                if end._want_flush and not end.gone:
                    self.pio.wait(lambda: end.gone or not end._want_flush)

    def finish(self, timeout: float | None = None) -> bool:
        """End of stream: wait until the reader acknowledged all of it (or
        is gone); False if `timeout` passed first."""
        end = self.end
        with self.pio.signals:
            end.end_stream()
            done = self.pio.wait(lambda: end.proto.done or end.gone, timeout)
            self.pio.wait(lambda: not end.flush_link(), CLOSE_FLUSH)
            end.shut()
        super().close()
        return done

    def abort(self, reason: str) -> None:
        """Give up: the reader drops what it holds and learns why."""
        end = self.end
        with self.pio.signals:
            end.proto.abort(reason)
            end._push()
            self.pio.wait(lambda: end.proto.done or end.gone, 1.0)
            end.shut()
        super().close()

    def close(self) -> None:
        if not self.closed:
            self.finish()


def _nothing() -> None:
    pass
