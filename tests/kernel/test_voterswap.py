"""Choosing when and by whom a gone voter is replaced (runtime/voterswap.py),
and `cluster up` taking the voter set the runtimes recorded."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from onesh.kernel.raftfiles import read_voters, retire, write_voters
from onesh.runtime.localcluster import ClusterInfo, RuntimeSpec, _adopt_voter_changes
from onesh.runtime.voterswap import VoterWatch, successor


def test_a_voter_is_overdue_only_after_a_whole_disconnected_stretch() -> None:
    watch = VoterWatch()
    watch.seen({"a:1": True, "b:1": False}, now=100.0)
    assert watch.overdue(101.0, after=2.0) == []
    watch.seen({"a:1": True, "b:1": True}, now=101.5)  # back in time: the clock starts again
    watch.seen({"a:1": False, "b:1": False}, now=102.0)
    assert watch.overdue(103.9, after=2.0) == []
    assert watch.overdue(104.0, after=2.0) == ["a:1", "b:1"]
    watch.seen({"a:1": False}, now=104.5)  # b left the configuration
    assert watch.overdue(110.0, after=2.0) == ["a:1"]
    watch.forget()  # (no longer the leader)
    assert watch.overdue(200.0, after=2.0) == []


def _member(endpoint: str, *, raft: str | None = None, alive: bool = True, ok: bool = True) -> dict[str, Any]:
    return {"endpoint": endpoint, "raft": raft, "alive": alive, "voter_ok": ok}


def test_the_successor_is_a_live_member_that_can_reach_the_voters() -> None:
    members = {
        "r1": _member("tcp://127.0.0.1:5001", raft="127.0.0.1:6001"),
        "r2": _member("tcp://127.0.0.1:5002", raft="127.0.0.1:6002", alive=False),
        "r3": _member("tcp://127.0.0.1:5003", alive=False),  # dead
        "r4": _member("tcp://127.0.0.1:5004", ok=False),  # light, or behind a NAT
        "r5": _member("tcp://10.0.0.5:5005"),  # another machine: loopback Raft is out of reach
        "r6": _member("tcp://127.0.0.1:5006"),
        "r7": _member("tcp://127.0.0.1:5007"),
    }
    assert successor(members, "r1") == ("r6", "127.0.0.1")
    del members["r6"], members["r7"]
    assert successor(members, "r1") is None
    # Voters on a network address: any live member binds Raft on its own.
    members["r1"] = _member("tcp://10.0.0.1:5001", raft="10.0.0.1:6001")
    assert successor(members, "r1") == ("r5", "10.0.0.5")


def test_cluster_up_takes_the_newest_voter_set(tmp_path: Path) -> None:
    info = ClusterInfo(str(tmp_path), [], "", {}, {
        f"r{k}": RuntimeSpec(f"r{k}", f"tcp://127.0.0.1:500{k}", f"127.0.0.1:600{k}" if k <= 3 else None)
        for k in range(1, 5)})
    for k in range(1, 5):
        os.makedirs(tmp_path / f"r{k}")
    old = ["127.0.0.1:6001", "127.0.0.1:6002", "127.0.0.1:6003"]
    write_voters(str(tmp_path / "r2"), "127.0.0.1:6002", old)  # (r2 died with the old set)
    new = ["127.0.0.1:6001", "127.0.0.1:6003", "127.0.0.1:6104"]
    for k, address in ((1, new[0]), (3, new[1]), (4, new[2])):
        write_voters(str(tmp_path / f"r{k}"), address, new)
    _adopt_voter_changes(info)
    assert {n: r.raft for n, r in info.runtimes.items()} == {
        "r1": "127.0.0.1:6001", "r2": None, "r3": "127.0.0.1:6003", "r4": "127.0.0.1:6104"}
    assert info.boot == ["tcp://127.0.0.1:5001", "tcp://127.0.0.1:5003", "tcp://127.0.0.1:5004"]
    # A runtime promoted again starts its Raft files afresh.
    (tmp_path / "r2" / "raft.journal").write_bytes(b"old")
    retire(str(tmp_path / "r2"))
    assert read_voters(str(tmp_path / "r2")) is None and not (tmp_path / "r2" / "raft.journal").exists()
