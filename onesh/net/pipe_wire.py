"""The wire format of network pipes (version 4), sans-IO.

Every message is a fixed 52-byte header and a body, whatever carries it
(a transport keeps the two apart: two zmq parts, one Unix packet, or a
length-prefixed record in a TLS stream — the header holds the length):

    version u8 | kind u8 | flags u8 | 0 u8 | credit u32 | seq u64 | length u32
    | a u64 | b u64 | c u64 | d u64

    HELLO  body: the pipe id (UTF-8)  sender → receiver, on every (re)connect;
                                      c: the last frame acked, d: the byte
                                      offset after it (where a replay starts);
                                      a: the writer's epoch (a successor's is
                                      higher: the reader ignores older ones)
    FRAME  body: data (≤ 256 KiB)     flags: EOF (the end of the stream),
                                      MARKED (a, b: the writer's checkpoint),
                                      SPAN (no body: the data is d bytes at
                                      offset c of the file that came with
                                      the connection's hello; Unix only)
    ABORT  body: the reason (UTF-8)   the writer gave up; seq: its next frame
    ACK    no body                    everything up to seq arrived (or is safe
                                      downstream); credit more may come;
                                      c: the last frame delivered, d: the
                                      byte offset after it, a, b: its frame's
                                      checkpoint; flags: GONE (the reader
                                      stopped), HELD (it holds its acks)

(The checkpoints and offsets let a stage restarted elsewhere take over
both its pipes where they stand: pipe_protocol.Mark.)

A frame's data is never packed, parsed or copied here: the body a
transport received is the frame's payload as it is (a view of what the
socket gave).  The pipe id travels once per connection, in the hello; a
receiver takes frames only from a connection whose hello named its pipe,
so a sender can only ever feed the pipe it was wired to.
"""

from __future__ import annotations

import struct
from typing import TypeAlias

from onesh.net.pipe_protocol import FRAME_MAX, Ack, Data, FileSpan, Frame, Mark

VERSION = 4
HEADER = struct.Struct("<BBBxIQIQQQQ")
HEADER_SIZE = HEADER.size  # 52
HELLO, FRAME, ACK, ABORT = 1, 2, 3, 4
EOF = GONE = 1  # flags of a frame, of an ack
MARKED = HELD = 2
SPAN = 4  # (a frame's)
PIPE_ID_MAX = 1024  # bytes of a pipe id
REASON_MAX = 4096  # bytes of an abort's reason
BODY_MAX = FRAME_MAX  # no body is longer (a transport refuses bigger messages unread)


class WireError(Exception):
    """A message that is not one of ours: the receiver drops it."""


class Hello(str):
    """A hello, as the pipe id it names; `acked` and `offset` say where
    the writer's replay starts, `epoch` which writer it is."""

    acked = 0
    offset = 0
    epoch = 0


AckMsg: TypeAlias = tuple[Ack, bool]  # the ack and `gone`
Message: TypeAlias = Hello | Frame | AckMsg


def _header(kind: int, flags: int, credit: int, seq: int, length: int,
            a: int = 0, b: int = 0, c: int = 0, d: int = 0) -> bytes:
    return HEADER.pack(VERSION, kind, flags, credit, seq, length, a, b, c, d)


def hello(pipe_id: str, acked: int = 0, offset: int = 0, epoch: int = 0) -> tuple[bytes, bytes]:
    body = pipe_id.encode()
    if len(body) > PIPE_ID_MAX:
        raise ValueError(f"pipe id of {len(body)} bytes (at most {PIPE_ID_MAX})")
    return _header(HELLO, 0, 0, 0, len(body), epoch, 0, acked, offset), body


def frame(f: Frame) -> tuple[bytes, Data]:
    """A frame (or an abort) as header and body; the data goes as it is."""
    if f.error:
        # (cut to the limit on a character boundary: it stays UTF-8)
        reason = f.error.encode()[:REASON_MAX].decode("utf-8", "ignore").encode()
        return _header(ABORT, 0, 0, f.seq, len(reason)), reason
    m = f.mark
    if f.span is not None:
        flags = (EOF if f.eof else 0) | (MARKED if m is not None else 0) | SPAN
        inp, out = (m.inp, m.out) if m is not None else (0, 0)
        return _header(FRAME, flags, 0, f.seq, 0, inp, out, f.span.offset, f.span.length), b""
    if m is None:
        return _header(FRAME, EOF if f.eof else 0, 0, f.seq, len(f.data)), f.data
    return _header(FRAME, (EOF if f.eof else 0) | MARKED, 0, f.seq, len(f.data), m.inp, m.out), f.data


def ack(a: Ack, gone: bool = False) -> tuple[bytes, bytes]:
    flags = (GONE if gone else 0) | (HELD if a.held else 0)
    return _header(ACK, flags, a.credit, a.seq, 0, a.mark.inp, a.mark.out, a.got, a.offset), b""


def body_length(header: bytes | bytearray | memoryview) -> int:
    """How long the body after this header is (a stream transport reads
    exactly that much next); WireError if the header is not ours."""
    if len(header) != HEADER_SIZE:
        raise WireError(f"a header of {len(header)} bytes")
    version, _kind, _flags, _credit, _seq, length, *_ = HEADER.unpack(header)
    if version != VERSION:
        raise WireError(f"unsupported pipe protocol version {version}")
    if length > BODY_MAX:
        raise WireError(f"a body of {length} bytes (at most {BODY_MAX})")
    return int(length)


def decode(header: Data, body: Data) -> Message:
    """A received message → Hello | Frame | (Ack, gone); WireError
    otherwise.  A frame's data is `body` itself (no copy)."""
    if len(header) != HEADER_SIZE:
        raise WireError(f"a header of {len(header)} bytes")
    version, kind, flags, credit, seq, length, a, b, c, d = HEADER.unpack(header)
    if version != VERSION:
        raise WireError(f"unsupported pipe protocol version {version}")
    if length != len(body):
        raise WireError(f"a body of {len(body)} bytes, the header says {length}")
    if kind == FRAME:
        if seq < 1 or flags & ~(EOF | MARKED | SPAN):
            raise WireError("malformed frame")
        if length > FRAME_MAX:
            raise WireError(f"frame of {length} bytes (at most {FRAME_MAX})")
        mark = Mark(a, b) if flags & MARKED else None
        if flags & SPAN:
            if length or not 0 < d <= FRAME_MAX:
                raise WireError("malformed file span")
            return Frame(seq, b"", bool(flags & EOF), mark=mark, span=FileSpan(-1, c, d))
        return Frame(seq, body, bool(flags & EOF), mark=mark)
    if kind == ACK:
        if length or flags & ~(GONE | HELD) or c < seq:
            raise WireError("malformed ack")
        return Ack(seq, credit, c, d, Mark(a, b), bool(flags & HELD)), bool(flags & GONE)
    if kind == HELLO:
        if flags or seq or credit or not 0 < length <= PIPE_ID_MAX:
            raise WireError("malformed hello")
        h = Hello(_text(body))
        h.acked, h.offset, h.epoch = c, d, a
        return h
    if kind == ABORT:
        if flags or seq < 1 or not 0 < length <= REASON_MAX:
            raise WireError("malformed abort")
        return Frame(seq, b"", error=_text(body))
    raise WireError(f"unknown message kind {kind}")


def _text(body: Data) -> str:
    try:
        return bytes(body).decode()
    except UnicodeDecodeError:
        raise WireError("text that is not UTF-8") from None
