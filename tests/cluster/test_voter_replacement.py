"""A voter gone for good is replaced by a member: a 3-voter cluster loses
two voters, one after the other, and still serves.

Real runtimes (4: voters r1-r3, member r4); each loss is `kill_device`
(the daemon and every process it started).  The replacement time is
shortened to 2 s for the test ($ONESH_REPLACE_VOTER_AFTER)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from cluster_helpers import Cluster, descendants, kill_device

from onesh.kernel.raftfiles import read_voters
from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster
from onesh.runtime.nsclient import NamespaceSync

pytestmark = pytest.mark.slow


def _voters(status: dict[str, Any]) -> set[str]:
    return {n for n, m in status["members"].items() if m.get("raft")}


def _alive_voters(status: dict[str, Any]) -> set[str]:
    return {n for n, m in status["members"].items() if m.get("raft") and m.get("alive")}


def _onesh(cluster: Cluster, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                          capture_output=True, text=True, timeout=60)


def test_two_voters_lost_ten_seconds_apart(make_cluster: Callable[..., Cluster],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESH_REPLACE_VOTER_AFTER", "2")
    cluster = make_cluster(nodes=4)
    status = cluster.status()
    assert _voters(status) == {"r1", "r2", "r3"}, status["members"]
    boot = [cluster.info.runtimes["r1"].listen]  # (the one voter that stays)
    with NamespaceSync(boot, cluster.info.secret) as ns:
        ns.write_bytes("/home/before.txt", b"written with three voters\n")

    kill_device(cluster.info.pids["r2"])
    first = time.monotonic()
    # The leader waits 2 s, then promotes the one member.
    status = cluster.wait_for(lambda s: _alive_voters(s) == {"r1", "r3", "r4"} and s.get("leader"), timeout=30)
    assert not status["members"]["r2"].get("raft"), "the gone voter is still counted as one"
    raft_r4 = status["members"]["r4"]["raft"]
    assert raft_r4 and status["raft"]["has_quorum"]
    # Every live voter recorded the new configuration (what `cluster up` reads).
    for name in ("r1", "r3", "r4"):
        record = read_voters(f"{cluster.info.directory}/{name}")
        assert record is not None and set(record["voters"]) == {
            status["members"][n]["raft"] for n in ("r1", "r3", "r4")}, (name, record)

    time.sleep(max(0.0, first + 10 - time.monotonic()))
    kill_device(cluster.info.pids["r3"])
    # Two of the three voters are left: a majority.  The cluster serves:
    # namespace writes commit, and a pipeline runs on the survivors.
    status = cluster.wait_for(lambda s: s.get("leader") and not s["members"]["r3"].get("alive"), timeout=30)
    assert status["raft"]["has_quorum"], status["raft"]
    with NamespaceSync(boot, cluster.info.secret) as ns:
        ns.write_bytes("/home/after.txt", b"written with two voters left\n")
        assert ns.read_bytes("/home/before.txt") == b"written with three voters\n"
    done = _onesh(cluster, "seq 1 1000 @r1 | wc -l @r4 > /home/count.txt; cat /home/count.txt /home/after.txt")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1000", "written", "with", "two", "voters", "left"], done.stdout

    # The two devices come back (`cluster up` restarts the missing ones):
    # r2 as a member, its place taken; r3 as the voter it still is.
    info = start_cluster(cluster.info.directory)
    assert info.runtimes["r2"].raft is None and info.runtimes["r4"].raft == raft_r4
    assert info.runtimes["r3"].raft == status["members"]["r3"]["raft"]
    again = Cluster(ClusterInfo.load(cluster.info.directory))
    status = again.wait_for(lambda s: _alive_voters(s) == {"r1", "r3", "r4"}
                            and all(m.get("alive") for m in s["members"].values()), timeout=40)
    assert status["raft"]["has_quorum"]

    # The whole cluster restarted: the new voter set comes back as it was.
    stop_cluster(ClusterInfo.load(cluster.info.directory))
    info = start_cluster(cluster.info.directory)
    assert {n for n, r in info.runtimes.items() if r.raft} == {"r1", "r3", "r4"}
    status = Cluster(info).wait_for(lambda s: _alive_voters(s) == {"r1", "r3", "r4"} and s.get("leader"),
                                    timeout=40)
    with NamespaceSync([info.runtimes["r4"].listen], info.secret) as ns:
        assert ns.read_bytes("/home/before.txt") == b"written with three voters\n"
        assert ns.read_bytes("/home/after.txt") == b"written with two voters left\n"


def test_a_voter_replaced_while_frozen_comes_back_as_a_member(make_cluster: Callable[..., Cluster],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESH_REPLACE_VOTER_AFTER", "2")
    cluster = make_cluster(nodes=4)
    tree = descendants(cluster.info.pids["r2"])
    for pid in tree:
        os.kill(pid, signal.SIGSTOP)  # (the whole device: a hung machine, a long partition)
    try:
        cluster.wait_for(lambda s: _alive_voters(s) == {"r1", "r3", "r4"} and s.get("leader"), timeout=30)
    finally:
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    # The voters refuse its Raft connections now; it finds out it was
    # replaced, stops its Raft node and joins as a member.
    status = cluster.wait_for(lambda s: s["members"]["r2"].get("alive") and not s["members"]["r2"].get("raft"),
                              timeout=40)
    assert _alive_voters(status) == {"r1", "r3", "r4"}
    assert read_voters(f"{cluster.info.directory}/r2") is None  # (its old Raft files set aside)
    done = _onesh(cluster, "seq 1 100 @r2 | wc -l @r3")
    assert (done.returncode, done.stdout.strip()) == (0, "100"), done.stderr
