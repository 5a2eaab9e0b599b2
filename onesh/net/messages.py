"""Control-plane messages: a typed, versioned msgpack envelope (sans-IO).

    {"v": 1, "t": kind, "id": int, "m": method, "b": body}

kind is "req", "rep", "err" or "evt".  Decoding is strict: bounded size,
no extension types, string map keys, every field type checked.  Nothing
here touches a socket.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack

VERSION = 1
MAX_MESSAGE = 1 << 20  # control messages; bulk data uses the pipe protocol
KINDS = frozenset({"req", "rep", "err", "evt"})


class ProtocolError(Exception):
    """A message that must be rejected; `reason` is logged, `id` answered if known."""

    def __init__(self, reason: str, msg_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.msg_id = msg_id


@dataclass(frozen=True)
class Message:
    kind: str
    id: int
    method: str
    body: dict[str, Any] = field(default_factory=dict)


def encode(msg: Message) -> bytes:
    data: bytes = msgpack.packb({"v": VERSION, "t": msg.kind, "id": msg.id, "m": msg.method, "b": msg.body},
                                use_bin_type=True)
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message too large ({len(data)} bytes > {MAX_MESSAGE})", msg.id)
    return data


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(f"extension type {code} not allowed")


_PLAIN = (str, bytes, int, float, bool, type(None))
MAX_DEPTH = 32


def _check_plain(obj: Any) -> None:
    """Only plain data crosses the wire: the decoded tree is walked, and
    bounded in depth, rather than trusted to the unpacker's options alone
    (its timestamp extension, for one, bypasses ext_hook)."""
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ProtocolError(f"message nested deeper than {MAX_DEPTH}")
        if isinstance(item, dict):
            stack.extend((k, depth + 1) for k in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
        elif not isinstance(item, _PLAIN):
            raise ProtocolError(f"value of type {type(item).__name__} not allowed")


def decode(data: bytes) -> Message:
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message too large ({len(data)} bytes > {MAX_MESSAGE})")
    try:
        # Size was checked above.  max_ext_len=0 also refuses msgpack's
        # built-in timestamp extension, which never goes through ext_hook.
        obj = msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_no_ext, use_list=True,
                              max_bin_len=MAX_MESSAGE, max_str_len=MAX_MESSAGE,
                              max_array_len=MAX_MESSAGE, max_map_len=MAX_MESSAGE, max_ext_len=0)
    except ProtocolError:
        raise
    except Exception as e:  # noqa: BLE001 - any malformed input is a protocol error
        raise ProtocolError(f"undecodable message: {type(e).__name__}") from None
    _check_plain(obj)
    if not isinstance(obj, dict):
        raise ProtocolError("message is not a map")
    msg_id = obj.get("id")
    msg_id = msg_id if isinstance(msg_id, int) and not isinstance(msg_id, bool) else None
    if obj.get("v") != VERSION:
        raise ProtocolError(f"unsupported protocol version {obj.get('v')!r}", msg_id)
    kind, method, body = obj.get("t"), obj.get("m"), obj.get("b", {})
    if kind not in KINDS:
        raise ProtocolError(f"unknown message kind {kind!r}", msg_id)
    if msg_id is None:
        raise ProtocolError("missing or invalid id")
    if not isinstance(method, str) or len(method) > 128:
        raise ProtocolError("missing or invalid method", msg_id)
    if not isinstance(body, dict):
        raise ProtocolError("body is not a map", msg_id)
    extra = set(obj) - {"v", "t", "id", "m", "b"}
    if extra:
        raise ProtocolError(f"unknown fields {sorted(extra)}", msg_id)
    return Message(kind, msg_id, method, body)


class Correlator:
    """Client-side request/response bookkeeping (sans-IO): ids out, replies
    matched back; replies to unknown ids (late, after a timeout) are dropped."""

    def __init__(self) -> None:
        self.next_id = 1
        self.pending: set[int] = set()

    def request(self, method: str, body: dict[str, Any]) -> Message:
        msg = Message("req", self.next_id, method, body)
        self.next_id += 1
        self.pending.add(msg.id)
        return msg

    def accept(self, msg: Message) -> bool:
        """True if msg answers a pending request (which is then settled)."""
        if msg.kind in ("rep", "err") and msg.id in self.pending:
            self.pending.discard(msg.id)
            return True
        return False

    def forget(self, msg_id: int) -> None:
        self.pending.discard(msg_id)
