"""A stateless stage between two pipes dies and a successor takes both
pipes over (pipe_protocol: held acks, checkpoints, resume), without
sockets: the reader downstream gets every byte exactly once, whatever
the moment of the death and however the frames were cut.

The stage here is a line filter with a non-trivial byte mapping (it drops
lines with an "x" and doubles the others), run the way a builtin agent
runs one (runtime/agentpipes.py): it checkpoints before each read, minus
the unfinished line it holds, and its input's acks wait for its output's.
"""

from __future__ import annotations

import random

import pytest

from onesh.net.pipe_protocol import MARK_EVERY, Ack, Frame, Mark, Receiver, Sender

FRAME = 64  # small frames: many of them, cut anywhere in a line


def _filter(lines: bytes) -> bytes:
    return b"".join(ln * 2 for ln in lines.splitlines(keepends=True) if b"x" not in ln)


class Stage:
    def __init__(self, upstream: Sender, downstream: Receiver, *, successor: bool) -> None:
        ack = downstream.ack()
        self.tx = Sender(FRAME, FRAME)
        self.written = 0
        skip_to = -1
        if successor:
            # The reader says where it stands; the writer where its replay starts.
            self.tx.resume_at(ack.got, ack.offset)
            self.tx.drop_next(ack.offset - ack.mark.out)
            self.written, skip_to = ack.mark.out, ack.mark.inp
        self.tx.on_ack(ack)
        self.rx = Receiver(4, hold=True, skip_to=skip_to)
        if successor:
            upstream.rewind()
            self.rx.resume(upstream.acked, upstream.acked_bytes)
            assert not self.rx.error
        upstream.on_ack(self.rx.ack())
        self.handed = self.rx.skip_to
        self.carry = b""
        self.out = b""  # made, not yet taken by the sender (it waits for credit)
        self.ending = False

    def step(self) -> None:
        if self.out:
            self.out = self.out[self.tx.write(self.out):]
            if not self.out:
                self.tx.flush()
            return
        if self.tx._closed:
            return
        if self.ending:
            self.tx.close()
            self.rx.release()
            return
        self.tx.checkpoint(Mark(self.handed - len(self.carry), self.written))
        chunks = self.rx.take(1)
        if chunks:
            self.handed += len(chunks[0])
            data = self.carry + bytes(chunks[0])
            cut = data.rfind(b"\n") + 1
            self.carry = data[cut:]
            made = _filter(data[:cut])
        elif self.rx.eof:
            made, self.carry = _filter(self.carry), b""
            self.ending = True
        else:
            return
        self.written += len(made)
        self.out = made[self.tx.write(made):]
        if not self.out:
            self.tx.flush()  # (as the agents do after each block)


def _move(s: Sender, r: Receiver, rng: random.Random, on_ack: object = None, loss: float = 0.05) -> None:
    for f in s.frames_to_send():
        if rng.random() < loss:
            continue  # lost on the wire: a later resend brings it
        a = r.on_frame(f)
        s.on_ack(a)
        if callable(on_ack):
            on_ack(a)
    a = r.ack()
    s.on_ack(a)
    if callable(on_ack):
        on_ack(a)


@pytest.mark.parametrize("seed", range(40))
def test_a_successor_stage_loses_and_repeats_nothing(seed: int) -> None:
    rng = random.Random(seed)
    lines = [(b"x" if rng.random() < 0.3 else b"") + b"%d" % i * rng.randint(1, 30) + b"\n" for i in range(300)]
    data = b"".join(lines)
    upstream = Sender(FRAME, FRAME)
    down = Receiver(4)
    stage = Stage(upstream, down, successor=False)
    deaths = sorted(rng.sample(range(10, 300), 3))
    got = bytearray()
    pos = 0
    for step in range(100000):
        if deaths and step == deaths[0]:
            deaths.pop(0)
            # Killed: all it held is gone, frames in flight to it are lost.
            upstream.on_reconnect()
            stage = Stage(upstream, down, successor=True)
        if pos < len(data):
            pos += upstream.write(data[pos:pos + rng.randint(1, 200)])
            if rng.random() < 0.3:
                upstream.flush()
        else:
            upstream.close()
        if rng.random() < 0.2:
            upstream.on_reconnect()  # (a resend after a quiet spell)
        if rng.random() < 0.2:
            stage.tx.on_reconnect()
        _move(upstream, stage.rx, rng)
        stage.step()
        st = stage

        def committed(a: Ack, st: Stage = st) -> None:
            st.rx.commit(a.mark.inp)
        _move(stage.tx, down, rng, committed)
        if rng.random() < 0.7:
            got += down.read()
        if down.eof and upstream.done and not down._ready:
            break
    got += down.read()
    assert bytes(got) == _filter(data)
    assert down.eof and upstream.done


def test_held_acks_keep_the_writers_replay_until_the_output_is_safe() -> None:
    """The writer upstream keeps what the stage got until the stage's
    output from it is delivered, and no longer: its replay stays bounded
    even when the stage makes no output at all (empty frames carry the
    checkpoints)."""
    rng = random.Random(1)
    upstream = Sender(FRAME, FRAME)
    down = Receiver(4)
    stage = Stage(upstream, down, successor=False)
    upstream.write(b"line one\n" * 7)  # 63 bytes: one frame
    upstream.flush()
    _move(upstream, stage.rx, rng)
    assert upstream.acked == 0 and upstream.all_delivered  # delivered, held
    peak = 0
    for _ in range(20000):  # ~1 MiB of lines the filter drops, then one it keeps
        if upstream.writable():
            upstream.write(b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n")
        _move(upstream, stage.rx, rng, loss=0)
        stage.step()
        _move(stage.tx, down, rng, lambda a: stage.rx.commit(a.mark.inp), loss=0)
        peak = max(peak, upstream.replay_size)
        down.read()
    assert upstream.acked > 0 and peak < 2 * MARK_EVERY


def test_a_successor_refuses_a_writer_that_let_go_of_what_it_needs() -> None:
    r = Receiver(4, hold=True, skip_to=100)
    r.resume(3, 150)
    assert r.error.startswith("cannot resume") and r.eof


def test_the_end_of_stream_is_acknowledged_only_when_the_stage_ends() -> None:
    """A stage that got its input's end but died before it finished: its
    writer still holds that end for the successor (or it would wait for
    input that never comes)."""
    r = Receiver(4, hold=True)
    r.on_frame(Frame(1, b"abc"))
    r.on_frame(Frame(2, b"", eof=True))
    r.commit(3)
    assert r.ack().seq == 1
    r.release()
    assert r.ack().seq == 2
