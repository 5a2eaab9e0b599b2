"""A device dies during a job: the job ends, nothing is left running.

Real runtimes; a device's death is `kill_device` (its daemon and every
process it started, frozen then killed together)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import (
    Cluster,
    alive,
    descendants,
    end_job,
    job_processes,
    kill_device,
    running_cluster,
    start_job,
)

pytestmark = pytest.mark.slow

# (cat -n numbers its lines: a stage with state, which is not restarted
# elsewhere (test_stage_recovery.py): its job ends)
PIPELINE = "cat /dev/sensor/1 | cat -n @r2 | head -n 150 @r3 | wc -l"  # 20 readings/s: 7.5 s


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("crash") / "c", nodes=3, sensors=2)


def stage_processes(cluster: Cluster) -> list[int]:
    """Every process a live runtime started for a job (stage hosts, their commands)."""
    out = []
    for pid in cluster.info.alive_pids().values():
        out += [p for p in job_processes(pid) if _cmdline(p)]
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_running(cluster: Cluster, runtime: str, timeout: float = 20) -> None:
    endpoint = cluster.info.runtimes[runtime].listen
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = cluster.call(endpoint, "stage.list")["rows"]
        if any(r["state"] == "running" for r in rows):
            return
        time.sleep(0.1)
    raise AssertionError(f"no stage running on {runtime}")


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def test_a_device_dying_mid_job_ends_the_job(cluster: Cluster, revive: None, tmp_path: Path) -> None:
    job = start_job(cluster, PIPELINE, tmp_path)
    try:
        wait_running(cluster, "r2")
        time.sleep(1.0)  # data flowing through r2
        kill_device(cluster.info.pids["r2"])
        killed = time.monotonic()
        _, err = job.communicate(timeout=20)
        took = time.monotonic() - killed
    finally:
        end_job(job)
    text = err.decode()
    print(f"\njob ended {took:.2f}s after the device died; status {job.returncode}; stderr: {text!r}")
    assert 128 < job.returncode < 256, text
    assert "runtime r2 is gone" in text and "its stages are lost: cat -n @r2" in text, text
    assert "Traceback" not in text
    assert took < 10
    assert wait_gone(stage_processes(cluster), 5) == []
    for rt in ("r1", "r3"):
        rows = cluster.call(cluster.info.runtimes[rt].listen, "stage.list")["rows"]
        assert all(r["state"] == "done" for r in rows), rows


def test_a_stage_host_stops_its_commands_when_its_runtime_dies(cluster: Cluster, revive: None,
                                                                tmp_path: Path) -> None:
    """Only the daemon is killed: its stage host must not keep the data
    flowing for nobody; the job ends all the same."""
    job = start_job(cluster, PIPELINE, tmp_path)
    try:
        wait_running(cluster, "r2")
        daemon = cluster.info.pids["r2"]
        orphans = descendants(daemon)[1:]
        assert orphans, "r2 runs no stage host"
        os.kill(daemon, signal.SIGKILL)
        os.waitpid(daemon, 0)
        assert wait_gone(orphans, 3) == [], [_cmdline(p) for p in alive(orphans)]
        _, err = job.communicate(timeout=20)
    finally:
        end_job(job)
    assert 128 < job.returncode < 256 and b"runtime r2 is gone" in err, err.decode()


def test_the_stages_of_a_killed_shell_stop(cluster: Cluster, tmp_path: Path) -> None:
    """Nobody asks for a job's statuses any more: its runtimes stop it."""
    job = start_job(cluster, "cat /dev/sensor/1 | cat @r2 | cat @r3 > /dev/null", tmp_path)
    try:
        wait_running(cluster, "r3")
        stages = stage_processes(cluster)
        assert stages
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
    assert wait_gone(stages, 10) == [], [_cmdline(p) for p in alive(stages)]
