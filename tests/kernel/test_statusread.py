"""Which of several cluster-status answers a reader keeps."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from onesh.kernel.statusread import freshest
from onesh.net.rpc import RpcError


def snap(commit: int, self_: str, leader: str | None = "v1") -> dict[str, Any]:
    return {"members": {}, "leader": leader, "raft": {"commit": commit, "self": self_}}


async def after(delay: float, value: Any) -> Any:
    await asyncio.sleep(delay)
    if isinstance(value, Exception):
        raise value
    return value


def test_a_lagging_follower_answering_first_loses_to_a_fresher_one() -> None:
    got = asyncio.run(freshest([after(0.0, snap(5, "v2")), after(0.01, snap(9, "v3"))], grace=1.0))
    assert got["raft"]["commit"] == 9


def test_the_leaders_answer_ends_the_wait() -> None:
    t0 = time.monotonic()
    got = asyncio.run(freshest([after(0.0, snap(9, "v1")), after(5.0, snap(9, "v2"))], grace=10.0))
    assert got["raft"]["self"] == "v1" and time.monotonic() - t0 < 2.0


def test_the_grace_bounds_the_wait_and_errors_are_skipped() -> None:
    t0 = time.monotonic()
    got = asyncio.run(freshest([after(0.0, RpcError("down")), after(0.01, snap(3, "v2", leader=None)),
                                after(5.0, snap(9, "v3"))], grace=0.05))
    assert got["raft"]["commit"] == 3 and time.monotonic() - t0 < 2.0


def test_no_answer_at_all_raises_the_last_error() -> None:
    with pytest.raises(RpcError, match="b"):
        asyncio.run(freshest([after(0.0, RpcError("a")), after(0.01, RpcError("b"))]))
