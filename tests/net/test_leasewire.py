"""The lease channel's datagrams: sealed, checked, replays refused."""

from __future__ import annotations

import os
import time

import pytest

from onesh.net.leasewire import MAX_SKEW, ReplayGuard, WireError, check_renew, seal, unseal

KEY = os.urandom(32)


def renewal(seq: int, at: float | None = None, pid: int = 7) -> dict[str, object]:
    return {"t": "renew", "name": "m1", "pid": pid, "started": 1.5, "load": 0.1, "seq": seq,
            "at": time.time() if at is None else at}


def test_round_trip() -> None:
    msg = renewal(1)
    assert unseal(KEY, seal(KEY, msg)) == msg
    assert check_renew(msg) is None
    assert check_renew({**msg, "seq": "1"}) == "seq" and check_renew({**msg, "name": ""}) == "name"


def test_another_key_a_flipped_bit_or_garbage_do_not_open() -> None:
    data = seal(KEY, renewal(1))
    with pytest.raises(WireError, match="key"):
        unseal(os.urandom(32), data)
    flipped = bytearray(data)
    flipped[-1] ^= 1
    with pytest.raises(WireError):
        unseal(KEY, bytes(flipped))
    for junk in (b"", b"x" * 20, os.urandom(200), b"y" * 100_000):
        with pytest.raises(WireError):
            unseal(KEY, junk)


def test_only_lease_messages() -> None:
    with pytest.raises(WireError, match="not a lease message"):
        unseal(KEY, seal(KEY, {"t": "other"}))


def test_replays_and_stale_renewals_are_refused() -> None:
    guard = ReplayGuard()
    now = time.time()
    assert guard.fresh(renewal(1, now), now)
    assert not guard.fresh(renewal(1, now), now)  # the same datagram again
    assert guard.fresh(renewal(2, now), now)
    assert not guard.fresh(renewal(1, now), now)  # an older one
    assert not guard.fresh(renewal(3, now - MAX_SKEW - 1), now)  # too old to be true
    assert guard.fresh(renewal(1, now, pid=8), now)  # a new run of the runtime starts over
