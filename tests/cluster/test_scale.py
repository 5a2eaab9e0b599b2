"""Membership at device scale: an idle cluster commits (almost) nothing,
and 200 runtimes join, die together and rejoin.

The 200 are light runtimes (onesh.runtime.swarm): real Runtime objects, so
the membership, lease and placement code is the real code, many to a
process.  How fast all this goes is benchmarks/cluster_scale.py's
business; here it is checked that it happens."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, kill_device

from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

LIGHT = int(os.environ.get("ONESH_SCALE_LIGHT", "200"))


def test_an_idle_cluster_of_8_commits_almost_nothing(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(8)
    c.wait_for(lambda s: sum(m["alive"] for m in s["members"].values()) == 8)
    time.sleep(1.0)  # (the last joins settle)
    before = c.status()["raft"]["commit"]
    time.sleep(5.0)
    after = c.status()["raft"]["commit"]
    assert after - before <= 10, f"{after - before} commits in 5 s of idle"


class Swarm:
    def __init__(self, info: ClusterInfo, count: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "onesh.runtime.swarm", "--join", ",".join(info.boot), "--secret", info.secret,
             "--count", str(count), "--prefix", "s"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.names = [f"s{k + 1}" for k in range(count)]
        self.ask("")  # "started N"

    def ask(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # = quit: they leave gracefully
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def big(tmp_path: Path) -> Iterator[tuple[Cluster, Swarm]]:
    info = start_cluster(str(tmp_path / "c"), nodes=3)
    swarm = None
    try:
        swarm = Swarm(info, LIGHT)
        yield Cluster(info), swarm
    finally:
        if swarm is not None:
            swarm.close()
        stop_cluster(ClusterInfo.load(info.directory))


def alive(snap: dict[str, object]) -> set[str]:
    members = snap["members"]
    assert isinstance(members, dict)
    return {n for n, m in members.items() if m.get("alive")}


def test_200_runtimes_join_die_together_and_rejoin(big: tuple[Cluster, Swarm]) -> None:
    c, swarm = big
    everyone = set(swarm.names) | {"r1", "r2", "r3"}
    c.wait_for(lambda s: alive(s) >= everyone, timeout=120)

    # 20 die at the same moment: 19 light runtimes and a voter hosting
    # kernel agents (its agents must move).
    rng = random.Random(LIGHT)
    snap = c.status()
    voter = rng.choice(sorted({h for h in snap["assign"].values()}))
    victims = rng.sample(swarm.names, 19)
    t0 = time.monotonic()
    kill_device(c.info.pids[voter])
    assert swarm.ask("kill " + " ".join(victims)) == "killed 19"
    gone = set(victims) | {voter}
    after = c.wait_for(lambda s: not (alive(s) & gone) and voter not in s["assign"].values()
                       and len(s["assign"]) == 5, timeout=30)
    took = time.monotonic() - t0
    print(f"\n20 of {LIGHT + 3} runtimes killed at once: all marked dead and agents moved in {took:.2f}s")
    # A live runtime taken for dead meanwhile (all 200 share one process
    # here, and a busy moment) is told so at its next renewal and joins
    # again by itself: nobody stays wrongly dead.
    wrongly = everyone - gone - alive(after)
    print(f"{len(wrongly)} live runtimes were taken for dead and rejoined by themselves")
    c.wait_for(lambda s: alive(s) >= everyone - gone, timeout=20)

    # They come back: the light ones as new runs under their old names,
    # the voter as a rebooted device.
    assert swarm.ask("start " + " ".join(victims)) == "started 19"
    start_cluster(c.info.directory)
    c.wait_for(lambda s: alive(s) >= everyone, timeout=60)
