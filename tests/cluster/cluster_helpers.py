"""A handle on a test cluster (shared by conftest and the tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from onesh.runtime.client import ClusterClient, ClusterError, ClusterInfo, _call


class Cluster:
    def __init__(self, info: ClusterInfo) -> None:
        self.info = info
        self.client = ClusterClient(info.boot, info.secret)

    def status(self) -> dict[str, Any]:
        return self.client.status()

    def call(self, endpoint: str, method: str, body: dict[str, Any] | None = None,
             timeout: float = 1.0) -> dict[str, Any]:
        return asyncio.run(_call([endpoint], self.info.secret, method, body, timeout))

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = self.status()
                if pred(last):
                    return last
            except ClusterError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"condition not reached; last status: {last}")


def running_cluster(directory: Path, **kw: Any) -> Iterator[Cluster]:
    """A real cluster for a module-scoped fixture: started here, always
    stopped (`yield from running_cluster(...)`)."""
    from onesh.runtime.client import start_cluster, stop_cluster

    info = start_cluster(str(directory), **kw)
    try:
        yield Cluster(info)
    finally:
        stop_cluster(info)
