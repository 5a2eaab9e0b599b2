"""Named pipes (`mkfifo /pipes/x`) on a real 3-runtime cluster: the pubsub
agent introduces readers and writers, data flows over direct network
pipes, several readers each get the whole stream (fan-out)."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, running_cluster

pytestmark = pytest.mark.slow


def onesh(cluster: Cluster, code: str, *, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                          capture_output=True, cwd=cwd, timeout=timeout, stdin=subprocess.DEVNULL)


def start(cluster: Cluster, code: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen[bytes], timeout: float = 60) -> tuple[int, bytes, bytes]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()  # a failing test leaves nothing running
        proc.communicate()
        raise
    assert b"Traceback" not in err, err.decode()
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("fifo") / "c", nodes=3)


def ends_of(cluster: Cluster, path: str, cwd: Path) -> tuple[int, int]:
    """(writers, readers) registered with the pubsub agent, from `stat`."""
    r = onesh(cluster, f"stat {path}", cwd=cwd)
    line = next(ln for ln in r.stdout.decode().splitlines() if ln.startswith("Writers:"))
    writers, readers = line.removeprefix("Writers:").split("Readers:")
    return int(writers), int(readers)


def readers_of(cluster: Cluster, path: str, cwd: Path) -> int:
    return ends_of(cluster, path, cwd)[1]


def wait_readers(cluster: Cluster, path: str, cwd: Path, n: int, *, writers: bool = False) -> None:
    deadline = time.monotonic() + 30
    while ends_of(cluster, path, cwd)[0 if writers else 1] < n:
        assert time.monotonic() < deadline, f"{n} ends never registered on {path}"
        time.sleep(0.3)


def test_mkfifo_ls_stat_rm(cluster: Cluster, tmp_path: Path) -> None:
    r = onesh(cluster, "mkfifo /pipes/a && ls -l /pipes && stat /pipes/a", cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode()
    assert any(ln.startswith("p") and ln.endswith(" a") for ln in out.splitlines()), out
    assert "Kind: pipe" in out and "Writers: 0  Readers: 0" in out
    r = onesh(cluster, "mkfifo /pipes/a", cwd=tmp_path)
    assert r.returncode == 1 and b"File exists" in r.stderr
    r = onesh(cluster, "rm /pipes/a; ls /pipes", cwd=tmp_path)
    assert r.returncode == 0 and b"a\n" not in r.stdout


def test_every_reader_gets_the_whole_stream(cluster: Cluster, tmp_path: Path) -> None:
    assert onesh(cluster, "mkfifo /pipes/fan", cwd=tmp_path).returncode == 0
    # Readers on different runtimes, one through an argument (the builtin
    # agent opens the pipe), one through a redirection (the stage host does).
    r1 = start(cluster, "cat /pipes/fan @r2 | sha256sum", tmp_path)
    r2 = start(cluster, "wc -l < /pipes/fan", tmp_path)
    wait_readers(cluster, "/pipes/fan", tmp_path, 2)
    w = onesh(cluster, "seq 1 2000000 > /pipes/fan @r3; echo $?", cwd=tmp_path, timeout=120)
    assert w.stdout == b"0\n", w.stderr.decode()
    expected = hashlib.sha256(subprocess.run(["seq", "1", "2000000"], capture_output=True).stdout).hexdigest()
    rc, out, err = finish(r1)
    assert rc == 0 and out.split()[0].decode() == expected, err.decode()
    rc, out, err = finish(r2)
    assert rc == 0 and out.strip() == b"2000000", err.decode()
    assert readers_of(cluster, "/pipes/fan", tmp_path) == 0  # both left the directory


def test_two_writers_one_reader(cluster: Cluster, tmp_path: Path) -> None:
    assert onesh(cluster, "mkfifo /pipes/two", cwd=tmp_path).returncode == 0
    reader = start(cluster, "cat /pipes/two", tmp_path)
    wait_readers(cluster, "/pipes/two", tmp_path, 1)
    # Both writers register at once and write a little later, so the
    # reader sees both before either ends (a FIFO read ends when the
    # writers it knows have all closed).  Each writer's output is one
    # write(2) of at most PIPE_BUF (4096) bytes, the only writes a FIFO
    # keeps whole: `seq 1001 2000` (5000 bytes) leaves stdio as 4096 + 904
    # bytes, cut inside a line, and the other writer's block may land
    # between the two pieces, with a real FIFO too.
    w1 = start(cluster, "sh -c 'sleep 2; seq 1 1000' > /pipes/two @r1", tmp_path)  # 3893 bytes
    w2 = start(cluster, "sh -c 'sleep 2; seq 1001 1700' > /pipes/two @r2", tmp_path)  # 3500 bytes
    assert finish(w1)[0] == 0 and finish(w2)[0] == 0
    rc, out, err = finish(reader)
    assert rc == 0, err.decode()
    # Each writer's stream arrives whole and in order; the two interleave.
    lines = [int(x) for x in out.split()]
    assert [x for x in lines if x <= 1000] == list(range(1, 1001))
    assert [x for x in lines if x > 1000] == list(range(1001, 1701))


def test_a_reader_that_stops_gives_the_writer_sigpipe(cluster: Cluster, tmp_path: Path) -> None:
    assert onesh(cluster, "mkfifo /pipes/sp", cwd=tmp_path).returncode == 0
    reader = start(cluster, "head -n 3 /pipes/sp", tmp_path)
    wait_readers(cluster, "/pipes/sp", tmp_path, 1)
    w = onesh(cluster, "seq 1 1000000000 > /pipes/sp @r2; echo $?", cwd=tmp_path, timeout=60)
    assert w.stdout == b"141\n", w.stderr.decode()
    rc, out, _ = finish(reader)
    assert rc == 0 and out == b"1\n2\n3\n"


def test_waiting_ends_are_interruptible(cluster: Cluster, tmp_path: Path) -> None:
    assert onesh(cluster, "mkfifo /pipes/idle", cwd=tmp_path).returncode == 0
    writer = start(cluster, 'echo hi > /pipes/idle; echo "$?"', tmp_path)  # no reader: blocks like open(2)
    reader = start(cluster, "grep x < /pipes/other-idle", tmp_path)  # missing pipe: an error at once
    rc, _, err = finish(reader)
    assert rc == 1 and b"No such" in err, err.decode()
    wait_readers(cluster, "/pipes/idle", tmp_path, 1, writers=True)
    time.sleep(1)
    assert writer.poll() is None
    writer.send_signal(signal.SIGINT)
    rc, out, err = finish(writer)
    assert out == b"130\n", err.decode()
    reader = start(cluster, "cat /pipes/idle", tmp_path)  # no writer: waits
    wait_readers(cluster, "/pipes/idle", tmp_path, 1)
    reader.send_signal(signal.SIGINT)
    assert finish(reader)[0] == 130


def test_a_missing_named_pipe_is_an_error_with_a_hint(cluster: Cluster, tmp_path: Path) -> None:
    r = onesh(cluster, "echo hi > /pipes/nope", cwd=tmp_path)
    assert r.returncode == 1
    assert b"/pipes/nope: no such named pipe (create it with `mkfifo /pipes/nope`)" in r.stderr
    assert b"^" in r.stderr  # the location, with a caret


def test_tee_writes_a_named_pipe_by_name(cluster: Cluster, tmp_path: Path) -> None:
    assert onesh(cluster, "mkfifo /pipes/tee", cwd=tmp_path).returncode == 0
    reader = start(cluster, "cat /pipes/tee @r2 | wc -l", tmp_path)
    wait_readers(cluster, "/pipes/tee", tmp_path, 1)
    # The stream goes on down the pipeline *and* to every reader of /pipes/tee.
    r = onesh(cluster, "seq 1 100000 | tee /pipes/tee @r3 | tail -n 1; echo ${PIPESTATUS[*]}", cwd=tmp_path)
    assert r.stdout == b"100000\n0 0 0\n", r.stderr.decode()
    rc, out, err = finish(reader)
    assert rc == 0 and out.strip() == b"100000", err.decode()
