"""Reliable, flow-controlled byte stream for network pipes (sans-IO).

ZeroMQ alone loses messages when a peer restarts, and PUB/SUB drops at its
high-water mark, so a pipe carries its own guarantees:

- the sender batches small writes into frames of up to 256 KiB, each with a
  sequence number (1, 2, 3, ...);
- the receiver delivers frames strictly in order, drops duplicates and
  out-of-order frames, and acknowledges cumulatively with a *credit*: how
  many more frames it can buffer (credit-based flow control: a slow reader
  slows the writer, nothing is dropped at a high-water mark);
- the sender keeps every unacknowledged frame (at most `credit` of them —
  the replay buffer is bounded by the window) and, after a reconnect,
  replays from the receiver's last acknowledged sequence number.

Nothing here touches a socket; a driver moves `Frame`s and `Ack`s.

Data is not copied more than it must be: a write of immutable `bytes`
is cut into frames as `memoryview` slices of it (a full frame taken from
one write costs no copy; a short frame, or one gathered from several
small writes, is copied once into fresh bytes, so a small slice never
pins a big buffer; small writes are copied together as they come).  The receiver hands out what it got (`take()`), or
joins it into one `bytes` (`read()`).
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass
from typing import TypeAlias

# A frame's Python costs (parse, ack, replay book-keeping, a loop round) are
# per frame and its copies per byte: 256 KiB frames carry a bulk stream
# with a quarter of the per-frame work of 64 KiB ones (measured: the
# 3-stage pipeline on one host 1.5x faster).  A Unix packet socket takes
# one whole frame even with the kernel's default buffer limits (wmem_max
# 212992, doubled by the kernel: 416 KiB).
FRAME_MAX = 256 * 1024
DEFAULT_WINDOW = 4  # frames the receiver buffers: 1 MiB at most
SMALL_WRITE = 4096  # writes shorter than this are copied, longer ones referenced
MAX_CHECKPOINTS = 1024  # recorded checkpoints no frame has reached yet
MARK_EVERY = 256 * 1024  # input bytes that make no output before an empty frame carries a checkpoint
HOLD_MAX = 256  # frames a reader holding its acks lets its writer keep for a replay ...
HOLD_BYTES = 16 << 20  # ... and bytes
MARK_READS = HOLD_MAX // 4  # checkpoints (reads: small frames, a sensor's lines) before an empty frame carries one

# A frame's payload: bytes, or a read-only view of bytes / of a received
# zmq message (never of a buffer someone may still change).
Data: TypeAlias = bytes | memoryview


def _frozen(data: bytes | bytearray | memoryview, n: int) -> memoryview:
    """The first n bytes of data as a view that cannot change under us:
    bytes, views of bytes and read-only views are kept as they are,
    anything mutable is copied.  (A read-only view is its maker's word
    that the buffer under it does not change: a frame a TLS link received
    into a buffer of its own, which `cat` hands on to its next pipe.)"""
    if isinstance(data, bytes):
        return memoryview(data)[:n]
    if (isinstance(data, memoryview) and (data.readonly or isinstance(data.obj, bytes))
            and data.format == "B" and data.ndim == 1):
        return data[:n]
    return memoryview(bytes(memoryview(data)[:n]))


@dataclass(frozen=True, slots=True)
class Mark:
    """A checkpoint of a stage between two pipes: its input up to byte
    `inp` made exactly its output up to byte `out` (offsets from the start
    of each stream).  A stateless stage restarted elsewhere reads on from
    `inp` and drops what it makes again up to the reader's position: no
    byte lost, none repeated (recovery: runtime/agentpipes.py)."""

    inp: int
    out: int


NO_MARK = Mark(0, 0)


@dataclass(frozen=True, slots=True)
class FileSpan:
    """A frame's data by reference: `length` bytes at `offset` of a regular
    file the writer has open (`fd`, in the writer's process).  A writer
    whose input is a file sends its reader on the same host the file
    itself, once per connection, and then spans instead of bytes: it
    neither reads nor copies what it sends, and what it keeps for a
    replay is a few numbers a frame (pipe_ends, Sender.write_span)."""

    fd: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class Frame:
    seq: int
    data: Data
    eof: bool = False
    error: str = ""  # non-empty: the writer aborted (e.g. its command failed)
    # The writer's latest checkpoint (see Mark) when this frame was made.
    mark: Mark | None = None
    # The data, by reference (then `data` is empty): a writer's frames
    # only; its driver sends the span or reads it, and a reader is given
    # the bytes (pipe_ends).
    span: FileSpan | None = None


@dataclass(frozen=True, slots=True)
class Ack:
    """Everything up to and including `seq` was delivered (and, when the
    reader *holds* its acks, kept safe downstream); `credit` more frames
    (after seq) may be sent.  `got` is the last frame delivered (seq, or
    more while held), `offset` the stream's byte offset at its end and
    `mark` its writer's checkpoint: where a writer that takes over the pipe
    goes on."""

    seq: int
    credit: int
    got: int = -1  # (-1: the same as seq)
    offset: int = 0
    mark: Mark = NO_MARK
    held: bool = False  # the reader holds its acks: it is a stage that can be restarted elsewhere

    def __post_init__(self) -> None:
        if self.got < 0:
            object.__setattr__(self, "got", self.seq)


class PipeError(Exception):
    pass


class Sender:
    def __init__(self, frame_max: int = FRAME_MAX, buffer_max: int = FRAME_MAX) -> None:
        self.frame_max = frame_max
        self.buffer_max = buffer_max  # bytes accepted but not yet framed
        # accepted, not yet framed: views of big writes, small ones copied together
        self._pending: deque[memoryview | bytearray] = deque()
        self._pending_len = 0
        self._unacked: deque[Frame] = deque()  # sent or sendable, not yet acked
        self._next_seq = 1
        self._send_from = 1  # first seq not yet handed to the transport
        self._acked = 0
        self._got = 0  # the last frame the reader has (more than _acked while it holds its acks)
        self._limit = 0  # highest seq the receiver has granted credit for
        self._closed = False
        self._eof_emitted = False
        self._eof_acked = False
        self._abort: Frame | None = None
        self.bytes_in = 0
        # Byte offsets in the stream (a sender that takes over a pipe starts
        # where the reader stands: resume_at).
        self._framed_end = 0  # where the last frame made ends
        self._ends: deque[int] = deque()  # where each unacked frame ends
        self.acked_bytes = 0  # where the acknowledged frames end
        self._skip = 0  # bytes of what is written that the reader has already
        self._checkpoints: deque[Mark] = deque()  # recorded, no frame made up to them yet
        self._mark = NO_MARK  # the latest checkpoint a frame carried
        self._reads = 0  # checkpoints since

    # ------------------------------------------------------------ writing
    def writable(self) -> int:
        """How many bytes write() accepts now: bounded by credit, so a slow
        consumer stops the producer instead of growing a queue."""
        if self._closed:
            return 0
        framed_room = max(0, self._limit - (self._next_seq - 1)) * self.frame_max
        return max(0, self.buffer_max + framed_room - self._pending_len)

    @property
    def pending(self) -> int:
        """Bytes accepted but not framed yet (waiting for credit or flush)."""
        return self._pending_len

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Accept up to writable() bytes; returns how many were taken.
        Bytes are kept by reference (they are immutable); anything else
        is copied."""
        if self._closed:
            raise PipeError("write after close")
        dropped = 0
        if self._skip:
            # (a stage restarted elsewhere makes again what the reader has)
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = memoryview(data)[dropped:]
        n = min(len(data), self.writable())
        if n:
            tail = self._pending[-1] if self._pending else None
            if n < SMALL_WRITE:
                # Lines and other small writes are copied together (one
                # buffer, not one object per write).
                if isinstance(tail, bytearray):
                    tail += memoryview(data)[:n]
                else:
                    self._pending.append(bytearray(memoryview(data)[:n]))
            else:
                self._pending.append(_frozen(data, n))
            self._pending_len += n
            self.bytes_in += n
            self._frame_full()
        return dropped + n

    def write_span(self, span: FileSpan) -> bool:
        """Frame `span` as it is, one frame of its own, when nothing written
        waits to be framed and credit allows; False: not now (wait for
        credit).  (A stream of spans is a file's: no bytes are written to
        the same sender, and no successor drops a part of it.)"""
        if self._closed:
            raise PipeError("write after close")
        if not 0 < span.length <= self.frame_max or self._skip:
            raise ValueError(f"a span of {span.length} bytes (1 to {self.frame_max}, not to a successor)")
        if self._pending_len or not self._can_frame():
            return False
        self.bytes_in += span.length
        self._emit(b"", eof=False, span=span)
        return True

    def resume_at(self, seq: int, offset: int = 0) -> None:
        """Go on from frame `seq`, which the reader already has (its stream
        ends at byte `offset`): a sender that takes over a pipe whose writer
        died (a stage host for its agent, a stage restarted elsewhere:
        runtime/agentpipes.py, which says what to drop: drop_next) goes on
        where the reader stands.  Only before anything was framed."""
        if self._next_seq != 1 or self._unacked or self._pending_len:
            raise PipeError("resume_at after frames were made")
        self._next_seq = self._send_from = seq + 1
        self._acked = self._got = seq
        self._framed_end = self.acked_bytes = offset

    def drop_next(self, n: int) -> None:
        """Drop the next n bytes written (a successor stage makes again
        what its reader already has)."""
        self._skip = n

    def checkpoint(self, mark: Mark) -> bool:
        """Record that input up to mark.inp made exactly the output up to
        mark.out; the first frame reaching mark.out carries it.  True when
        an empty frame was made to carry it (to send)."""
        cps = self._checkpoints
        self._reads += 1
        if (mark.out <= self._framed_end and not self._pending_len and mark.inp > self._mark.inp
                and (mark.inp - self._mark.inp >= MARK_EVERY or self._reads >= MARK_READS)
                and self._can_frame() and not self._closed):
            # Input goes by and makes no output (a grep that matches
            # nothing): an empty frame carries the news, or the writer
            # upstream would keep all that input for a replay.
            cps.clear()
            self._mark = mark
            self._reads = 0
            self._unacked.append(Frame(self._next_seq, b"", mark=mark))
            self._ends.append(self._framed_end)
            self._next_seq += 1
            return True
        if cps and cps[-1].out == mark.out:
            cps[-1] = mark  # (more input, no more output: the newest says more)
        else:
            if len(cps) >= MAX_CHECKPOINTS:
                cps.popleft()  # (an older mark is still true, only less far)
            cps.append(mark)
        return False

    def flush(self) -> None:
        """Frame what is pending even if short (end of a burst of writes)."""
        self._frame_full()
        if self._pending_len and self._can_frame():
            self._emit(self._take(self._pending_len), eof=False)

    def close(self) -> None:
        """Queue the end of stream after the data written so far."""
        if self._closed:
            return
        self.flush()
        self._closed = True

    def abort(self, reason: str) -> None:
        """Give up: drop everything buffered and tell the reader why. The
        abort frame ignores credit (it frees the reader, it adds no data)."""
        if not reason:
            raise ValueError("abort needs a reason")
        self._closed = True
        self._pending.clear()
        self._pending_len = 0
        self._unacked.clear()
        self._ends.clear()
        self._abort = Frame(self._next_seq, b"", error=reason)

    def _can_frame(self) -> bool:
        return self._next_seq <= self._limit

    def _frame_full(self) -> None:
        while self._pending_len >= self.frame_max and self._can_frame():
            self._emit(self._take(self.frame_max), eof=False)

    def _take(self, n: int) -> Data:
        """The next n pending bytes: a slice of one write when that write
        holds a whole frame, else one copy gathering the pieces."""
        self._pending_len -= n
        first = self._pending[0]
        if isinstance(first, memoryview) and len(first) >= n:
            if len(first) == n:
                self._pending.popleft()
            else:
                self._pending[0] = first[n:]
            return first[:n] if n == self.frame_max else bytes(first[:n])
        parts: list[memoryview | bytearray] = []
        while n:
            head = self._pending[0]
            if len(head) <= n:
                parts.append(self._pending.popleft())
                n -= len(head)
            elif isinstance(head, bytearray):
                parts.append(head[:n])
                del head[:n]
                n = 0
            else:
                parts.append(head[:n])
                self._pending[0] = head[n:]
                n = 0
        return b"".join(parts)

    def _emit(self, data: Data, eof: bool, span: FileSpan | None = None) -> None:
        end = self._framed_end = self._framed_end + (span.length if span is not None else len(data))
        cps = self._checkpoints
        while cps and cps[0].out <= end:
            self._mark = cps.popleft()
            self._reads = 0
        self._unacked.append(Frame(self._next_seq, data, eof, mark=self._mark, span=span))
        self._ends.append(end)
        self._next_seq += 1

    # ---------------------------------------------------------- transport
    def frames_to_send(self) -> list[Frame]:
        """Frames the transport should send now (never beyond credit)."""
        if self._abort is not None:
            return [self._abort]  # resent until the reader acknowledges it
        self._frame_full()
        if self._closed and self._pending_len and self._can_frame():
            self._emit(self._take(self._pending_len), eof=False)
        if self._closed and not self._pending_len and self._can_frame() and not self._eof_emitted:
            self._emit(b"", eof=True)
            self._eof_emitted = True
        unacked = self._unacked
        if not unacked:
            return []
        # (unacked is in seq order: a slice, not a test of every frame kept;
        # a reader holding its acks makes that many)
        first = unacked[0].seq
        out = list(itertools.islice(unacked, max(0, self._send_from - first), max(0, self._limit - first + 1)))
        if out:
            self._send_from = out[-1].seq + 1
        return out

    def on_ack(self, ack: Ack) -> None:
        if self._abort is not None:
            if ack.seq >= self._abort.seq:
                self._eof_acked = True
            return
        if ack.seq >= self._next_seq:
            raise PipeError(f"ack for frame {ack.seq} that was never sent")
        if ack.seq > self._acked:
            while self._unacked and self._unacked[0].seq <= ack.seq:
                if self._unacked[0].eof:
                    self._eof_acked = True
                self._unacked.popleft()
                self.acked_bytes = self._ends.popleft()
            self._acked = ack.seq
        self._got = max(self._got, min(ack.got, self._next_seq - 1))
        self._limit = max(self._limit, ack.seq + ack.credit)
        self._send_from = max(self._send_from, self._acked + 1)

    def on_reconnect(self, ack: Ack | None = None) -> None:
        """The link was re-established: resend everything the reader has
        not got (from the receiver's ack when it tells us where it is)."""
        if ack is not None:
            self.on_ack(ack)
        self._send_from = max(self._acked, self._got) + 1

    def rewind(self) -> None:
        """A new reader took over (a stage restarted elsewhere): it has
        nothing past what was acknowledged; everything after is resent,
        as far as its own credit goes (its first ack says: the credit of
        the reader it replaces would overrun its window, and what it
        dropped would wait for the resend timer)."""
        self._got = self._acked
        self._send_from = self._acked + 1
        self._limit = self._acked

    @property
    def all_delivered(self) -> bool:
        """The reader has every frame made so far (it may hold its acks)."""
        return self._got >= self._next_seq - 1

    @property
    def done(self) -> bool:
        """Closed and the end of stream acknowledged."""
        return self._closed and self._eof_acked

    @property
    def replay_size(self) -> int:
        return sum(len(f.data) if f.span is None else f.span.length for f in self._unacked)

    @property
    def acked(self) -> int:
        """The last frame the reader acknowledged."""
        return self._acked


class Receiver:
    """The reading end.  A reader that *holds* its acks (a stage that can
    be restarted elsewhere: runtime/agentpipes.py) acknowledges a frame
    only once what it made of it is safe downstream (commit), so the
    writer keeps it for a replay to the stage's successor; its credit
    still counts from what it got, so holding costs no speed."""

    def __init__(self, window: int = DEFAULT_WINDOW, *, hold: bool = False, skip_to: int = -1,
                 hold_max: int = HOLD_MAX, hold_bytes: int = HOLD_BYTES, window_bytes: int = 0) -> None:
        if window < 1:
            raise ValueError("window must be at least 1 frame")
        self.window = window
        # Frames and bytes buffered at most: credit is granted for whole
        # frames (a frame in flight may be full), so a stream of short
        # frames (a program's output, read as it comes) is buffered up to
        # window_bytes too, not cut to `span` short frames.
        self.window_bytes = window_bytes or window * FRAME_MAX
        self.span = max(1, min(window, self.window_bytes // FRAME_MAX))  # frames of credit with nothing buffered
        self._ready_bytes = 0
        self.hold_max = hold_max  # frames held at most (its writer keeps them)
        self.hold_bytes = hold_bytes  # ... and bytes (0: no limit; a program's reader lets go past its own)
        self._expected = 1
        self._ready: deque[Data] = deque()  # delivered, not yet read by the consumer
        self.eof = False
        self.error = ""
        self.duplicates = 0
        self.out_of_order = 0
        self.bytes_out = 0
        self.offset = 0  # the stream's byte offset at the end of the last frame delivered
        self.mark = NO_MARK  # its writer's checkpoint
        self.hold = hold
        self._spans: deque[tuple[int, int]] = deque()  # (seq, end offset) delivered, not committed
        self._committed = 0
        self._committed_at = 0  # the stream's offset at the end of the last frame committed
        # A successor stage's reader (skip_to >= 0): the writer's hello says
        # where its replay starts (resume); what comes before skip_to was
        # read by the stage that died, its output is downstream already.
        self.skip_to = max(0, skip_to)
        self.resuming = skip_to >= 0
        self.resume_failed = False

    def resume(self, acked: int, offset: int) -> None:
        """The writer's replay starts after frame `acked`, at byte `offset`
        (its hello): a successor stage's reader starts there."""
        if not self.resuming:
            return
        self.resuming = False
        if offset > self.skip_to:
            # The writer let go of input the dead stage had not finished.
            self.error = (f"cannot resume: the writer holds its stream from byte {offset} on, "
                          f"byte {self.skip_to} is needed")
            self.resume_failed = True
            self.eof = True
            return
        self._expected = acked + 1
        self._committed = acked
        self.offset = self._committed_at = offset

    def on_frame(self, frame: Frame) -> Ack:
        if frame.error:
            # out of band: whatever is buffered is discarded, the stream ends
            self.error = frame.error
            self._ready.clear()
            self._ready_bytes = 0
            self.eof = True
            self._expected = max(self._expected, frame.seq + 1)
            self.release()
            return self.ack()
        if self.error:
            return self.ack()
        if self.resuming:
            self.out_of_order += 1  # (a successor's reader waits for the hello that says where it is)
        elif frame.seq < self._expected:
            self.duplicates += 1  # a replay of something we have: just re-ack
        elif frame.seq > self._expected or len(self._ready) >= self.window:
            self.out_of_order += 1  # a gap (lost frame) or no room: the sender replays
        else:
            data = frame.data
            start, self.offset = self.offset, self.offset + len(data)
            if start < self.skip_to:
                data = memoryview(data)[min(len(data), self.skip_to - start):]
            if data:
                self._ready.append(data)
                self._ready_bytes += len(data)
            if frame.mark is not None:
                self.mark = frame.mark
            if frame.eof:
                self.eof = True
            if self.hold:
                # (the end of stream is acknowledged only when the stage
                # ends, release(): its writer keeps it for a successor)
                self._spans.append((frame.seq, self.offset if not frame.eof else -1))
            else:
                self._committed = frame.seq
            self._expected += 1
        return self.ack()

    def ack(self) -> Ack:
        got = self._expected - 1
        room = -(-max(0, self.window_bytes - self._ready_bytes) // FRAME_MAX)  # (whole frames, rounded up)
        limit = got + min(self.window - len(self._ready), room)
        if self.hold:
            # (what the writer keeps for us is bounded: a stage whose
            # checkpoints lag slows its writer rather than grow its replay)
            limit = min(limit, self._committed + self.hold_max)
            if self.hold_bytes and self.held_bytes >= self.hold_bytes:
                limit = min(limit, got)
        return Ack(self._committed, max(0, limit - self._committed), got, self.offset, self.mark, self.hold)

    def commit(self, upto: int) -> None:
        """What the stream held up to byte `upto` is safe downstream: a
        held ack may now say so."""
        spans = self._spans
        while spans and 0 <= spans[0][1] <= upto:
            self._committed, self._committed_at = spans.popleft()

    @property
    def held(self) -> int:
        """Frames delivered and not committed (their writer keeps them)."""
        return len(self._spans)

    @property
    def held_bytes(self) -> int:
        return self.offset - self._committed_at

    def release(self) -> None:
        """Stop holding: everything delivered is acknowledged (the stage
        is done with its input, or gives up)."""
        self.hold = False
        self._spans.clear()
        self._committed = self._expected - 1
        self._committed_at = self.offset

    def take(self, max_frames: int | None = None) -> list[Data]:
        """Consume delivered data as the frames' payloads (no copy); frees
        credit (send ack() afterwards)."""
        n = len(self._ready) if max_frames is None else min(max_frames, len(self._ready))
        chunks = [self._ready.popleft() for _ in range(n)]
        taken = sum(len(c) for c in chunks)
        self.bytes_out += taken
        self._ready_bytes -= taken
        return chunks

    def read(self, max_frames: int | None = None) -> bytes:
        """Consume delivered data as one bytes object (see take())."""
        return b"".join(self.take(max_frames))

    @property
    def buffered(self) -> int:
        return self._ready_bytes
