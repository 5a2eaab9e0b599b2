"""The wire format of network pipes (version 3), sans-IO.

Every message is a fixed 20-byte header and a body, whatever carries it
(a transport keeps the two apart: two zmq parts, one Unix packet, or a
length-prefixed record in a TLS stream — the header holds the length):

    version u8 | kind u8 | flags u8 | 0 u8 | credit u32 | seq u64 | length u32

    HELLO  body: the pipe id (UTF-8)  sender → receiver, on every (re)connect
    FRAME  body: data (≤ 64 KiB)      flags: EOF (the end of the stream)
    ABORT  body: the reason (UTF-8)   the writer gave up; seq: its next frame
    ACK    no body                    everything up to seq arrived; credit more
                                      may come; flags: GONE (the reader stopped)

A frame's data is never packed, parsed or copied here: the body a
transport received is the frame's payload as it is (a view of what the
socket gave).  The pipe id travels once per connection, in the hello; a
receiver takes frames only from a connection whose hello named its pipe,
so a sender can only ever feed the pipe it was wired to.
"""

from __future__ import annotations

import struct
from typing import TypeAlias

from onesh.net.pipe_protocol import FRAME_MAX, Ack, Data, Frame

VERSION = 3
HEADER = struct.Struct("<BBBxIQI")
HEADER_SIZE = HEADER.size  # 20
HELLO, FRAME, ACK, ABORT = 1, 2, 3, 4
EOF = GONE = 1  # the one flag of a frame, of an ack
PIPE_ID_MAX = 1024  # bytes of a pipe id
REASON_MAX = 4096  # bytes of an abort's reason
BODY_MAX = FRAME_MAX  # no body is longer (a transport refuses bigger messages unread)


class WireError(Exception):
    """A message that is not one of ours: the receiver drops it."""


class Hello(str):
    """A hello, as the pipe id it names."""


AckMsg: TypeAlias = tuple[Ack, bool]  # the ack and `gone`
Message: TypeAlias = Hello | Frame | AckMsg


def _header(kind: int, flags: int, credit: int, seq: int, length: int) -> bytes:
    return HEADER.pack(VERSION, kind, flags, credit, seq, length)


def hello(pipe_id: str) -> tuple[bytes, bytes]:
    body = pipe_id.encode()
    if len(body) > PIPE_ID_MAX:
        raise ValueError(f"pipe id of {len(body)} bytes (at most {PIPE_ID_MAX})")
    return _header(HELLO, 0, 0, 0, len(body)), body


def frame(f: Frame) -> tuple[bytes, Data]:
    """A frame (or an abort) as header and body; the data goes as it is."""
    if f.error:
        # (cut to the limit on a character boundary: it stays UTF-8)
        reason = f.error.encode()[:REASON_MAX].decode("utf-8", "ignore").encode()
        return _header(ABORT, 0, 0, f.seq, len(reason)), reason
    return _header(FRAME, EOF if f.eof else 0, 0, f.seq, len(f.data)), f.data


def ack(a: Ack, gone: bool = False) -> tuple[bytes, bytes]:
    return _header(ACK, GONE if gone else 0, a.credit, a.seq, 0), b""


def body_length(header: bytes | bytearray | memoryview) -> int:
    """How long the body after this header is (a stream transport reads
    exactly that much next); WireError if the header is not ours."""
    if len(header) != HEADER_SIZE:
        raise WireError(f"a header of {len(header)} bytes")
    version, _kind, _flags, _credit, _seq, length = HEADER.unpack(header)
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
    version, kind, flags, credit, seq, length = HEADER.unpack(header)
    if version != VERSION:
        raise WireError(f"unsupported pipe protocol version {version}")
    if length != len(body):
        raise WireError(f"a body of {len(body)} bytes, the header says {length}")
    if kind == FRAME:
        if seq < 1 or flags & ~EOF:
            raise WireError("malformed frame")
        if length > FRAME_MAX:
            raise WireError(f"frame of {length} bytes (at most {FRAME_MAX})")
        return Frame(seq, body, bool(flags & EOF))
    if kind == ACK:
        if length or flags & ~GONE:
            raise WireError("malformed ack")
        return Ack(seq, credit), bool(flags & GONE)
    if kind == HELLO:
        if flags or seq or credit or not 0 < length <= PIPE_ID_MAX:
            raise WireError("malformed hello")
        return Hello(_text(body))
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
