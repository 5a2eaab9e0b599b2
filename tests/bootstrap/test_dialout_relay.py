"""A dial-out runtime outlives its relay: on loopback (no namespace
needed), a runtime joins with --dial-out through r3, r3 dies, and the
runtime finds another relay and tells membership its new endpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from onesh.runtime.client import ClusterClient
from onesh.runtime.localcluster import ClusterError, start_cluster, stop_cluster

pytestmark = pytest.mark.slow


def wait_member(client: ClusterClient, name: str, pred: Any, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            last = client.status()["members"].get(name) or {}
        except ClusterError:
            pass
        if last and pred(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"{name}: condition not reached; last record {last}")


def test_a_dial_out_runtime_finds_another_relay_when_its_relay_dies(tmp_path: Path) -> None:
    info = start_cluster(str(tmp_path / "c"), nodes=3)
    proc: subprocess.Popen[bytes] | None = None
    log = open(tmp_path / "d1.log", "wb")  # noqa: SIM115 - closed below
    try:
        client = ClusterClient(info.boot, info.secret)
        members = client.status()["members"]
        via = str(members["r3"]["endpoint"])
        proc = subprocess.Popen([sys.executable, "-m", "onesh", "runtime", "--name", "d1", "--join", via, "--dial-out",
                                 "--data-dir", str(tmp_path / "d1"), "--secret", info.secret],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        m = wait_member(client, "d1", lambda m: m.get("alive"), 30)
        assert m["reachable"] is False and m["relay"] == "r3", m
        assert m["endpoint"] != via and m["endpoint"].startswith("tcp://127.0.0.1:")
        assert client.call_endpoint(m["endpoint"], "runtime.info", {}, 2.0)["pid"] == proc.pid

        os.kill(info.pids["r3"], signal.SIGKILL)  # the relay's runtime dies
        m = wait_member(client, "d1", lambda m: m.get("relay") in ("r1", "r2") and m.get("alive"), 60)
        assert client.call_endpoint(m["endpoint"], "runtime.info", {}, 2.0)["pid"] == proc.pid
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        stop_cluster(info)
