"""A runtime whose stages use more CPU than it offers, for long enough,
has its busiest movable stage moved to a runtime with room for it, and
the job's output is exact (runtime/cpuload.py, engine/distributed.Job.move).

Real runtimes: two join the test's cluster with `--tags pool=x`, a small
one (`--cpus 1 --overload-after 2`) first, so both jobs' `@pool=x` stages
land there; then a roomy one (`--cpus 4`)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, cmdline, end_job, job_processes, running_cluster, start_job

pytestmark = pytest.mark.slow

# A line at a time, each after 4 ms of CPU: the output is the input.
BURN = ("import sys, time\n"
        "for line in sys.stdin:\n"
        "    t = time.process_time()\n"
        "    while time.process_time() - t < 0.004:\n"
        "        pass\n"
        "    sys.stdout.write(line)\n")
LINES = 2500


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("overload") / "c", nodes=3)


@contextlib.contextmanager
def joined(cluster: Cluster, name: str, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """Runtime `name` joins the cluster with `args`; it leaves at the end."""
    rdir = Path(cluster.info.directory) / name
    rdir.mkdir(exist_ok=True)
    with open(rdir / "runtime.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "onesh", "runtime", "--name", name, "--data-dir", str(rdir),
                                 "--secret", cluster.info.secret, "--join", ",".join(cluster.info.boot), *args],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        cluster.wait_for(lambda s: s["members"].get(name, {}).get("alive", False), timeout=20)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def running_on(cluster: Cluster, name: str) -> int:
    listen = cluster.status()["members"][name]["endpoint"]
    return sum(1 for r in cluster.call(listen, "stage.list")["rows"] if r["state"] == "running")


def programs_on(runtime: subprocess.Popen[bytes]) -> list[int]:
    """The burn.py processes a runtime runs for jobs."""
    return [p for p in job_processes(runtime.pid) if b"burn.py" in cmdline(p)]


def test_an_overloaded_runtime_has_a_stage_moved_to_one_with_room(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "burn.py").write_text(BURN)
    code = f"seq 1 {LINES} @r1 | ONESH_DETERMINISTIC=1 python3 burn.py @pool=x | cat @r2"
    with joined(cluster, "small", "--tags", "pool=x", "--cpus", "1", "--overload-after", "2") as small:
        jobs = [start_job(cluster, code, tmp_path) for _ in range(2)]
        try:
            deadline = time.monotonic() + 20
            while running_on(cluster, "small") < 2:
                assert time.monotonic() < deadline, "the jobs' stages never ran on the small runtime"
                time.sleep(0.1)
            with joined(cluster, "roomy", "--tags", "pool=x", "--cpus", "4"):
                deadline = time.monotonic() + 30
                while running_on(cluster, "small") > 1:
                    assert time.monotonic() < deadline, "nothing was moved off the small runtime"
                    time.sleep(0.1)
                # The moved stage's program is gone from the small runtime,
                # not left burning its CPU (it was killed with its group).
                deadline = time.monotonic() + 3
                while len(programs_on(small)) > 1:
                    assert time.monotonic() < deadline, programs_on(small)
                    time.sleep(0.1)
                results = [job.communicate(timeout=120) for job in jobs]
        finally:
            for job in jobs:
                end_job(job)
    want = b"".join(b"%d\n" % i for i in range(1, LINES + 1))
    errs = [err.decode() for _, err in results]
    print(f"\nstderr: {errs}")
    for job, (out, _), err in zip(jobs, results, errs, strict=True):
        assert job.returncode == 0, err
        assert out == want, (len(out), err)
        assert "Traceback" not in err
    moved = [e for e in errs if "moved from small to roomy" in e]
    assert moved, errs
    assert all("(runtime small is overloaded: its stages used" in e for e in moved), errs
