"""The reliable pipe protocol over a simulated hostile link: frames are
dropped, duplicated, reordered and the link is cut and re-established, yet
the bytes that come out are exactly the bytes that went in, the sender
never exceeds its credit and memory stays bounded."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onesh.net.pipe_protocol import FRAME_MAX, Ack, FileSpan, Frame, PipeError, Receiver, Sender


def transfer(data: bytes, seed: int, *, drop: float, dup: float, reorder: float, cut: float,
             window: int, read_every: int, frame_max: int) -> tuple[bytes, Sender, Receiver, int]:
    rng = random.Random(seed)
    s, r = Sender(frame_max=frame_max, buffer_max=frame_max), Receiver(window=window)
    s.on_ack(r.ack())  # the receiver's initial credit
    pos = 0
    out = bytearray()
    to_r: list[Frame] = []
    to_s: list[Ack] = []
    peak_replay = 0
    steps = 0
    while not (s.done and not to_r):
        steps += 1
        assert steps < 200000, "no progress"
        if pos < len(data):
            pos += s.write(data[pos:pos + rng.randint(1, 3 * frame_max)])
            if rng.random() < 0.3:
                s.flush()
        elif not s.done:
            s.close()
        sent = s.frames_to_send()
        for f in sent:
            assert f.seq <= s._limit, "sent beyond credit"
            if rng.random() < drop:
                continue
            to_r.append(f)
            if rng.random() < dup:
                to_r.append(f)
        if to_r and rng.random() < reorder:
            rng.shuffle(to_r)
        peak_replay = max(peak_replay, s.replay_size)
        while to_r:
            a = r.on_frame(to_r.pop(0))
            if rng.random() >= drop:
                to_s.append(a)
        if rng.randrange(read_every) == 0 or r.buffered >= window * frame_max:
            out += r.read(rng.randint(1, window))
            to_s.append(r.ack())
        for a in to_s:
            s.on_ack(a)
        to_s.clear()
        if rng.random() < cut:
            to_r.clear()  # in flight frames lost with the connection
            s.on_reconnect(r.ack())  # the receiver tells where it is
        elif not sent or rng.random() < drop:
            # a real driver's retransmission timer: fires when the link is idle
            # (a reordered or lost frame left a gap) and now and then anyway
            s.on_reconnect()
    out += r.read()
    return bytes(out), s, r, peak_replay


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 300_000), seed=st.integers(0, 2**32), drop=st.floats(0, 0.3), dup=st.floats(0, 0.3),
       reorder=st.floats(0, 0.5), cut=st.floats(0, 0.05), window=st.integers(1, 8), read_every=st.integers(1, 5),
       frame_max=st.sampled_from([1, 7, 1024, FRAME_MAX]))
def test_stream_survives_a_hostile_link(size: int, seed: int, drop: float, dup: float, reorder: float,
                                        cut: float, window: int, read_every: int, frame_max: int) -> None:
    if frame_max < 1024:
        size = min(size, 3000)  # tiny frames: keep the example fast
    data = random.Random(seed).randbytes(size)
    out, s, r, peak = transfer(data, seed, drop=drop, dup=dup, reorder=reorder, cut=cut, window=window,
                               read_every=read_every, frame_max=frame_max)
    assert out == data
    assert r.eof and s.done
    # the replay buffer never holds more than the receiver's window
    assert peak <= window * frame_max


def test_small_writes_are_batched_into_full_frames() -> None:
    s, r = Sender(), Receiver(window=4)
    s.on_ack(r.ack())
    for _ in range(2 * FRAME_MAX):  # (4 full frames, 2 bytes a write)
        s.write(b"x\n")
    frames = s.frames_to_send()
    assert [len(f.data) for f in frames] == [FRAME_MAX, FRAME_MAX, FRAME_MAX, FRAME_MAX]


def test_spans_are_frames_of_their_own_within_credit_and_kept_for_a_replay() -> None:
    s, r = Sender(), Receiver(window=2)
    s.on_ack(r.ack())
    spans = [FileSpan(5, i * FRAME_MAX, FRAME_MAX) for i in range(3)]
    assert s.write_span(spans[0]) and s.write_span(spans[1])
    assert not s.write_span(spans[2])  # no credit for a third frame
    sent = s.frames_to_send()
    assert [f.span for f in sent] == spans[:2] and all(f.data == b"" for f in sent)
    assert s.replay_size == 2 * FRAME_MAX and s.bytes_in == 2 * FRAME_MAX
    s.on_reconnect()  # a new link: both again, as they were
    assert [f.span for f in s.frames_to_send()] == spans[:2]
    s.on_ack(Ack(2, 2))
    assert s.write_span(spans[2]) and s.acked_bytes == 2 * FRAME_MAX
    s.write(b"tail")  # bytes after spans wait for a frame of their own
    assert not s.write_span(FileSpan(5, 3 * FRAME_MAX, 1))
    s.close()
    assert [(f.span, bytes(f.data), f.eof) for f in s.frames_to_send()] == [
        (spans[2], b"", False), (None, b"tail", False)]
    with pytest.raises(ValueError):
        Sender().write_span(FileSpan(5, 0, FRAME_MAX + 1))


def test_slow_consumer_stops_the_producer() -> None:
    s, r = Sender(), Receiver(window=2)
    s.on_ack(r.ack())
    written = 0
    for _ in range(100):
        written += s.write(b"y" * 10_000)
        for f in s.frames_to_send():
            s.on_ack(r.on_frame(f))
    # nobody reads: at most the window plus one frame of pending bytes
    assert written <= 3 * FRAME_MAX
    assert s.writable() == 0
    r.read()
    s.on_ack(r.ack())
    assert s.writable() > 0


def test_protocol_errors() -> None:
    s = Sender()
    with pytest.raises(PipeError):
        s.on_ack(Ack(5, 1))
    s.close()
    with pytest.raises(PipeError):
        s.write(b"x")
    with pytest.raises(ValueError):
        Receiver(window=0)


def test_abort_reaches_the_reader_despite_no_credit_and_losses() -> None:
    s, r = Sender(frame_max=4), Receiver(window=1)
    s.on_ack(r.ack())
    s.write(b"abcdefgh")
    for f in s.frames_to_send():
        s.on_ack(r.on_frame(f))  # the window is now full, nobody reads
    s.abort("producer exited with status 3")
    assert not s.done
    lost = s.frames_to_send()  # first attempt lost on the wire
    assert [f.error for f in lost] == ["producer exited with status 3"]
    s.on_reconnect()
    for f in s.frames_to_send():
        s.on_ack(r.on_frame(f))
    assert s.done and r.eof
    assert r.error == "producer exited with status 3"
    assert r.read() == b""  # buffered data is discarded, not half-delivered
    with pytest.raises(PipeError):
        s.write(b"more")


def test_whole_frames_of_a_bytes_write_are_not_copied() -> None:
    s, r = Sender(), Receiver(window=8)
    s.on_ack(r.ack())
    data = bytes(range(256)) * (4 * FRAME_MAX // 256)  # 4 frames
    assert s.write(data) == len(data)
    frames = s.frames_to_send()
    assert len(frames) == 4
    for f in frames:
        assert isinstance(f.data, memoryview) and f.data.obj is data  # views of the write
    for f in frames:
        r.on_frame(f)
    chunks = r.take()
    assert all(isinstance(c, memoryview) for c in chunks)
    assert b"".join(chunks) == data and r.bytes_out == len(data)


def test_mutable_writes_are_copied_and_small_ones_gathered() -> None:
    s, r = Sender(frame_max=1024), Receiver(window=8)
    s.on_ack(r.ack())
    buf = bytearray(b"a" * 5000)
    s.write(buf)
    buf[:] = b"b" * 5000  # the caller reuses its buffer: what was written stays
    for _ in range(300):
        s.write(bytearray(b"line\n"))
    s.flush()
    out = b""
    for f in s.frames_to_send():
        s.on_ack(r.on_frame(f))
        out += r.read()
    assert out == b"a" * 5000 + b"line\n" * 300
    assert len(s._pending) == 0 and s.pending == 0


def test_a_read_only_view_is_taken_at_its_word_and_a_writable_one_copied() -> None:
    """A frame received into a buffer of its own comes as a read-only view
    (tlslink): handed on to the next pipe as it is; a writable view of the
    same buffer is copied."""
    s = Sender()
    s.on_ack(Receiver(window=8).ack())
    received = bytearray(os.urandom(FRAME_MAX))
    s.write(memoryview(received).toreadonly())
    s.write(memoryview(received))
    first, second = s.frames_to_send()
    assert isinstance(first.data, memoryview) and isinstance(second.data, memoryview)
    assert first.data.obj is received and second.data.obj is not received
    assert bytes(first.data) == bytes(second.data) == bytes(received)


def test_a_short_frame_does_not_pin_a_big_write() -> None:
    s, r = Sender(), Receiver(window=4)
    s.on_ack(r.ack())
    big = b"x" * (FRAME_MAX + 10)
    s.write(big)
    s.flush()
    full, short = s.frames_to_send()
    assert isinstance(full.data, memoryview) and full.data.obj is big
    assert isinstance(short.data, bytes) and short.data == b"x" * 10


def test_a_sender_taking_over_a_dead_writers_pipe_ends_it_where_the_reader_stands() -> None:
    rx = Receiver(window=8)
    dead = Sender(frame_max=4, buffer_max=4)
    dead.on_ack(rx.ack())
    dead.write(b"abcdefgh")
    dead.flush()
    sent = dead.frames_to_send()
    for f in sent[:1]:  # (the second frame is lost with its writer)
        rx.on_frame(f)
    heir = Sender(frame_max=4, buffer_max=4)
    heir.close()
    assert heir.frames_to_send() == []  # (nothing before the reader says where it is)
    ack = rx.ack()
    heir.resume_at(ack.seq)
    heir.on_ack(ack)
    for f in heir.frames_to_send():
        rx.on_frame(f)
    heir.on_ack(rx.ack())
    assert rx.take() == [b"abcd"] and rx.eof and heir.done
    with pytest.raises(PipeError):
        dead.resume_at(1)  # (a sender that made frames cannot)


def test_a_holding_reader_counts_what_it_holds_and_its_writer_keeps_at_most_hold_max_frames() -> None:
    """A program's stage host holds its input for a replay (hold_max frames
    at most: its writer keeps them) and knows how many bytes that is
    (held_bytes: it lets go past ONESH_REPLAY_MAX)."""
    r = Receiver(window=8, hold=True, hold_max=3)
    for seq in (1, 2, 3):
        ack = r.on_frame(Frame(seq, b"x" * 10))
        r.take()
    assert (r.held, r.held_bytes) == (3, 30)
    assert ack.seq == 0 and ack.seq + ack.credit == 3  # (nothing more until it commits)
    r.commit(20)
    ack = r.ack()
    assert (ack.seq, r.held, r.held_bytes) == (2, 1, 10) and ack.seq + ack.credit == 5
    r.release()
    assert (r.ack().seq, r.held, r.held_bytes) == (3, 0, 0)


@pytest.mark.parametrize("frames, want", [
    ([b"ab\ncd", b"ef"], 3),  # (the newline in an earlier frame)
    ([b"x" * 300 + b"\n" + b"y" * 400], 301),  # (beyond the tail looked at first)
    ([b"a\n" * 200, b"b\nc"], 402),
    ([b"no newline"], -1),
])
def test_a_line_filters_reader_knows_where_its_last_whole_line_ends(frames: list[bytes], want: int) -> None:
    from onesh.net.pipe_ends import ReceiverEnd

    end = ReceiverEnd(None, "p", "unix:///nowhere", line_ends=True)  # type: ignore[arg-type]
    for seq, data in enumerate(frames, 1):
        end.proto.on_frame(Frame(seq, data))
    end.take(1)
    end.take()
    assert end.line_end == want


@pytest.mark.parametrize("frame", [FRAME_MAX, FRAME_MAX // 4, 4096])
def test_a_window_holds_its_bytes_whatever_the_frames_size(frame: int) -> None:
    """Credit is granted for whole frames but bounded by bytes: nobody
    reads, and the reader ends up holding about window_bytes of full
    frames or of short ones (a program's output, framed as it comes),
    never more frames than its window."""
    s, r = Sender(frame_max=frame), Receiver(window=32, window_bytes=2 * FRAME_MAX * 4)
    s.on_ack(r.ack())
    for _ in range(10_000):
        if not s.write(b"z" * frame):
            break
        for f in s.frames_to_send():
            s.on_ack(r.on_frame(f))
    assert r.out_of_order == 0  # (the writer never sent past its credit)
    assert len(r._ready) <= 32 and r.buffered <= r.window_bytes + FRAME_MAX
    assert r.buffered >= min(32 * frame, r.window_bytes - frame)
