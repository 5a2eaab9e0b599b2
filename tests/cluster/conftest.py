"""Real clusters: runtime processes on loopback, started by the test and
always torn down (SIGTERM, then SIGKILL)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import Cluster

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
