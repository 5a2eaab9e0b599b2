"""A cluster whose majority of voters is gone: every command that needs it
fails in a few seconds with one clear line, never a traceback or a hang."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, kill_device

from onesh.runtime.localcluster import start_cluster, stop_cluster

pytestmark = pytest.mark.slow

class Leaderless:
    def __init__(self, cluster: Cluster, survivor: str, dead: list[str]) -> None:
        self.cluster, self.survivor, self.dead = cluster, survivor, dead
        self.no_leader = f"no leader reachable: {survivor} is cut off from 2 of 3 voters ({', '.join(dead)})"
        # a sensor on a dead runtime (sensor k is on rk)
        self.sensor = f"/dev/sensor/{next(k for k in (1, 2) if f'r{k}' in dead)}"


@pytest.fixture(scope="module")
def leaderless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Leaderless]:
    info = start_cluster(str(tmp_path_factory.mktemp("leaderless") / "c"), nodes=3, sensors=2)
    try:
        # The fs agent's runtime goes, so no read can be served either.
        fs_host = next(h for slot, h in Cluster(info).status()["assign"].items() if slot.startswith("fs"))
        survivor = min(n for n in info.runtimes if n != fs_host)
        dead = sorted(n for n in info.runtimes if n != survivor)
        for name in dead:
            kill_device(info.pids[name])
        time.sleep(1.5)  # the connections to them are seen closed
        yield Leaderless(Cluster(info), survivor, dead)
    finally:
        stop_cluster(info)


@pytest.mark.parametrize("code", ["ls /dev/sensor", "cat {sensor}", "cat {sensor} | grep x @{survivor}",
                                  "mkfifo /pipes/p", "ls /dev/sensor/1 /pipes"])
def test_commands_say_why_and_fail(leaderless: Leaderless, tmp_path: Path, code: str) -> None:
    code = code.format(sensor=leaderless.sensor, survivor=leaderless.survivor)
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-m", "onesh", "--cluster", leaderless.cluster.info.directory, "-c", code],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60, stdin=subprocess.DEVNULL)
    took = time.monotonic() - t0
    assert p.returncode == 1, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and leaderless.no_leader in lines[0], p.stderr
    assert took < 15, f"{code!r} took {took:.1f}s"


def test_the_survivors_own_files_are_still_readable(leaderless: Leaderless, tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "onesh", "--cluster", leaderless.cluster.info.directory, "-c",
                        f"ls /net/{leaderless.survivor}{tmp_path}"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and p.stderr == ""


@pytest.mark.parametrize("code", ["nodes", "uptime"])
def test_views_say_they_may_be_stale(leaderless: Leaderless, tmp_path: Path, code: str) -> None:
    p = subprocess.run([sys.executable, "-m", "onesh", "--cluster", leaderless.cluster.info.directory, "-c", code],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and p.stdout
    assert p.stderr == f"onesh: {code}: {leaderless.no_leader}; this view may be out of date\n"


def test_local_work_goes_on(leaderless: Leaderless, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("a\nb\n")
    p = subprocess.run([sys.executable, "-m", "onesh", "--cluster", leaderless.cluster.info.directory, "-c",
                        "ls; cat f | wc -l; ls /usr >/dev/null && echo ok"],
                       capture_output=True, text=True, cwd=tmp_path, timeout=60, stdin=subprocess.DEVNULL)
    assert p.returncode == 0 and p.stdout == "f\n2\nok\n" and p.stderr == ""


def test_cluster_status_says_so(leaderless: Leaderless) -> None:
    p = subprocess.run([sys.executable, "-m", "onesh", "cluster", "status", "--data-dir",
                        leaderless.cluster.info.directory], capture_output=True, text=True, timeout=60)
    assert leaderless.no_leader in p.stdout and "Traceback" not in p.stderr
