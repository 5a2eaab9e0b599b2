"""Real clusters: runtime processes on loopback, started by the test and
always torn down (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import Cluster, job_processes

from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    started: list[ClusterInfo] = []

    def make(nodes: int = 3, **kw: Any) -> Cluster:
        info = start_cluster(str(tmp_path / f"c{len(started)}"), nodes=nodes, **kw)
        started.append(info)
        return Cluster(info)

    yield make
    for info in started:
        # (from the directory: a test may have restarted some of them)
        stop_cluster(ClusterInfo.load(info.directory))


@pytest.fixture
def revive(cluster: Cluster) -> Iterator[None]:
    """After the test, bring back any runtime it killed (as a device that
    reboots: `cluster up` restarts the missing ones).  For a module whose
    `cluster` fixture is one cluster for all its tests."""
    yield
    if len(cluster.info.alive_pids()) < len(cluster.info.runtimes):
        cluster.info = start_cluster(cluster.info.directory)
        cluster.client.boot = cluster.info.boot
    # The next test finds no process of this one's jobs still on its way
    # out: `agent_on(r3, "cat")` once took one for its own, stopped it, and
    # its own job ran through unstopped.
    deadline = time.monotonic() + 10
    while any(job_processes(pid) for pid in cluster.info.alive_pids().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
