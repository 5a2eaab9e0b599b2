"""Everyday use of an attached cluster: the namespace is a union view over
the host's files, `ps --cluster` and `top --cluster` show the data moving,
a big `cp` shows its progress on a terminal only."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, running_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("everyday") / "c", nodes=3, sensors=2)


def onesh(cluster: Cluster, code: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                          capture_output=True, text=True, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def test_ls_of_the_root_shows_the_host_and_the_namespace(cluster: Cluster, tmp_path: Path) -> None:
    r = onesh(cluster, "ls /", tmp_path)
    names = r.stdout.split()
    assert r.returncode == 0, r.stderr
    assert {"usr", "etc", "dev", "net", "pipes"} <= set(names)  # the host's root and the namespace's
    assert len(names) == len(set(names))  # a name both have (dev, tmp, home) is shown once
    long = {line.split()[-1]: line for line in onesh(cluster, "ls -l /", tmp_path).stdout.splitlines()}
    assert " both " in long["dev"] and " host " in long["usr"] and " host " not in long["net"]


def test_a_name_both_have_is_said_to_be_both(cluster: Cluster, tmp_path: Path) -> None:
    r = onesh(cluster, "stat /dev", tmp_path)
    assert r.returncode == 0 and "Where: the cluster namespace, and this host too" in r.stdout, r.stdout
    r = onesh(cluster, "stat /dev/sensor/1", tmp_path)
    assert "Where: the cluster namespace\n" in r.stdout and "Kind: device" in r.stdout
    # a host file is the host's: the system's stat, no namespace line
    r = onesh(cluster, "stat /etc/hostname", tmp_path)
    assert r.returncode == 0 and "Where:" not in r.stdout and "Size:" in r.stdout


def test_a_file_the_cluster_wrote_is_found_by_the_next_shell(cluster: Cluster, tmp_path: Path) -> None:
    assert onesh(cluster, "head -n 5 /dev/sensor/1 > s.log", tmp_path).returncode == 0
    assert not (tmp_path / "s.log").exists()  # (in the namespace: every runtime sees it)
    r = onesh(cluster, "cat s.log | wc -l; ls", tmp_path)
    assert r.stdout.split() == ["5", "s.log"], r.stderr


def test_ps_and_top_show_the_data_moving(cluster: Cluster, tmp_path: Path) -> None:
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                            "cat /dev/zero | head -c 100000000000 @r2 | tr '\\0' 'x' @r3 | fold -w 64 > /dev/null"],
                           cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        time.sleep(3)  # flowing
        top = onesh(cluster, "top --cluster -b -n 1", tmp_path)
        assert top.returncode == 0, top.stderr
        rows = [line.split() for line in top.stdout.splitlines() if line.startswith("vm:") or ":" in line.split(" ")[0]]
        stages = [r for r in rows if len(r) > 8 and r[3] == "running"]
        assert len(stages) == 2, top.stdout
        out_rate = stages[0][6]  # the first segment's OUT/s
        assert out_rate not in ("0B", "-"), top.stdout
        assert "RUNTIME" in top.stdout and "leader" in top.stdout
        os.killpg(job.pid, signal.SIGTSTP)  # what Ctrl-Z does: the remote stages stop too
        time.sleep(1.5)
        ps = onesh(cluster, "ps --cluster", tmp_path).stdout
        ours = [line for line in ps.splitlines() if "head -c 100000000000" in line or "tr '\\0'" in line]
        assert ours and all(" stopped " in line for line in ours), ps
        assert any(not line.split()[6].startswith("0") for line in ours), ps  # bytes out, live
        os.killpg(job.pid, signal.SIGCONT)
    finally:
        os.killpg(job.pid, signal.SIGINT)
        try:
            job.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()


def test_a_job_stopped_for_longer_than_a_writer_waits_for_its_reader_loses_nothing(cluster: Cluster,
                                                                                   tmp_path: Path) -> None:
    """Ctrl-Z for longer than a writer waits for a silent reader
    (pipe_ends.GIVE_UP_AFTER, 10 s), then `fg`: every byte still arrives.
    The program's output is pumped by its stage host, which is not
    stopped (its writer knows its job is); the agents are stopped and
    resume (their writers knew they did not run)."""
    (tmp_path / "gen.py").write_text("import sys\nfor i in range(1, 1000001):\n    sys.stdout.write('%d\\n' % i)\n")
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                            "python3 gen.py @r1 | cat @r2 | cat @r3"],
                           cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        time.sleep(3)  # (nobody reads its output yet: every pipe and window is full)
        os.killpg(job.pid, signal.SIGTSTP)
        time.sleep(11)
        os.killpg(job.pid, signal.SIGCONT)
        out, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    assert job.returncode == 0, err
    assert out == b"".join(b"%d\n" % i for i in range(1, 1000001)), (len(out), err)


def test_cp_shows_progress_on_a_terminal_only(cluster: Cluster, tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(os.urandom(24 << 20))
    r = onesh(cluster, f"cp {big} /data1/big && cp /data1/big {tmp_path}/back", tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr  # a pipe: no progress
    assert (tmp_path / "back").read_bytes() == big.read_bytes()
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                                  f"cp {big} /data1/big2"])
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            seen += data
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"%" in seen and b"MiB" in seen, seen[-500:]
