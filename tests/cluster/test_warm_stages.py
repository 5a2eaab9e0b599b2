"""Warm stage hosts: forked from the runtime's zygote, with onesh's own
commands forked from them; and what happens when the zygote dies.

Real runtimes; the process tree is read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import (
    Cluster,
    alive,
    comm,
    descendants,
    end_job,
    is_zygote,
    job_processes,
    running_cluster,
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("warm") / "c", nodes=3, sensors=1)


def onesh(cluster: Cluster, code: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        return int(f.read().rsplit(b")", 1)[1].split()[1])


def zygote_of(cluster: Cluster, runtime: str) -> int | None:
    rt = cluster.info.pids[runtime]
    return next((p for p in descendants(rt)[1:] if is_zygote(p, rt)), None)


def wait_for_tree(cluster: Cluster, runtime: str, names: set[str], timeout: float = 20) -> list[int]:
    """The job processes on `runtime` once those named `names` all run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        procs = job_processes(cluster.info.pids[runtime])
        if names <= {comm(p) for p in procs}:
            return procs
        time.sleep(0.05)
    raise AssertionError(f"no {names} on {runtime}: {[comm(p) for p in job_processes(cluster.info.pids[runtime])]}")


def test_stage_hosts_and_builtin_agents_are_forked_not_started_anew(cluster: Cluster, tmp_path: Path) -> None:
    job = onesh(cluster, "yes | cat @r2 | wc -l @r2", tmp_path)
    try:
        procs = wait_for_tree(cluster, "r2", {"onesh-stagehost", "cat", "wc"})
        zygote = zygote_of(cluster, "r2")
        assert zygote is not None and parent(zygote) == cluster.info.pids["r2"]
        host = next(p for p in procs if comm(p) == "onesh-stagehost")
        assert parent(host) == zygote
        for name in ("cat", "wc"):
            agent = next(p for p in procs if comm(p) == name)
            assert parent(agent) == host
            # no new interpreter: it has its zygote's command line
            with open(f"/proc/{agent}/cmdline", "rb") as f:
                assert b"onesh.runtime.zygote" in f.read()
        time.sleep(0.5)  # lines flow
    finally:
        os.killpg(job.pid, signal.SIGINT)
        _, err = job.communicate(timeout=30)
    assert job.returncode == 130, err.decode()
    deadline = time.monotonic() + 10
    while job_processes(cluster.info.pids["r2"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert job_processes(cluster.info.pids["r2"]) == []
    assert zygote_of(cluster, "r2") == zygote  # kept for the next stage


def test_a_shell_stage_runs_forked_with_its_status(cluster: Cluster, tmp_path: Path) -> None:
    # (shell builtins, run on r2 by a shell forked from its stage host)
    job = onesh(cluster, "printf 'in %s\\n' \"$PWD\" @r2; false @r2; echo \"status $?\"", tmp_path)
    out, err = job.communicate(timeout=60)
    assert out.decode() == f"in {tmp_path}\nstatus 1\n", err.decode()


def test_a_killed_zygote_loses_no_job_and_stages_start_cold(cluster: Cluster, tmp_path: Path) -> None:
    job = onesh(cluster, "cat /dev/sensor/1 | head -n 40 @r2 | wc -l", tmp_path)
    try:
        procs = wait_for_tree(cluster, "r2", {"onesh-stagehost"})
        zygote = zygote_of(cluster, "r2")
        assert zygote is not None
        os.kill(zygote, signal.SIGKILL)
        out, err = job.communicate(timeout=60)
    finally:
        end_job(job)
    # The running segment's stage host, orphaned, still reported its statuses.
    assert (job.returncode, out.strip()) == (0, b"40"), err.decode()
    deadline = time.monotonic() + 10
    while alive(procs) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(procs) == []
    # The next stages start cold (a new interpreter) and work all the same.
    again = onesh(cluster, "seq 1 1000 | cat @r2 | wc -l", tmp_path)
    out, err = again.communicate(timeout=60)
    assert (again.returncode, out.strip()) == (0, b"1000"), err.decode()
    assert zygote_of(cluster, "r2") is None


@pytest.mark.parametrize("pidfd", [True, False])
def test_a_forked_command_is_awaited_with_or_without_pidfds(pidfd: bool, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Its status, as an exec'd command's; on a kernel without pidfds
    (before 5.3) by a blocking waitpid in a thread."""
    import asyncio

    from onesh.runtime import forked

    if not pidfd:
        def no_pidfd(pid: int, flags: int = 0) -> int:
            raise OSError(38, "Function not implemented")
        monkeypatch.setattr(os, "pidfd_open", no_pidfd)

    def run() -> int:
        print("from the child")
        return 3

    async def main() -> tuple[int, int]:
        with open(tmp_path / "out", "w") as out, open(os.devnull) as devnull:
            child = forked.fork_command(run, stdin=devnull.fileno(), stdout=out.fileno(), stderr=2,
                                        cwd=str(tmp_path), env=dict(os.environ), process_group=0)
        killed = forked.fork_command(lambda: time.sleep(30) or 0, stdin=0, stdout=1, stderr=2,
                                     cwd=str(tmp_path), env=dict(os.environ), process_group=0)
        assert killed.pgid == killed.pid  # (it leads a group of its own)
        os.kill(killed.pid, signal.SIGTERM)
        return await child.wait(), await killed.wait()

    assert asyncio.run(main()) == (3, -signal.SIGTERM)
    assert (tmp_path / "out").read_text() == "from the child\n"
