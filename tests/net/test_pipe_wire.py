"""The pipes' wire format (version 4), without sockets."""

from __future__ import annotations

import os

import pytest

from onesh.net import pipe_wire as wire
from onesh.net.pipe_protocol import FRAME_MAX, Ack, FileSpan, Frame, Mark


def _h(kind: int, flags: int = 0, credit: int = 0, seq: int = 0, length: int = 0, version: int = 4,
       got: int = -1, d: int = 0) -> bytes:
    return wire.HEADER.pack(version, kind, flags, credit, seq, length, 0, 0, seq if got < 0 else got, d)


def test_messages_round_trip() -> None:
    assert wire.decode(*wire.hello("job/1/in")) == "job/1/in"
    assert isinstance(wire.decode(*wire.hello("p")), wire.Hello)
    assert wire.decode(*wire.ack(Ack(7, 3), gone=True)) == (Ack(7, 3), True)
    assert wire.decode(*wire.ack(Ack(0, 32))) == (Ack(0, 32), False)
    f = wire.decode(*wire.frame(Frame(5, b"data", eof=True)))
    assert isinstance(f, Frame) and (f.seq, bytes(f.data), f.eof, f.error) == (5, b"data", True, "")
    a = wire.decode(*wire.frame(Frame(9, b"", error="upstream failed")))
    assert isinstance(a, Frame) and (a.seq, a.error) == (9, "upstream failed")


def test_checkpoints_and_positions_round_trip() -> None:
    """What a stage restarted elsewhere needs to take over its pipes."""
    f = wire.decode(*wire.frame(Frame(5, b"data", mark=Mark(1 << 40, 12))))
    assert isinstance(f, Frame) and f.mark == Mark(1 << 40, 12)
    plain = wire.decode(*wire.frame(Frame(5, b"data")))
    assert isinstance(plain, Frame) and plain.mark is None
    held = Ack(3, 20, got=9, offset=589_000, mark=Mark(77, 66), held=True)
    assert wire.decode(*wire.ack(held)) == (held, False)
    h = wire.decode(*wire.hello("job/2/in", acked=41, offset=2_686_976, epoch=2))
    assert isinstance(h, wire.Hello) and (str(h), h.acked, h.offset, h.epoch) == ("job/2/in", 41, 2_686_976, 2)


def test_a_file_span_round_trips_without_its_fd() -> None:
    """A span says where its data is in the file its connection brought:
    the writer's fd number means nothing to the reader and is not sent."""
    header, body = wire.frame(Frame(7, b"", eof=True, mark=Mark(5, 6), span=FileSpan(9, 1 << 33, FRAME_MAX)))
    assert body == b"" and len(header) == wire.HEADER_SIZE
    f = wire.decode(header, body)
    assert isinstance(f, Frame) and (f.seq, f.eof, f.mark, f.span) == (7, True, Mark(5, 6), FileSpan(-1, 1 << 33, FRAME_MAX))
    plain = wire.decode(*wire.frame(Frame(8, b"", span=FileSpan(3, 0, 10))))
    assert isinstance(plain, Frame) and plain.mark is None and plain.span == FileSpan(-1, 0, 10)


def test_a_frame_is_neither_packed_nor_copied() -> None:
    data = memoryview(os.urandom(FRAME_MAX))
    header, body = wire.frame(Frame(1, data))
    assert body is data and len(header) == wire.HEADER_SIZE
    got = wire.decode(header, body)
    assert isinstance(got, Frame) and got.data is data


MALFORMED: list[tuple[str, bytes, bytes]] = [
    ("short header", b"\x03\x02", b""),
    ("old version", _h(wire.FRAME, seq=1, length=1, version=3), b"x"),
    ("unknown version", _h(wire.HELLO, length=1, version=9), b"p"),
    ("unknown kind", _h(77, seq=1), b""),
    ("length that lies", _h(wire.FRAME, seq=1, length=5), b"x"),
    ("frame numbered 0", _h(wire.FRAME, seq=0, length=1), b"x"),
    ("frame with unknown flags", _h(wire.FRAME, flags=8, seq=1, length=1), b"x"),
    ("file span with a body", _h(wire.FRAME, flags=wire.SPAN, seq=1, length=1, d=1), b"x"),
    ("empty file span", _h(wire.FRAME, flags=wire.SPAN, seq=1), b""),
    ("oversize file span", _h(wire.FRAME, flags=wire.SPAN, seq=1, d=FRAME_MAX + 1), b""),
    ("ack delivering less than it acks", _h(wire.ACK, seq=5, got=4), b""),
    ("oversize frame", _h(wire.FRAME, seq=1, length=FRAME_MAX + 1), b"z" * (FRAME_MAX + 1)),
    ("ack with a body", _h(wire.ACK, seq=1, length=1), b"x"),
    ("ack with unknown flags", _h(wire.ACK, flags=4, seq=1), b""),
    ("empty hello", _h(wire.HELLO), b""),
    ("hello with a seq", _h(wire.HELLO, seq=4, length=1), b"p"),
    ("hello that is not UTF-8", _h(wire.HELLO, length=2), b"\xff\xfe"),
    ("oversize hello", _h(wire.HELLO, length=wire.PIPE_ID_MAX + 1), b"p" * (wire.PIPE_ID_MAX + 1)),
    ("abort without a reason", _h(wire.ABORT, seq=1), b""),
    ("abort numbered 0", _h(wire.ABORT, seq=0, length=4), b"boom"),
]


@pytest.mark.parametrize(("header", "body"), [(h, b) for _, h, b in MALFORMED], ids=[n for n, _, _ in MALFORMED])
def test_decode_rejects_malformed_messages(header: bytes, body: bytes) -> None:
    with pytest.raises(wire.WireError):
        wire.decode(header, body)


def test_a_stream_reader_learns_the_body_length_or_refuses_the_header() -> None:
    assert wire.body_length(wire.hello("pipe")[0]) == 4
    assert wire.body_length(wire.frame(Frame(1, b"x" * 1000))[0]) == 1000
    with pytest.raises(wire.WireError):
        wire.body_length(_h(wire.FRAME, seq=1, length=wire.BODY_MAX + 1))  # never read: dropped first
    with pytest.raises(wire.WireError):
        wire.body_length(_h(wire.FRAME, seq=1, length=1, version=2))


def test_ids_and_reasons_are_bounded() -> None:
    with pytest.raises(ValueError):
        wire.hello("p" * (wire.PIPE_ID_MAX + 1))
    header, body = wire.frame(Frame(3, b"", error="é" * 5000))  # cut to the limit, still UTF-8
    got = wire.decode(header, body)
    assert isinstance(got, Frame) and got.error and len(body) <= wire.REASON_MAX
