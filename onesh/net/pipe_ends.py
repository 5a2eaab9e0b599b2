"""The two ends of a network pipe, over any transport, on any loop.

A pipe has a *receiver* (the downstream stage: it listens) and a *sender*
(the upstream stage: it dials).  These classes join the sans-IO pipe
protocol (`pipe_protocol`: sequence numbers, acks, credit, replay) to a
transport (`transport`: unix://, tls://, tcp://) through the wire format
(`pipe_wire`).  They react to what arrives and never wait: waiting is the
driver's: asyncio's (`pipes.PipeReceiver`, `pipes.PipeSender`: stage
hosts, the shell, named pipes) or a blocking one (`netio`: a builtin
agent owning its pipe ends, without the stage host's pumps:
runtime/agentpipes.py).  A driver calls `tick()` every RESEND_AFTER / 2
seconds.

Per frame, nothing is packed or copied: a header is one struct, the data
goes to the transport as the writer gave it (a view of its bytes) and
comes out of it as the reader receives it (a view of the packet, or the
buffer the TLS record train was read into).  The receiver acknowledges
once per burst of messages, not once per frame; the sender sends only
what the receiver's credit allows, so no queue grows anywhere.

When acks stop coming the sender says hello again and replays everything
unacknowledged (the receiver drops duplicates), opening a fresh connection
if its transport lost the old one; `reconnect()` does the same at once
(fault injection: a stage host's SIGUSR2).  A reader that stopped reading
says so in its acks (`gone`: SIGPIPE for a network pipe); one whose
endpoint refuses connections, or that answers nothing for GIVE_UP_AFTER
seconds while the writer waits, is gone too.

A writer whose input is a regular file (the shell's stdin, `< file`) may
send spans of it instead of its bytes (`file=`, `offer_span`): over a
link that passes fds (a Unix socket: the reader is on this host) the
file goes with each hello and the reader reads each span itself
(`ReceiverEnd._read_span`); over any other link, and for a replay to a
reader that moved elsewhere, the writer reads the span and sends its
bytes.  Nothing else changes: spans have sequence numbers, acks and
replay like any frame.

When the reader runs where the writer cannot reach it (`--dial-out`), the
pipe is turned round (`connect=` on the receiver, `bind=` on the sender):
the writer's link listens and the reader's listener dials it
(transport.dial_in, transport.listen_out).  Nothing here changes but who
opens the connection: the writer still says hello, the reader still acks.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from typing import Any

from onesh.net import pipe_wire as wire
from onesh.net.heap import keep_freed_memory
from onesh.net.pipe_protocol import (
    FRAME_MAX,
    HOLD_BYTES,
    HOLD_MAX,
    Ack,
    Data,
    FileSpan,
    Frame,
    PipeError,
    Receiver,
    Sender,
)
from onesh.net.transport import Credentials, Link, Listener, Loop, dial, dial_in, listen, listen_out

log = logging.getLogger("onesh.pipes")

RESEND_AFTER = 0.5  # seconds without an ack before the sender replays
GIVE_UP_AFTER = 10.0  # a blocked sender that hears nothing this long: reader gone
STOPPED_GAP = 2.0  # seconds between two ticks that say we were not running (stopped, busy)
REFUSALS = 2  # reconnects refused in a row (nothing listens any more): reader gone
PIPE_WINDOW = 32  # frames a reader buffers at most (short ones: a program's output as it comes) ...
# ... and bytes: 16 full frames in flight.  Each process of a pipeline then
# moves longer bursts per wake-up: on 2 cores the 3-stage pipeline on one
# host ran 13% faster than with 2 MiB (8 MiB: 25%, but a stage host's own
# memory went from 6.9 to 12.9 MB; with 4 MiB, 8.5 MB).
PIPE_BYTES = 4 << 20
UNFRAMED_MAX = 64 * 1024  # bytes a writer takes beyond its credit


class LineSampler:
    """Lines per byte, from every SAMPLE_EVERY-th block: `top --cluster`
    shows lines/s without a newline count on the hot path."""

    SAMPLE_EVERY = 16
    SAMPLE_BYTES = 16 * 1024  # of a block, counted (a view is copied to be counted: not a whole frame)

    def __init__(self) -> None:
        self.blocks = 0
        self.bytes = 0
        self.newlines = 0

    def sample(self, blocks: Any) -> None:
        self.blocks += 1
        if self.blocks % self.SAMPLE_EVERY == 1:
            for b in blocks:
                b = b[:self.SAMPLE_BYTES]
                self.bytes += len(b)
                self.newlines += bytes(b).count(b"\n") if isinstance(b, memoryview) else b.count(b"\n")

    def lines(self, total_bytes: int) -> int:
        """About how many lines `total_bytes` of this stream hold."""
        return round(total_bytes * self.newlines / self.bytes) if self.bytes else 0


class ReceiverEnd:
    """The downstream end: listens; takes frames from a writer that said
    hello with this pipe's id; acknowledges."""

    def __init__(self, creds: Credentials, pipe_id: str, bind: str, window: int = PIPE_WINDOW, *,
                 connect: str = "", hold: bool = False, skip_to: int = -1, hold_max: int = HOLD_MAX,
                 replay_max: int = 0, line_ends: bool = False) -> None:
        self.creds, self.pipe_id, self.bind = creds, pipe_id, bind
        self.connect = connect  # the writer's bound endpoint: we dial it instead of listening
        # (hold, skip_to: a stage that can be restarted elsewhere, and its successor: pipe_protocol.Receiver)
        self.proto = Receiver(window, hold=hold, skip_to=skip_to, hold_max=hold_max,
                              hold_bytes=0 if replay_max else HOLD_BYTES,
                              window_bytes=min(PIPE_BYTES, window * FRAME_MAX))
        # A reader holding all its input (a program, which a successor runs
        # again from the start) lets go of it past `replay_max` bytes or its
        # frame limit, rather than stall its writer: it is then no longer
        # restartable (let_go).
        self.replay_max = replay_max
        self.let_go = False
        # The stream's offset after the last newline taken (line_ends): a
        # line filter's checkpoint is there, not inside the line it holds.
        self.line_end = -1 if line_ends else -2
        self.peer: object | None = None  # the newest connection that said hello: acks go there
        self._admitted: set[object] = set()  # connections that said hello with our pipe id
        self.links = 0  # connections writers made to us (one per relink)
        self.rejected = 0
        self.bytes_in = 0
        self.lines = LineSampler()
        self.closed = False
        self.endpoint = ""
        self._ack_due = False
        self._granted = 0  # the highest seq our last ack let the writer send
        self._sent = 0  # the seq our last ack acknowledged
        # Which writer we take frames from: a stage restarted elsewhere
        # writes with a higher epoch, and its predecessor (frozen, cut off,
        # not dead after all) is told we are gone.
        self.epoch = 0
        self._listener: Listener | None = None
        self.loop: Loop | None = None
        # The writer's connection ended before its end of stream (its
        # process or its runtime died): a hint for whoever watches it
        # (the shell, for the stage hosts' stderr pipes: Job.run).
        self.on_writer_lost: Callable[[], None] | None = None

    def _notify(self) -> None:
        """Data, an end, or a writer arrived (a driver wakes its reader)."""

    def open(self, loop: Loop) -> str:
        self.loop = loop
        keep_freed_memory()
        if self.connect:
            self._listener = listen_out(self.connect, self.creds, self._on_message, self._after_batch, loop)
        else:
            self._listener = listen(self.bind, self.creds, self._on_message, self._after_batch, loop)
        self.endpoint = self._listener.endpoint
        self._listener.on_lost = self._conn_lost
        return self.endpoint

    def _conn_lost(self, conn: object) -> None:
        if conn == self.peer and not self.proto.eof and not self.closed and self.on_writer_lost is not None:
            self.on_writer_lost()

    def _send_ack(self, gone: bool = False) -> None:
        self._ack_due = False
        if self.peer is not None and self._listener is not None:
            ack = self.proto.ack()
            self._granted = ack.seq + ack.credit
            self._sent = ack.seq
            self._listener.send(self.peer, *wire.ack(ack, gone))

    def _on_message(self, conn: object, header: Data, body: Data) -> None:
        try:
            msg = wire.decode(header, body)
        except wire.WireError as e:
            self._reject(str(e))
            return
        if isinstance(msg, Frame):
            if conn not in self._admitted:
                self._reject("a frame from a connection that did not say hello")
                return
            if conn != self.peer:
                return  # (a writer's old connection, or a writer replaced by a newer one: the newest replays)
            if msg.span is not None:
                data = self._read_span(conn, msg.span)
                if data is None:
                    return
                msg = dataclasses.replace(msg, data=data, span=None)
            self.proto.on_frame(msg)
        elif isinstance(msg, wire.Hello):
            if msg != self.pipe_id:
                self._reject(f"a hello for pipe {str(msg)!r}, this is {self.pipe_id!r}")
                return
            if msg.epoch < self.epoch:
                if self._listener is not None:
                    self._listener.send(conn, *wire.ack(self.proto.ack(), True))
                self._reject(f"a hello from a writer of epoch {msg.epoch}, replaced by one of epoch {self.epoch}")
                return
            if msg.epoch > self.epoch:
                self.epoch = msg.epoch
                self._admitted.clear()
            self.proto.resume(msg.acked, msg.offset)  # (a successor stage's reader learns where it starts)
            self._admitted.add(conn)
            if conn != self.peer:
                self.links += 1  # a writer's first connection, or a new one after a relink
                self.peer = conn  # acks go to the newest connection
        else:
            self._reject("an ack sent to a reader")
            return
        # One cumulative ack per burst of messages (after_batch), not one
        # per frame: the writer's credit and replay only need the latest.
        self._ack_due = True
        self._notify()

    def _read_span(self, conn: object, span: FileSpan) -> bytes | None:
        """A span's bytes, read from the file its connection brought.  One
        that cannot be read (no file came, or it fails) is rejected: the
        writer says hello again and replays (a new connection brings the
        file again)."""
        fd = getattr(conn, "file", -1)
        try:
            if fd < 0:
                raise OSError("no file came with the connection")
            return _read_span(fd, span, self.pipe_id)
        except OSError as e:
            self._reject(f"a file span that cannot be read: {e}")
            return None

    def _reject(self, why: str) -> None:
        self.rejected += 1
        log.warning("pipe %s: rejected a message: %s", self.pipe_id, why)

    def _after_batch(self) -> None:
        # Not delayed, only put after the reader: a reader woken by these
        # frames runs first in this same loop round (it forwards the data
        # before we spend time on the ack), and the ack then carries the
        # credit its read freed as well.
        if self._ack_due and self.loop is not None:
            if self.proto.eof:
                self._send_ack(gone=self.closed)  # nothing left to forward: the writer waits for this one
            else:
                self.loop.call_soon(self._ack_now)

    def _ack_now(self) -> None:
        if self._ack_due:
            self._send_ack(gone=self.closed)

    def take(self, max_frames: int | None = None) -> list[Data]:
        """What has arrived, as the received parts (no copy); grants the
        writer credit if it runs low."""
        chunks = self.proto.take(max_frames)
        if chunks:
            self.bytes_in += sum(map(len, chunks))
            self.lines.sample(chunks)
            if self.line_end != -2:
                self._line_end(chunks)
            if self.replay_max and self.proto.hold and (
                    self.proto.held_bytes > self.replay_max
                    or self.proto.held >= self.proto.hold_max - self.proto.span):
                self.give_up_hold()
            if not self._ack_due and self._granted - self.proto.ack().got <= self.proto.span // 2:
                # The writer is running out of credit: grant what was
                # freed.  (While it has plenty, the ack that follows its
                # next frames carries the news; no extra message.)
                self._send_ack()
        return chunks

    def _line_end(self, chunks: list[Data]) -> None:
        end = self.proto.offset - self.proto.buffered  # (where what was taken ends)
        for c in reversed(chunks):
            n = len(c)
            i = bytes(c[-256:]).rfind(b"\n")  # (lines are short: look at the tail first)
            if i >= 0:
                self.line_end = end - min(n, 256) + i + 1
                return
            if n > 256 and (i := bytes(c).rfind(b"\n")) >= 0:
                self.line_end = end - n + i + 1
                return
            end -= n

    def give_up_hold(self) -> None:
        """Let go of all we held: the writer may drop it (the stage can no
        longer be restarted elsewhere)."""
        self.proto.release()
        self.let_go = True
        self._send_ack()

    def commit(self, upto: int) -> None:
        """What we held up to byte `upto` is safe downstream (a stage that
        can be restarted elsewhere: runtime/agentpipes.py).  The writer
        hears of it with the next ack, or at once when it is half a window
        more: it can then let go of its replay."""
        self.proto.commit(upto)
        if (not self._ack_due and self.loop is not None
                and self.proto.ack().seq - self._sent >= self.proto.span // 2):
            self._ack_due = True
            self.loop.call_soon(self._ack_now)

    def end_acks(self) -> None:
        """Closing: a writer still sending is told the reader is gone; the
        ack of an end of stream still due leaves (the writer waits for it)."""
        self.closed = True
        self.proto.release()
        if not self.proto.eof:
            self._send_ack(gone=True)
        elif self._ack_due or self._sent < self.proto.ack().seq:
            self._send_ack()  # (what we held is acknowledged now: the writer's end of stream with it)

    def flush(self) -> bool:
        return self._listener is not None and self._listener.flush()

    def shut(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None


class SenderEnd:
    """The upstream end: dials the receiver's endpoint and sends what its
    credit allows."""

    def __init__(self, creds: Credentials, pipe_id: str, endpoint: str = "", *, bind: str = "",
                 adopt: bool = False, epoch: int = 0, file: int = -1) -> None:
        self.creds, self.pipe_id, self.endpoint = creds, pipe_id, endpoint
        # A regular file our spans are of (offer_span); open until we are done.
        self.file = file
        self.epoch = epoch  # (a stage restarted elsewhere writes with a higher one: ReceiverEnd.epoch)
        # Take over a pipe whose writer died: the reader's first ack says
        # where the stream stopped, and we go on from there (Sender.resume_at).
        self._adopt = adopt
        self.bind = bind  # where to listen for a reader that dials us (then `endpoint` is the bound one)
        # (unframed bytes taken beyond the credit: as little as with 64 KiB
        # frames, so a blocked pipe holds no more than it did)
        self.proto = Sender(FRAME_MAX, UNFRAMED_MAX)
        self.gone = False
        self.gone_reason = "reader gone"
        self.bytes_out = 0
        self.resends = 0
        self.reconnects = 0
        self.lines = LineSampler()
        self.loop: Loop | None = None
        self._link: Link | None = None
        self._last_ack = 0.0
        self._last_heard = 0.0
        self._last_tick = 0.0
        self.stopped = False  # our job is stopped (the stage host heard SIGTSTP): do not give up on its reader
        self._refusals = 0
        self._blocked = False
        self._want_flush = False
        self.adopted: Ack | None = None  # the reader's first ack, when we took the pipe over
        self.reader_held = False  # the reader holds its acks: it can be restarted elsewhere (wait for it)
        # Each ack, for a stage that holds its own input's acks until its
        # output is safe downstream (runtime/agentpipes.py).
        self.on_ack: Callable[[Ack], None] | None = None

    def _notify(self) -> None:
        """Credit or news arrived (a driver wakes its writer)."""

    def open(self, loop: Loop) -> None:
        self.loop = loop
        keep_freed_memory()
        if self.bind:
            bound = dial_in(self.bind, self.creds, self._on_message, loop)
            self.endpoint = bound.endpoint
            self._link = bound
        else:
            self._link = dial(self.endpoint, self.creds, self._on_message, loop)
        self._say_hello(self._link)
        self._last_ack = self._last_heard = loop.time()

    def _hello(self) -> tuple[bytes, bytes]:
        return wire.hello(self.pipe_id, self.proto.acked, self.proto.acked_bytes, self.epoch)

    def _say_hello(self, link: Link) -> None:
        """Hello on a (new) connection; our file goes with it where the
        link can pass it (the spans sent after it are read from it)."""
        if self.file >= 0 and _passes_fds(link):
            link.send_fds(*self._hello(), self.file)  # type: ignore[attr-defined]
        else:
            link.send(*self._hello())

    @property
    def spans_go_as_spans(self) -> bool:
        """Does a span go to the reader as it is (its link passes our file)?"""
        return self.file >= 0 and self._link is not None and _passes_fds(self._link)

    def _on_message(self, header: Data, body: Data) -> None:
        try:
            msg = wire.decode(header, body)
        except wire.WireError as e:
            log.warning("pipe %s: rejected a message: %s", self.pipe_id, e)
            return
        if not isinstance(msg, tuple):
            return  # (only acks come this way)
        ack, gone = msg
        assert self.loop is not None
        self._last_ack = self._last_heard = self.loop.time()
        if gone:
            # (first: a reader that replaced us by a successor says so
            # with an ack of frames we never sent)
            self.gone = True
        if self._adopt:
            # Go on after the last frame the reader has (a stage restarted
            # elsewhere then drops what it makes again: agentpipes.run).
            self._adopt = False
            self.adopted = ack
            self.proto.resume_at(ack.got, ack.offset)
        self.reader_held = ack.held
        try:
            self.proto.on_ack(ack)
        except PipeError as e:
            log.warning("pipe %s: %s", self.pipe_id, e)
            if gone:
                self._notify()
            return
        if self.on_ack is not None:
            self.on_ack(ack)
        if self._want_flush:
            # A flush asked for before we had credit (the first line of a
            # stream): frame it now instead of waiting for more data.
            self.proto.flush()
            self._want_flush = bool(self.proto.pending)
        self._push()
        self._notify()

    def _push(self) -> None:
        link = self._link
        if link is not None:
            for f in self.proto.frames_to_send():
                if f.span is not None and not _passes_fds(link):
                    try:
                        f = self._spelt_out(f, f.span)
                    except OSError as e:
                        # (the reader's input ends here, loudly: cut off)
                        self.proto.abort(f"reading the input file failed: {e.strerror or e}")
                        for a in self.proto.frames_to_send():
                            link.send(*wire.frame(a))
                        return
                link.send(*wire.frame(f))

    def _spelt_out(self, f: Frame, span: FileSpan) -> Frame:
        """A span's frame with its bytes, for a reader the file cannot go
        to (elsewhere; a read of a cached file does not wait)."""
        return dataclasses.replace(f, data=_read_span(span.fd, span, self.pipe_id), span=None)

    def offer_span(self, offset: int, length: int) -> bool:
        """Send `length` bytes at `offset` of our file (a frame of its own)
        if credit allows now; False: wait for credit.  PipeError if the
        reader is gone."""
        if self.gone:
            raise PipeError(self.gone_reason)
        if self.file < 0:
            raise ValueError("a span, and no file")
        if not self.proto.write_span(FileSpan(self.file, offset, length)):
            return False
        self._awake()
        self.bytes_out += length
        self._push()
        return True

    def offer(self, data: bytes | memoryview) -> int:
        """Take as much of `data` as the credit allows now (bytes, and
        views of bytes, by reference); 0: wait for credit.  PipeError if
        the reader is gone."""
        if self.gone:
            raise PipeError(self.gone_reason)
        room = self.proto.writable()
        if not room:
            return 0
        self._awake()
        n = self.proto.write(data if len(data) <= room else data[:room])
        self.bytes_out += n
        self._push()
        return n

    def _awake(self) -> None:
        """About to send: when we waited for nothing until now, the reader's
        silence counts from here (a writer idle for long, a `sort` reading
        all its input, is not one whose reader stopped answering)."""
        if self.loop is not None and not self.waiting():
            self._last_heard = self.loop.time()

    def end_stream(self) -> None:
        """The end of the stream: framed and sent when credit allows."""
        self._awake()
        self.proto.close()
        self._push()

    def flush_now(self) -> None:
        """Ship what is buffered in a short frame (the end of a burst)."""
        self.proto.flush()
        self._want_flush = bool(self.proto.pending)
        self._push()

    @property
    def blocked(self) -> bool:
        """Waiting for credit: the reader is slower than we are (backpressure)."""
        return self._blocked

    def waiting(self) -> bool:
        """Does the writer wait for word from the reader (an ack, credit)?"""
        return (self.proto.replay_size > 0 or not self.proto._limit or self._blocked
                or (self.proto._closed and not self.proto.done))

    def tick(self) -> None:
        """The resend timer: replay after RESEND_AFTER without an ack; the
        reader is gone after GIVE_UP_AFTER of silence, or when nothing
        listens at its endpoint any more."""
        link, loop = self._link, self.loop
        if self.proto.done or link is None or loop is None or self.gone:
            return
        now = loop.time()
        if now - self._last_tick > STOPPED_GAP or self.stopped:
            # We did not run (SIGSTOP, job control; a tool busy between two
            # reads), or our job is stopped (its reader with it): the
            # reader's silence meanwhile proves nothing.
            self._last_heard = max(self._last_heard, now)
        self._last_tick = now
        if not self.waiting():
            return
        if now - self._last_heard > GIVE_UP_AFTER:
            # Blocked and the reader answers nothing, not even a hello (a
            # live but slow reader does): it is gone.
            self.give_up(f"reader unreachable for {GIVE_UP_AFTER:g}s")
            return
        if now - self._last_ack > RESEND_AFTER:
            # No ack for a while: the link may have been lost (zmq drops
            # queued messages on a peer restart, a socket may have broken).
            # Say hello again and replay everything unacknowledged.
            self.resends += 1
            if link.broken:
                # (refused: what the last connect found; a TLS connect
                # finishes after reopen() returns)
                self._refusals = self._refusals + 1 if link.refused else 0
                if self._refusals >= REFUSALS and not self.reader_held:
                    # (a reader that holds its acks may be restarted
                    # elsewhere: its job repipes us, or GIVE_UP_AFTER ends it)
                    self.give_up("reader gone (nothing listens at its end of the pipe)")
                    return
                link.reopen()
            self._say_hello(link)
            self.proto.on_reconnect()
            self._push()
            self._last_ack = now

    def give_up(self, why: str) -> None:
        """The reader is gone: writing fails from now on (EPIPE)."""
        self.gone = True
        self.gone_reason = why
        self._notify()

    def relink(self) -> None:
        """A fresh connection (a new identity), then replay from the reader's ack."""
        assert self.loop is not None
        if self.bind and self._link is not None:
            # A bound link keeps its socket (its port is the reader's only
            # way to us): reopen() drops the connection, the reader dials
            # again and gets the hello and the replay.
            self._link.reopen()
            self._say_hello(self._link)
            self._last_ack = self._last_heard = self.loop.time()
        else:
            if self._link is not None:
                self._link.close()
            self.open(self.loop)
        self.reconnects += 1
        self.proto.on_reconnect()
        self._push()

    def repipe(self, endpoint: str) -> None:
        """Our reader was restarted elsewhere (its runtime died): dial its
        successor, which resumes after what was acknowledged, and replay
        the rest."""
        assert self.loop is not None and not self.bind
        if self._link is not None:
            self._link.close()
        self.endpoint = endpoint
        self._refusals = 0
        self.proto.rewind()
        self.open(self.loop)
        self.reconnects += 1
        self._push()
        self._notify()

    def flush_link(self) -> bool:
        return self._link is not None and self._link.flush()

    def shut(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None


def _read_span(fd: int, span: FileSpan, pipe_id: str) -> bytes:
    """A span's bytes from `fd` (OSError if it cannot be read).  A file cut
    shorter since its writer framed the span gives what is left."""
    data = os.pread(fd, span.length, span.offset)
    if len(data) < span.length:
        log.warning("pipe %s: the input file is %d bytes shorter than when it was sent",
                    pipe_id, span.length - len(data))
    return data


def _passes_fds(link: Link) -> bool:
    """Can this link pass an fd to its reader (a Unix socket's)?"""
    return bool(getattr(link, "passes_fds", False))


__all__ = ["PIPE_WINDOW", "Ack", "LineSampler", "ReceiverEnd", "SenderEnd"]
