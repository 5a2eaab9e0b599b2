"""Which of several cluster-status answers a reader keeps."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from onesh.kernel.statusread import freshest, leader_problem
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


def test_a_leader_behind_an_answer_already_in_does_not_end_the_wait() -> None:
    # (v3 was cut off as the leader and has not heard of v1's term yet: it
    # still calls itself leader, with the log of the cut)
    got = asyncio.run(freshest([after(0.0, snap(13, "v2")), after(0.01, snap(8, "v3", leader="v3")),
                                after(0.02, snap(13, "v1"))], grace=1.0))
    assert got["raft"]["self"] == "v1"


def test_the_grace_bounds_the_wait_and_errors_are_skipped() -> None:
    t0 = time.monotonic()
    got = asyncio.run(freshest([after(0.0, RpcError("down")), after(0.01, snap(3, "v2", leader=None)),
                                after(5.0, snap(9, "v3"))], grace=0.05))
    assert got["raft"]["commit"] == 3 and time.monotonic() - t0 < 2.0


def test_no_answer_at_all_raises_the_last_error() -> None:
    with pytest.raises(RpcError, match="b"):
        asyncio.run(freshest([after(0.0, RpcError("a")), after(0.01, RpcError("b"))]))


def voter_view(has_quorum: bool, up: dict[str, bool]) -> dict[str, Any]:
    members = {n: {"raft": f"10.0.0.{n[1]}:7000"} for n in ("r1", "r2", "r3")}
    return {"members": members, "leader": None,
            "raft": {"self": "10.0.0.3:7000", "has_quorum": has_quorum,
                     "partners": {members[n]["raft"]: ok for n, ok in up.items()}}}


def test_a_voter_cut_off_from_a_majority_says_no_leader_is_reachable_from_it() -> None:
    # (whether r1 and r2 died or sit behind a partition, r3 cannot tell:
    # it names itself and what it cannot reach, not "the cluster")
    view = voter_view(False, {"r1": False, "r2": False})
    assert leader_problem(view) == "no leader reachable: r3 is cut off from 2 of 3 voters (r1, r2)"


def test_an_election_with_a_quorum_is_not_called_a_cut() -> None:
    assert leader_problem(voter_view(True, {"r1": True, "r2": True})) == \
        "cluster has no leader yet (an election is under way)"
    assert leader_problem(voter_view(True, {"r1": False, "r2": True})) == \
        "cluster has no leader: 1 of 3 voters unreachable (r1)"
