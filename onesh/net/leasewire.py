"""The lease channel's datagrams (sans-IO): sealing, opening, replay checks.

A runtime renews its lease with the Raft leader several times a second
across the whole cluster, so a renewal must cost next to nothing: one UDP
datagram each way, handled on the event loop (a ZeroMQ message costs
~0.5 ms of CPU at low rates, in thread hand-offs alone).  As in HashiCorp
memberlist's encrypted gossip, each datagram is sealed with AES-256-GCM
under a key derived from the cluster secret, with a fresh random 96-bit
nonce and the protocol version as associated data; one that does not
open is dropped.  (net.aead: libsodium's AES-GCM when the process has it,
else cryptography's.)  Inside is a small msgpack map, never pickle.

    renew (member → leader): t="renew", name, pid, started, load, seq, at
    ack   (leader → member): t="ack", seq, rejoin, hosts, renew_every, leader

Replays are refused by the receiver (ReplayGuard): a renewal must be
recent (`at` within MAX_SKEW of the leader's clock) and carry a sequence
number above the last one seen from the same run of that runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

VERSION = b"onesh-lease/1"
NONCE = 12
MAX_DATAGRAM = 8192  # a renewal or an ack is well under 1 KiB; anything bigger is not ours
MAX_SKEW = 30.0  # seconds a renewal's clock may differ from the leader's


class WireError(Exception):
    pass


def seal(key: bytes, msg: dict[str, Any]) -> bytes:
    import msgpack

    from onesh.net import aead

    nonce = os.urandom(NONCE)
    return nonce + aead.encrypt(key, nonce, msgpack.packb(msg, use_bin_type=True), VERSION)


def unseal(key: bytes, data: bytes) -> dict[str, Any]:
    """The message in a datagram; WireError when it is not a sound one of ours."""
    import msgpack

    from onesh.net import aead

    if not NONCE + 16 < len(data) <= MAX_DATAGRAM:
        raise WireError(f"datagram of {len(data)} bytes")
    try:
        plain = aead.decrypt(key, data[:NONCE], data[NONCE:], VERSION)
    except aead.AeadError:
        raise WireError("not sealed with the cluster's key") from None
    try:
        msg = msgpack.unpackb(plain, raw=False, strict_map_key=True, max_str_len=4096, max_bin_len=0,
                              max_array_len=256, max_map_len=32)
    except (ValueError, msgpack.UnpackException) as e:
        raise WireError(f"undecodable: {e}") from None
    if not isinstance(msg, dict) or msg.get("t") not in ("renew", "ack"):
        raise WireError("not a lease message")
    return msg


def check_renew(msg: dict[str, Any]) -> str | None:
    """What is wrong with a renewal's fields (None: nothing)."""
    if not isinstance(msg.get("name"), str) or not msg["name"]:
        return "name"
    for k in ("seq", "pid"):
        if not isinstance(msg.get(k), int) or isinstance(msg.get(k), bool):
            return k
    for k in ("started", "at", "load"):
        if not isinstance(msg.get(k), int | float) or isinstance(msg.get(k), bool):
            return k
    return None


@dataclass
class ReplayGuard:
    """The leader's memory of the last renewal from each run of each runtime."""

    last: dict[str, tuple[Any, int]] = field(default_factory=dict)  # name → (incarnation, seq)

    def fresh(self, msg: dict[str, Any], now_wall: float) -> bool:
        if abs(now_wall - float(msg["at"])) > MAX_SKEW:
            return False
        incarnation = (msg["pid"], msg["started"])
        seen = self.last.get(msg["name"])
        if seen is not None and seen[0] == incarnation and msg["seq"] <= seen[1]:
            return False
        self.last[msg["name"]] = (incarnation, msg["seq"])
        return True
