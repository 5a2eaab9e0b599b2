"""Distributed pipelines on a real 3-runtime cluster: placement, network
pipes, namespace files, exit statuses, signals and backpressure."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, descendants, running_cluster, unix_socket_paths

from onesh.net import samehost

pytestmark = pytest.mark.slow


# How a job's pipes are wired: as on one host (Unix sockets), or as
# between hosts (ONESH_NO_IPC) over TLS 1.3 or ZeroMQ + Curve (the shell
# picks the transport for all of its job's pipes: ONESH_PIPE_TRANSPORT).
TRANSPORTS = ["unix", "tls", "zmq"]
SCHEME = {"unix": "unix", "tls": "tls", "zmq": "tcp"}


def transport_env(transport: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ONESH_NO_IPC", None)
    env.pop("ONESH_PIPE_TRANSPORT", None)
    if transport != "unix":
        env["ONESH_NO_IPC"] = "1"
        env["ONESH_PIPE_TRANSPORT"] = transport
    return env


def stage_rows(cluster: Cluster, runtime: str, stages: list[str]) -> list[dict[str, object]]:
    rows = cluster.call(cluster.info.runtimes[runtime].listen, "stage.list")["rows"]
    return [r for r in rows if [s.strip() for s in r["stages"]] == stages]


def onesh(cluster: Cluster, code: str, *, cwd: Path, stdin: bytes | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                          input=stdin, capture_output=True, cwd=cwd, timeout=timeout,
                          stdin=None if stdin is not None else subprocess.DEVNULL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("dist") / "c", nodes=3, sensors=2)


def test_plan_places_the_device_stage_on_its_runtime(cluster: Cluster, tmp_path: Path) -> None:
    # start_cluster puts sensor 2 on r2; the shell is attached to r1.
    r = onesh(cluster, "plan 'cat /dev/sensor/2 | grep x > sensor.log'", cwd=tmp_path)
    out = r.stdout.decode()
    assert r.returncode == 0, r.stderr.decode()
    assert "stage 1: cat /dev/sensor/2\n    on r2: reads /dev/sensor/2, a device on r2" in out
    assert "stage 2: grep x" in out
    assert "namespace" in out


def test_headline_one_liner(cluster: Cluster, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                             "cat /dev/sensor/2 | grep x > sensor-1.log"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    time.sleep(4)  # let readings flow (20/s)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C does to the foreground job
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    # Readable from every runtime (pinned cat reads the namespace file there).
    contents = set()
    for rt in ("r1", "r2", "r3"):
        r = onesh(cluster, f"cat sensor-1.log @{rt}", cwd=tmp_path)
        assert r.returncode == 0, r.stderr.decode()
        contents.add(r.stdout)
    assert len(contents) == 1
    data = contents.pop()
    lines = data.splitlines()
    assert lines, "no reading matched"
    # Equal to what the same sensor produces locally through grep.
    last_seq = int(lines[-1].split(b"seq=")[1].split()[0])
    local = subprocess.run(f"{sys.executable} -m onesh.runtime.devices sensor:2=sim:sine --count {last_seq + 1} "
                           "--no-pace | grep x", shell=True, capture_output=True, check=True)
    assert data == local.stdout


def test_exit_statuses_of_remote_stages(cluster: Cluster, tmp_path: Path) -> None:
    r = onesh(cluster, 'false @r2 | true @r3; echo "$? ${PIPESTATUS[*]}"', cwd=tmp_path)
    assert r.stdout == b"0 1 0\n", r.stderr
    r = onesh(cluster, 'true @r2 | false @r3; echo "$? ${PIPESTATUS[*]}"', cwd=tmp_path)
    assert r.stdout == b"1 0 1\n", r.stderr
    r = onesh(cluster, 'set -o pipefail; false @r2 | true @r3; echo $?', cwd=tmp_path)
    assert r.stdout == b"1\n", r.stderr
    r = onesh(cluster, "no-such-command-xyz @r2", cwd=tmp_path)
    assert r.returncode == 127
    assert b"no-such-command-xyz: command not found (on r2)" in r.stderr
    r = onesh(cluster, "sh -c 'kill -9 $$' @r3; echo $?", cwd=tmp_path)
    assert r.stdout == b"137\n", r.stderr


def test_prefix_assignments_reach_a_remote_stage_only(cluster: Cluster, tmp_path: Path) -> None:
    # `NAME=v cmd @r2` puts NAME into that command's environment, as bash
    # does for a local command; the other stages and the shell do not see it.
    code = ('x=shell; GREETING="hi $x" sh -c \'echo "$GREETING"\' @r2 | '
            'sh -c \'cat; echo "[${GREETING-unset}]"\' @r3; echo "[${GREETING-unset}]"')
    r = onesh(cluster, code, cwd=tmp_path)
    assert r.stdout == b"hi shell\n[unset]\n[unset]\n", r.stderr
    r = onesh(cluster, "A=1 B=2 env @r2 | grep -E '^(A|B)=' @r3 | sort", cwd=tmp_path)
    assert r.stdout == b"A=1\nB=2\n", r.stderr


def test_a_remote_shell_builtin_uses_the_cluster_it_runs_in(cluster: Cluster, tmp_path: Path) -> None:
    # `nodes` pinned to r2 runs under a shell in r2's stage host; it must
    # ask this cluster, not start an embedded one of its own.
    r = onesh(cluster, "nodes @r2 | cat @r3", cwd=tmp_path)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, err
    assert "embedded" not in err
    endpoints = {m["endpoint"] for m in cluster.status()["members"].values()}
    listed = {ln.split()[1] for ln in out.splitlines()[1:]}
    assert listed == endpoints, out


def test_stderr_of_remote_stages_reaches_the_shell(cluster: Cluster, tmp_path: Path) -> None:
    r = onesh(cluster, "grep x /nonexistent/file @r2", cwd=tmp_path)
    assert r.returncode == 2
    assert b"/nonexistent/file" in r.stderr and b"[r2]" not in r.stderr  # one runtime: obvious
    # A job on several runtimes labels each stage's lines with where they came from.
    r = onesh(cluster, "grep x /nonexistent/a @r2 | grep y /nonexistent/b @r3; no-such-cmd-q @r3 | cat @r1",
              cwd=tmp_path)
    err = r.stderr.decode()
    assert any(ln.startswith("[r2] ") and "/nonexistent/a" in ln for ln in err.splitlines()), err
    assert any(ln.startswith("[r3] ") and "/nonexistent/b" in ln for ln in err.splitlines()), err
    assert "onesh: no-such-cmd-q: command not found (on r3)" in err  # already says where: no label
    assert "[r3] onesh: no-such" not in err


def test_dev_null_throws_output_and_errors_away_where_the_stage_runs(cluster: Cluster, tmp_path: Path) -> None:
    """/dev/null is every host's, not a namespace file: `> /dev/null` and
    `2>/dev/null` throw away, as in bash, and nothing is stored."""
    r = onesh(cluster, "plan 'seq 3 @r1 | cat > /dev/null @r3'", cwd=tmp_path)
    assert "stdout: thrown away (/dev/null, where the last stage runs)" in r.stdout.decode(), r.stderr
    r = onesh(cluster, "seq 100000 @r1 | cat @r2 > /dev/null; echo $?; seq 2 @r1 | cat @r2 >/dev/stdout", cwd=tmp_path)
    assert (r.returncode, r.stdout, r.stderr) == (0, b"0\n1\n2\n", b"")
    r = onesh(cluster, "grep x /nonexistent/a @r2 2>/dev/null | grep y /nonexistent/b @r3; echo ${PIPESTATUS[*]}",
              cwd=tmp_path)
    err = r.stderr.decode()
    assert r.stdout == b"2 2\n" and "/nonexistent/a" not in err and "/nonexistent/b" in err, err
    r = onesh(cluster, "grep x /nonexistent/c @r2 >/dev/null 2>&1; echo $?", cwd=tmp_path)
    assert (r.stdout, r.stderr) == (b"2\n", b"")
    r = onesh(cluster, "grep x /nonexistent/d @r2 2>/dev/null 2>&1 | cat @r3", cwd=tmp_path)  # (the last one wins)
    assert b"/nonexistent/d" in r.stdout and r.stderr == b"", r
    r = onesh(cluster, "ls /dev/null @r2; cat /dev/null @r3 | wc -c", cwd=tmp_path)
    assert r.stdout == b"/dev/null\n0\n", r.stderr  # (no 600 KiB file named /dev/null in the namespace)
    r = onesh(cluster, "seq 3 @r1 | cat @r2 > /dev/tty", cwd=tmp_path)
    assert r.returncode == 1 and b"/dev/tty: a device of this host cannot take the output" in r.stderr
    assert b"^" in r.stderr and b"Traceback" not in r.stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_bytes_through_three_runtimes(cluster: Cluster, tmp_path: Path, transport: str) -> None:
    """1 GiB (ONESH_TEST_PIPE_BYTES) through four network pipes, the same
    sha256 out as in, over each transport."""
    size = int(os.environ.get("ONESH_TEST_PIPE_BYTES", str(1024 * 1024 * 1024)))
    data = os.urandom(1024 * 1024)
    src = tmp_path / "in.bin"
    with open(src, "wb") as f:
        for _ in range(size // len(data)):
            f.write(data)
    with open(src, "rb") as fin, open(tmp_path / "out.bin", "wb") as fout:
        r = subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                            "cat @r1 | cat @r2 | cat @r3"], stdin=fin, stdout=fout, stderr=subprocess.PIPE,
                           cwd=tmp_path, timeout=600, env=transport_env(transport))
    assert r.returncode == 0, r.stderr.decode()
    assert _sha(tmp_path / "out.bin") == _sha(src)
    for rt in ("r1", "r2", "r3"):  # each stage's input came over the transport asked for
        newest = max(stage_rows(cluster, rt, [f"cat @{rt}"]), key=lambda row: float(str(row["started"])))
        assert newest["stdin_transport"] == SCHEME[transport], newest


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_backpressure_bounds_the_producer(cluster: Cluster, tmp_path: Path, transport: str) -> None:
    """A consumer that sleeps before it reads: the producer's bytes stay
    bounded (window + OS buffers), over each transport."""
    proc = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                             "cat /dev/zero @r1 | sh -c 'sleep 6; head -c 1000000 | wc -c' @r2"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=transport_env(transport))
    try:
        time.sleep(4)
        rows = _ps_rows(cluster, tmp_path)
        producer = [r for r in rows if "cat /dev/zero" in r[-1]]
        assert producer, rows
        # Bytes the producer pushed while nobody read: bounded by the pipe
        # window + OS pipe buffers, not growing with time.
        out_bytes = _parse_size(producer[0][6])
        assert out_bytes < 64 * 1024 * 1024
        for pid in producer[0][3].split(","):
            rss = _rss_kib(int(pid))
            assert rss is None or rss < 200 * 1024
        out, err = proc.communicate(timeout=60)
        assert out.strip() == b"1000000", err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _ps_rows(cluster: Cluster, cwd: Path) -> list[list[str]]:
    r = onesh(cluster, "ps --cluster", cwd=cwd)
    lines = r.stdout.decode().splitlines()[1:]
    rows = []
    for line in lines:
        parts = line.split(None, 8)  # JOB SEG RUNTIME PID STATE IN OUT USER COMMAND
        if len(parts) == 9:
            rows.append(parts)
    return rows


def _parse_size(text: str) -> float:
    units = {"B": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}
    return float(text[:-1]) * units[text[-1]]


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()



class Repl:
    """`onesh` in a pseudo-terminal, attached to the test cluster."""

    def __init__(self, cluster: Cluster, cwd: Path) -> None:
        import pty

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # pragma: no cover - the child execs
            os.chdir(cwd)
            os.environ["HOME"] = str(cwd)
            os.environ["PS1"] = "ready>"
            os.execvp(sys.executable, [sys.executable, "-m", "onesh", "--cluster", cluster.info.directory])
        self.seen = b""

    def send(self, data: bytes) -> None:
        os.write(self.fd, data)

    def expect(self, pattern: bytes, timeout: float = 30) -> bytes:
        """Output up to the first match of regex `pattern` (terminal escapes
        removed); what follows is kept for the next call."""
        import re
        import select

        end = time.monotonic() + timeout
        while True:
            clean = re.sub(rb"\x1b\[[0-9;?]*[a-zA-Z]", b"", self.seen)
            m = re.search(pattern, clean)
            if m:
                self.seen = clean[m.end():]
                return clean[:m.end()]
            if time.monotonic() > end:
                raise AssertionError(f"no {pattern!r} in {clean[-2000:]!r}")
            if select.select([self.fd], [], [], 0.1)[0]:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:
                    raise AssertionError(f"the REPL ended; no {pattern!r} in {clean[-2000:]!r}") from None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.send(b"exit\r")
        os.close(self.fd)
        os.waitpid(self.pid, 0)


def test_repl_runs_a_distributed_pipeline_and_ctrl_c_stops_it(cluster: Cluster, tmp_path: Path) -> None:
    """The REPL runs commands from inside its own event loop: the cluster
    work must still run there, and Ctrl-C must reach the remote stages."""
    repl = Repl(cluster, tmp_path)
    try:
        repl.expect(b"ready>")
        repl.send(b"head -n 2 /dev/sensor/2; echo done-$?\r")
        assert b"seq=1 t=0.050" in repl.expect(b"done-0")
        repl.send(b"cat /dev/sensor/2\r")
        repl.expect(b"seq=3 ")
        repl.send(b"\x03")
        repl.send(b"echo after-$?\r")
        repl.expect(b"after-130")
    finally:
        repl.close()


def test_repl_job_control_stops_and_continues_remote_stages(cluster: Cluster, tmp_path: Path) -> None:
    """Ctrl-Z stops a distributed job (its remote stages too), `jobs` lists
    it, `bg` and `fg` continue it, Ctrl-C then ends it with 130 and the
    remote PIPESTATUS."""
    import select

    def running() -> list[list[str]]:
        return [r for r in _ps_rows(cluster, tmp_path) if "sensor/2" in r[-1] and r[4] == "running"]

    repl = Repl(cluster, tmp_path)
    try:
        repl.expect(b"ready>")
        repl.send(b"cat /dev/sensor/2 | grep -o 'seq=[0-9]*'\r")
        repl.expect(b"seq=3\r?\n")
        repl.send(b"\x1a")  # Ctrl-Z
        repl.expect(b"Stopped")
        repl.expect(b"ready>")
        # Stopped for real: no reading arrives while the job is stopped.
        time.sleep(1.0)
        assert select.select([repl.fd], [], [], 0)[0] == [] or b"seq=" not in os.read(repl.fd, 65536)
        repl.send(b"jobs\r")
        repl.expect(rb"\[1\]\+ +Stopped +cat /dev/sensor/2")
        repl.send(b"bg\r")
        for _ in range(3):
            repl.expect(rb"seq=\d+\r?\n", timeout=10)  # readings flow again, in the background
        repl.send(b"fg\r")
        repl.expect(rb"\ncat /dev/sensor/2 \| grep")  # fg names the job: it is in the foreground
        time.sleep(0.5)
        repl.expect(rb"seq=\d+\r?\n", timeout=10)
        repl.send(b"\x03")
        repl.send(b"echo after-$? ${PIPESTATUS[*]}\r")
        repl.expect(b"after-130 130 130")  # the remote statuses, from the job's process
        repl.send(b"false @r3 | true @r2 | false @r1; echo statuses ${PIPESTATUS[*]}\r")
        repl.expect(b"statuses 1 0 1")
        assert not running()  # nothing left running on the runtimes
    finally:
        repl.close()


def test_sessions_ps_and_kill_from_another_shell(cluster: Cluster, tmp_path: Path) -> None:
    """The session agent knows which shell owns which job: `ps --cluster`
    says whose it is, `sessions` lists the shell, and another shell can
    stop the job by its id (its stages on every runtime get the signal)."""
    proc = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                             "cat /dev/sensor/2 | grep x @r3; echo status=$? ${PIPESTATUS[*]}"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        mine: list[list[str]] = []
        # (the shell registers the job with the session agent once its
        # stages run: until then ps knows the stages, not their owner)
        while not (len(mine) == 2 and all("@" in r[7] for r in mine)) and time.monotonic() < deadline:
            mine = [r for r in _ps_rows(cluster, tmp_path)
                    if r[0].endswith(f":{proc.pid}:1") and r[4] == "running"]
            time.sleep(0.2)
        assert {r[2] for r in mine} == {"r2", "r3"}, mine  # the job spans two runtimes
        assert all("@" in r[7] for r in mine), mine  # USER: user@host of the owning shell
        r = onesh(cluster, "sessions", cwd=tmp_path)
        line = next(ln for ln in r.stdout.decode().splitlines() if ln.split()[0].endswith(f":{proc.pid}"))
        assert "cat /dev/sensor/2" in line and line.split()[5] == "1"  # one job running
        r = onesh(cluster, f"kill -INT {mine[0][0]}; echo $?", cwd=tmp_path)
        assert r.stdout == b"0\n", r.stderr.decode()
        out, err = proc.communicate(timeout=30)
        assert out.endswith(b"status=130 130 130\n"), (out[-200:], err)
        r = onesh(cluster, f"kill {mine[0][0]}", cwd=tmp_path)  # finished now
        assert r.returncode == 1 and b"no such running cluster job" in r.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_killed_stage_host_ends_the_job(cluster: Cluster, tmp_path: Path) -> None:
    """A stage host killed with SIGKILL never ends its output pipes: the
    shell must still finish the job (137) instead of waiting forever."""
    proc = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                             "cat /dev/sensor/2; echo status=$?"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        host = None
        deadline = time.monotonic() + 30
        while host is None and time.monotonic() < deadline:
            for row in _ps_rows(cluster, tmp_path):
                if row[0].endswith(f":{proc.pid}:1") and row[4] == "running":
                    host = _ppid(int(row[3].split(",")[0]))
            time.sleep(0.2)
        assert host, "the job never showed up in ps --cluster"
        os.kill(host, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert out.endswith(b"status=137\n"), (out[-200:], err)
        assert b"Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_relinking_the_pipe_mid_stream_loses_and_duplicates_nothing(cluster: Cluster, tmp_path: Path,
                                                                    transport: str) -> None:
    """Drop and re-open the link between two stages several times while
    256 MiB flow (the stage host's SIGUSR2 fault injection): over the Unix
    sockets runtimes on one host use, and over TLS and over ZeroMQ + Curve,
    what runtimes on different hosts use (forced here with ONESH_NO_IPC)."""
    src = tmp_path / "in.bin"
    block = os.urandom(1 << 20)
    with open(src, "wb") as f:
        for _ in range(256):
            f.write(block)
    env = transport_env(transport)
    ipc = samehost.ipc_dir() or "/nonexistent"
    with open(src, "rb") as fin, open(tmp_path / "out.bin", "wb") as fout:
        proc = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                                 "cat @r1 | tr a a @r2"], stdin=fin, stdout=fout, stderr=subprocess.PIPE,
                                cwd=tmp_path, env=env)
        hosts: set[int] = set()
        relinks = 0
        sockets: set[str] = set()  # Unix sockets in the private directory the job's processes hold
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            job = [p for rt in cluster.info.alive_pids().values() for p in descendants(rt)[1:]] + [proc.pid]
            sockets |= {path for path in unix_socket_paths(job) if path.startswith(ipc + "/")}
            for row in _ps_rows(cluster, tmp_path):
                if row[2] == "r1" and "cat @r1" in row[-1] and row[4] == "running":
                    for pid in row[3].split(","):
                        host = _ppid(int(pid))
                        if host:
                            hosts.add(host)
            for host in hosts:
                try:
                    os.kill(host, signal.SIGUSR2)
                    relinks += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.3)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert relinks >= 1, "the stream ended before any relink: make it longer"
    assert _sha(tmp_path / "out.bin") == _sha(src)
    # The stage host really re-opened its output pipe (a signal that landed
    # after its stream ended would have counted above, not here).
    rows = cluster.call(cluster.info.runtimes["r1"].listen, "stage.list")["rows"]
    done = max((r for r in rows if [s.strip() for s in r["stages"]] == ["cat @r1"]), key=lambda r: r["started"])
    assert done["relinks"] >= 1, done
    reader = max(stage_rows(cluster, "r2", ["tr a a @r2"]), key=lambda row: float(str(row["started"])))
    assert reader["stdin_transport"] == SCHEME[transport], reader  # the link relinked was the one asked for
    if transport == "unix":
        assert len(sockets) >= 3, "the job's pipes were not Unix sockets"  # in r1, in r2, out, 2 err
    else:
        assert not sockets, f"ONESH_NO_IPC, yet Unix sockets: {sockets}"


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
