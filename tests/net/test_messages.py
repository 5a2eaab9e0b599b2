"""The control-message codec, without sockets."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from onesh.net.messages import MAX_MESSAGE, Correlator, Message, ProtocolError, decode, encode

json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@given(kind=st.sampled_from(["req", "rep", "err", "evt"]), msg_id=st.integers(0, 2**62),
       method=st.text(max_size=50), body=st.dictionaries(st.text(max_size=10), json_like, max_size=5))
def test_roundtrip(kind: str, msg_id: int, method: str, body: dict[str, object]) -> None:
    msg = Message(kind, msg_id, method, body)
    assert decode(encode(msg)) == msg


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_protocol_error(data: bytes) -> None:
    try:
        decode(data)
    except ProtocolError:
        pass


def pack(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("obj", "reason"), [
    ([1, 2], "not a map"),
    ({"v": 2, "t": "req", "id": 1, "m": "x", "b": {}}, "unsupported protocol version"),
    ({"v": 1, "t": "boom", "id": 1, "m": "x", "b": {}}, "unknown message kind"),
    ({"v": 1, "t": "req", "m": "x", "b": {}}, "missing or invalid id"),
    ({"v": 1, "t": "req", "id": 1, "m": 5, "b": {}}, "invalid method"),
    ({"v": 1, "t": "req", "id": 1, "m": "x", "b": []}, "body is not a map"),
    ({"v": 1, "t": "req", "id": 1, "m": "x", "b": {}, "extra": 1}, "unknown fields"),
])
def test_malformed(obj: object, reason: str) -> None:
    with pytest.raises(ProtocolError) as ei:
        decode(pack(obj))
    assert reason in ei.value.reason


def test_id_recovered_for_error_reply() -> None:
    with pytest.raises(ProtocolError) as ei:
        decode(pack({"v": 9, "t": "req", "id": 42, "m": "x", "b": {}}))
    assert ei.value.msg_id == 42


def test_oversized_and_ext_types_rejected() -> None:
    with pytest.raises(ProtocolError, match="too large"):
        decode(b"\x00" * (MAX_MESSAGE + 1))
    with pytest.raises(ProtocolError, match="too large"):
        encode(Message("req", 1, "x", {"blob": b"x" * MAX_MESSAGE}))
    with pytest.raises(ProtocolError):
        decode(msgpack.packb({"v": 1, "t": "req", "id": 1, "m": "x", "b": {"e": msgpack.ExtType(1, b"evil")}}))
    # the built-in timestamp extension bypasses ext_hook; still refused
    with pytest.raises(ProtocolError):
        decode(msgpack.packb({"v": 1, "t": "req", "id": 1, "m": "x", "b": {"t": [msgpack.Timestamp(5, 0)]}}))
    deep: object = 1
    for _ in range(40):
        deep = [deep]
    with pytest.raises(ProtocolError, match="nested deeper"):
        decode(msgpack.packb({"v": 1, "t": "req", "id": 1, "m": "x", "b": {"d": deep}}))


def test_correlator_matches_and_drops_late_replies() -> None:
    c = Correlator()
    a = c.request("m", {})
    b = c.request("m", {})
    assert a.id != b.id
    assert c.accept(Message("rep", b.id, "m"))
    assert not c.accept(Message("rep", b.id, "m"))  # duplicate
    c.forget(a.id)  # timed out
    assert not c.accept(Message("rep", a.id, "m"))
    assert not c.accept(Message("req", 99, "m"))
