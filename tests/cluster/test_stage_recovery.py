"""A device dies in the middle of a pipeline and its stage goes on on
another runtime, exactly once (engine/distributed.Job.recover,
runtime/agentpipes.py, net/pipe_protocol.Mark).

Real runtimes; the device's death is `kill_device` (its daemon and every
process it started, at one instant).  The pipeline is held up downstream
while the device dies, so every pipe and window holds data in flight:
the successor must take over exactly where the dead stage's reader stood
and its writer's replay starts, or lines are lost or doubled."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, agent_on, end_job, kill_device, running_cluster, start_job

from onesh.net.netio import STATE_EVERY
from onesh.runtime.localcluster import start_cluster

pytestmark = pytest.mark.slow

N = 3 * 10**6  # (lines, 24 MB: more than the pipes after a stage hold, 4 MiB each, with the kernel's buffers)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("recovery") / "c", nodes=4)


def moved_through(cluster: Cluster, runtime: str, timeout: float = 20) -> int:
    """Bytes the running stage on `runtime` has taken in, once it has some."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = cluster.call(cluster.info.runtimes[runtime].listen, "stage.list")["rows"]
        got = [r["bytes_in"] for r in rows if r["state"] == "running" and r["bytes_in"]]
        if got:
            return int(got[0])
        time.sleep(0.1)
    raise AssertionError(f"nothing moved through {runtime}")


def finish(job: subprocess.Popen[bytes], timeout: float = 60) -> tuple[bytes, str]:
    try:
        out, err = job.communicate(timeout=timeout)
    finally:
        end_job(job)
    return out, err.decode()


@contextlib.contextmanager
def reading(job: subprocess.Popen[bytes]) -> Iterator[list[bytes]]:
    """Read the job's output as it comes (a job nobody reads stops, its
    checkpoints with it) while the block runs; then wait for it, and the
    list yielded holds its output and its stderr."""
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(job.stdout.read() if job.stdout else b""))
    reader.start()
    result: list[bytes] = []
    try:
        yield result
        job.wait(timeout=120)
    finally:
        end_job(job)
        reader.join(10)
    result += [got[0] if got else b"", job.stderr.read() if job.stderr else b""]


def numbers(n: int) -> bytes:
    return b"".join(b"%d\n" % i for i in range(1, n + 1))


def test_a_stateless_stage_goes_on_elsewhere_and_the_output_is_exact(cluster: Cluster, revive: None,
                                                                      tmp_path: Path) -> None:
    # Nobody reads the job's output at first: the pipeline backs up to seq.
    job = start_job(cluster, f"seq 1 {N} @r1 | cat @r2 | grep -v x @r3 | cat @r4", tmp_path)
    try:
        before = moved_through(cluster, "r2")
        time.sleep(0.5)
        kill_device(cluster.info.pids["r2"])
        assert job.stdout is not None
        first = os.read(job.stdout.fileno(), 1)  # (unbuffered: communicate reads the fd itself)
        out, err = finish(job)
    finally:
        end_job(job)
    out = first + out
    print(f"\nr2's cat had taken {before} bytes when its device died; {len(out)} bytes out; stderr: {err!r}")
    assert 0 < before < len(numbers(N))
    assert job.returncode == 0, err
    assert "runtime r2 is gone" in err and "cat @r2 goes on on" in err, err
    assert "Traceback" not in err
    assert len(out) == len(numbers(N))
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(numbers(N)).hexdigest()


def test_a_count_after_the_recovered_stage_is_exact(cluster: Cluster, revive: None, tmp_path: Path) -> None:
    job = start_job(cluster, f"seq 1 {N} @r1 | cat @r2 | grep -v x @r3 | wc -l @r4; echo \"${{PIPESTATUS[*]}}\"",
                    tmp_path)
    wc = agent_on(cluster, "r4", "wc")
    try:
        os.kill(wc, signal.SIGSTOP)  # held up downstream: every window fills
        moved_through(cluster, "r2")
        time.sleep(0.5)
        kill_device(cluster.info.pids["r2"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(wc, signal.SIGCONT)
    out, err = finish(job)
    print(f"\nstdout {out!r}; stderr {err!r}")
    assert job.returncode == 0, err
    assert out.split() == [str(N).encode(), b"0", b"0", b"0", b"0"], (out, err)
    assert "cat @r2 goes on on" in err, err


def test_the_first_stage_fed_by_the_shell_goes_on_elsewhere(cluster: Cluster, revive: None,
                                                            tmp_path: Path) -> None:
    """The shell is the writer upstream: it re-points its own pipe."""
    src = tmp_path / "in.txt"
    src.write_bytes(numbers(N))
    with open(src, "rb") as fin:
        job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                                "cat @r2 | grep -v x @r3"], cwd=tmp_path, stdin=fin, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        moved_through(cluster, "r2")
        time.sleep(0.5)
        kill_device(cluster.info.pids["r2"])
        out, err = finish(job)
    finally:
        end_job(job)
    print(f"\n{len(out)} bytes out; stderr {err!r}")
    assert job.returncode == 0, err
    assert "cat @r2 goes on on" in err, err
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(numbers(N)).hexdigest()


def shell(cluster: Cluster, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                          cwd=cwd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def onesh_cluster(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """`onesh cluster ARGS` on the test's cluster."""
    return subprocess.run([sys.executable, "-m", "onesh", "cluster", *args, "--data-dir", cluster.info.directory],
                          capture_output=True, text=True, timeout=30)


def running_job(cluster: Cluster, runtime: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = cluster.call(cluster.info.runtimes[runtime].listen, "stage.list")["rows"]
        jobs = [r["job"] for r in rows if r["state"] == "running"]
        if jobs:
            return str(jobs[0])
        time.sleep(0.1)
    raise AssertionError(f"no job running on {runtime}")


def test_migrate_moves_a_running_stage_five_times_and_the_output_is_exact(cluster: Cluster,
                                                                          tmp_path: Path) -> None:
    """Read slowly, so the job runs while `migrate`, from other shells,
    moves its middle stage back and forth."""
    job = start_job(cluster, f"seq 1 {N} @r1 | cat @r2 | cat @r3", tmp_path)
    out = bytearray()
    assert job.stdout is not None
    fd = job.stdout.fileno()

    def read_some(n: int) -> None:
        while n > 0 and (chunk := os.read(fd, min(n, 65536))):
            out.extend(chunk)
            n -= len(chunk)

    moves = []
    try:
        job_id = running_job(cluster, "r2")
        read_some(256 * 1024)
        for target in ("r4", "r2", "r4", "r2", "r4"):
            r = shell(cluster, f"migrate {job_id}:1 {target}", tmp_path)
            assert r.returncode == 0, r.stderr
            moves.append(target)
            read_some(512 * 1024)  # (data flows through the moved stage before the next move)
        ps = shell(cluster, "ps --cluster", tmp_path).stdout
        rest, err = finish(job)
    finally:
        end_job(job)
    out += rest
    print(f"\n{len(out)} bytes out; stderr {err!r}")
    assert job.returncode == 0, err
    assert err.count("moved from") == 5, err
    assert "r4<-r2<-r4<-r2<-r4<-r2" in ps, ps
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(numbers(N)).hexdigest()


def test_migrate_refuses_what_it_cannot_move_and_says_why(cluster: Cluster, tmp_path: Path) -> None:
    job = start_job(cluster, "seq 1 100000000 @r1 | cat -n @r2", tmp_path)
    try:
        for bad, status, why in (("drain r9", 2, "r9: no such runtime"), ("drain", 2, "RUNTIME")):
            r = onesh_cluster(cluster, *bad.split())
            assert r.returncode == status and why in r.stderr and "Traceback" not in r.stderr, r.stderr
        job_id = running_job(cluster, "r2")
        r = shell(cluster, f"migrate {job_id}:1 r3", tmp_path)
        assert r.returncode == 1 and "cat -n @r2 cannot move" in r.stderr, r.stderr
        r = shell(cluster, f"migrate {job_id}:1 r9", tmp_path)
        assert r.returncode == 1 and "r9: no such runtime" in r.stderr, r.stderr
        r = shell(cluster, f"migrate {job_id}:7 r3", tmp_path)
        assert r.returncode == 1 and "no such running segment" in r.stderr, r.stderr
        r = shell(cluster, "migrate nonsense r3", tmp_path)
        assert r.returncode == 2 and "not JOB:SEG" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    finally:
        os.killpg(job.pid, signal.SIGINT)
        finish(job)


@pytest.mark.parametrize("how", ["SIGTERM", "cluster drain"])
def test_a_leaving_runtime_hands_its_stage_over_before_it_goes(how: str, cluster: Cluster, revive: None,
                                                               tmp_path: Path) -> None:
    """SIGTERM (a device shut down in order) or `onesh cluster drain r2`:
    its movable stage is moved away by its shell before the runtime exits,
    not lost with it."""
    job = start_job(cluster, f"seq 1 {N} @r1 | cat @r2 | cat @r3", tmp_path)
    try:
        moved_through(cluster, "r2")
        pid = cluster.info.pids["r2"]
        if how == "SIGTERM":
            os.kill(pid, signal.SIGTERM)
        else:
            r = onesh_cluster(cluster, "drain", "r2")
            assert r.returncode == 0 and "r2 left the cluster" in r.stdout, (r.stdout, r.stderr)
        os.waitpid(pid, 0)
        out, err = finish(job)
    finally:
        end_job(job)
    print(f"\n{len(out)} bytes out; stderr {err!r}")
    assert job.returncode == 0, err
    assert "cat @r2 moved from r2 to r" in err and "(runtime r2 is leaving)" in err, err
    assert "is gone" not in err, err
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(numbers(N)).hexdigest()


def test_a_counting_stage_goes_on_from_its_checkpoint_and_the_count_is_exact(cluster: Cluster, revive: None,
                                                                           tmp_path: Path) -> None:
    """`wc -l` keeps state: its successor starts from the last checkpoint
    stored in the namespace (2 replicas) and counts the rest again."""
    n = 20_000_000
    job = start_job(cluster, f"seq 1 {n} @r1 | wc -l @r2", tmp_path)
    # (seq let go in short bursts: with 4 MiB windows, 0.2 s bursts let it
    # finish before a checkpoint or two were stored)
    counted = stop_input_and_kill(cluster, "r2", 3 * STATE_EVERY)
    out, err = finish(job, timeout=120)
    print(f"\nwc had counted {counted} bytes when its device died; stdout {out!r}; stderr {err!r}")
    assert job.returncode == 0, err
    assert out.split() == [str(n).encode()], (out, err)
    m = re.search(r"wc -l @r2 goes on on r\d \(from byte (\d+) of its input\)", err)
    assert m and int(m[1]) > 0, err  # (from a stored checkpoint, not from the start)


def test_migrate_moves_a_running_count_five_times_and_it_is_exact(cluster: Cluster, tmp_path: Path) -> None:
    n = 20_000_000
    job = start_job(cluster, f"seq 1 {n} @r1 | wc -l @r2", tmp_path)
    seq = agent_on(cluster, "r1", "seq")
    os.kill(seq, signal.SIGSTOP)  # (it runs only in short bursts: the job is still counting at each move)
    try:
        job_id = running_job(cluster, "r2")
        for target in ("r4", "r2", "r4", "r3", "r4"):
            os.kill(seq, signal.SIGCONT)
            time.sleep(0.05)
            os.kill(seq, signal.SIGSTOP)
            r = shell(cluster, f"migrate {job_id}:1 {target}", tmp_path)
            assert r.returncode == 0, r.stderr
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(seq, signal.SIGCONT)
    out, err = finish(job, timeout=120)
    print(f"\nstdout {out!r}; stderr {err!r}")
    assert job.returncode == 0, err
    assert err.count("moved from") == 5, err
    assert out.split() == [str(n).encode()], (out, err)


def stop_input_and_kill(cluster: Cluster, runtime: str, least: int) -> int:
    """Hold seq (on r1) still once `runtime`'s stage has taken in at least
    `least` bytes (its checkpoints stored), kill that device, let seq go.
    → the bytes the stage had taken in."""
    seq = agent_on(cluster, "r1", "seq")
    os.kill(seq, signal.SIGSTOP)  # (it runs in short bursts: the stage waits for more, mid-stream)
    try:
        counted = 0
        while counted < least:
            os.kill(seq, signal.SIGCONT)
            time.sleep(0.05)
            os.kill(seq, signal.SIGSTOP)
            time.sleep(1.2)  # (the stage's next report)
            counted = moved_through(cluster, runtime)
        kill_device(cluster.info.pids[runtime])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(seq, signal.SIGCONT)
    return counted


def uniq_c(lines: list[bytes]) -> bytes:
    import itertools

    return b"".join(b"%7d %s\n" % (len(list(g)), k) for k, g in itertools.groupby(lines))


def test_a_sort_goes_on_from_what_it_had_read_and_the_output_is_exact(cluster: Cluster, revive: None,
                                                                       tmp_path: Path) -> None:
    """The issue's `sort @r2` in the middle: what sort read is stored as it
    reads (spills beside its checkpoint, 2 replicas); its successor starts
    with all of it and reads only the rest."""
    n = 3_000_000
    job = start_job(cluster, f"seq 1 {n} @r1 | sort @r2 | grep -v x @r3 | cat @r4", tmp_path)
    counted = stop_input_and_kill(cluster, "r2", 2 * STATE_EVERY)
    out, err = finish(job, timeout=120)
    print(f"\nsort had read {counted} bytes when its device died; {len(out)} bytes out; stderr {err!r}")
    assert job.returncode == 0, err
    want = b"".join(sorted(numbers(n).splitlines(keepends=True)))
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(want).hexdigest()
    m = re.search(r"sort @r2 goes on on r\d \(from byte (\d+) of its input\)", err)
    assert m and int(m[1]) >= STATE_EVERY, err  # (from what it had stored, not from the start)


def test_a_sort_that_dies_while_it_writes_goes_on_exactly_once(cluster: Cluster, revive: None,
                                                               tmp_path: Path) -> None:
    """Its reader has part of the sorted output: the successor sorts again
    and drops what the reader has."""
    n = 2_000_000
    job = start_job(cluster, f"seq 1 {n} @r1 | sort -n -r @r2 | cat @r3 | cat @r4", tmp_path)
    cat = agent_on(cluster, "r3", "cat")
    try:
        os.kill(cat, signal.SIGSTOP)  # (sort's output backs up: the window fills)
        deadline = time.monotonic() + 30
        while moved_through(cluster, "r2") < len(numbers(n)) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        os.kill(cat, signal.SIGCONT)
    kill_device(cluster.info.pids["r2"])
    out, err = finish(job, timeout=120)
    print(f"\n{len(out)} bytes out; stderr {err!r}")
    assert job.returncode == 0, err
    want = b"".join(b"%d\n" % i for i in range(n, 0, -1))
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(want).hexdigest()
    assert "sort -n -r @r2 goes on on" in err, err


@pytest.mark.parametrize("case", ["uniq", "head", "tail"])
def test_a_stage_with_state_goes_on_from_its_checkpoint_and_the_output_is_exact(case: str, cluster: Cluster,
                                                                                revive: None,
                                                                                tmp_path: Path) -> None:
    """uniq's current run, head's count and tail's last lines go into its
    checkpoints; uniq and head write as they go, so a checkpoint is stored
    only once their reader has the output it counts."""
    # (head and tail: 6M lines, 51 MB, so that seq, let go in short bursts,
    # is not done before 2 checkpoints were stored; uniq waits for 1.5)
    n = 3_000_000 if case == "uniq" else 6_000_000
    lines = numbers(n).splitlines()
    code, label, want = {
        "uniq": (f"seq 1 {n} @r1 | cut -c1-4 @r1 | uniq -c @r2 | cat @r3", "uniq -c @r2",
                 uniq_c([ln[:4] for ln in lines])),
        "head": (f"seq 1 {n} @r1 | head -n {n - 5} @r2 | tail -n 2 @r3", f"head -n {n - 5} @r2",
                 b"%d\n%d\n" % (n - 6, n - 5)),
        "tail": (f"seq 1 {n} @r1 | tail -n 3 @r2", "tail -n 3 @r2", b"%d\n%d\n%d\n" % (n - 2, n - 1, n)),
    }[case]
    job = start_job(cluster, code, tmp_path)
    least = 2 * STATE_EVERY if case != "uniq" else STATE_EVERY + STATE_EVERY // 2
    with reading(job) as result:  # (uniq and head write as they go)
        counted = stop_input_and_kill(cluster, "r2", least)
    out, err = result[0], result[1].decode()
    print(f"\n{label} had read {counted} bytes when its device died; stderr {err!r}")
    assert job.returncode == 0, err
    assert out == want, (out[:200], len(out), len(want), err)
    m = re.search(re.escape(label) + r" goes on on r\d \(from byte (\d+) of its input\)", err)
    assert m and int(m[1]) > 0, err


def namespace_sha(cluster: Cluster, path: str, cwd: Path) -> tuple[int, str]:
    """(size, sha256) of namespace file `path`, as the shell reads it."""
    r = subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", f"cat {path}"],
                       cwd=cwd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return len(r.stdout), hashlib.sha256(r.stdout).hexdigest()


def test_a_tee_goes_on_from_its_checkpoint_and_its_file_is_exact(cluster: Cluster, revive: None,
                                                                tmp_path: Path) -> None:
    """`tee -a FILE` on the cluster writes a namespace file; its checkpoints
    hold where it stands in it (what it wrote committed first).  Its
    successor cuts FILE back to that and goes on: FILE has what it had
    before, then every line exactly once, and so has the output."""
    n = 4_000_000
    log = f"{tmp_path}/tee.log"
    r = shell(cluster, f"echo before @r3 > {log}; stat {log}", tmp_path)
    assert r.returncode == 0 and "the cluster namespace" in r.stdout, (r.stdout, r.stderr)
    job = start_job(cluster, f"seq 1 {n} @r1 | tee -a {log} @r2 | cat @r3", tmp_path)
    with reading(job) as result:
        counted = stop_input_and_kill(cluster, "r2", 2 * STATE_EVERY)
    out, err = result[0], result[1].decode()
    print(f"\ntee had read {counted} bytes when its device died; stderr {err!r}")
    assert job.returncode == 0, err
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(numbers(n)).hexdigest(), (len(out), err)
    m = re.search(r"tee -a \S+ @r2 goes on on r\d \(from byte (\d+) of its input\)", err)
    assert m and int(m[1]) > 0, err  # (from a stored checkpoint, not from the start)
    want = b"before\n" + numbers(n)
    assert namespace_sha(cluster, log, tmp_path) == (len(want), hashlib.sha256(want).hexdigest())


SLOW = "import sys, time\nfor i in range(1, 1201):\n    print(i, flush=True)\n    time.sleep(0.004)\n"


def test_a_tee_of_a_slow_stream_cuts_its_file_back_to_its_checkpoint(cluster: Cluster, revive: None,
                                                                     tmp_path: Path) -> None:
    """A line at a time, as from a sensor; its reader is held up, so the
    checkpoints tee makes (committing its FILE first) are not stored: when
    its device dies FILE holds more than the last stored checkpoint says.
    The successor cuts it back there: no line twice."""
    (tmp_path / "slow.py").write_text(SLOW)
    log = f"{tmp_path}/slow.log"
    job = start_job(cluster, f"python3 slow.py @r1 | tee {log} @r2 | cat @r3", tmp_path)
    with reading(job) as result:
        while moved_through(cluster, "r2") < 600:  # (a checkpoint stored: every 64 reads)
            time.sleep(0.1)
        time.sleep(0.5)
        cat = agent_on(cluster, "r3", "cat")
        os.kill(cat, signal.SIGSTOP)
        try:
            time.sleep(1.5)  # (tee goes on: its checkpoints wait for the reader's acks)
            kill_device(cluster.info.pids["r2"])
        finally:
            os.kill(cat, signal.SIGCONT)
    out, err = result[0], result[1].decode()
    print(f"\nstderr {err!r}")
    assert job.returncode == 0, err
    want = numbers(1200)
    assert out == want, (len(out), err)
    assert re.search(r"tee \S+ @r2 goes on on r\d \(from byte [1-9]\d* of its input\)", err), err
    assert namespace_sha(cluster, log, tmp_path) == (len(want), hashlib.sha256(want).hexdigest())


# A program (not a builtin agent): restarted elsewhere, it runs again from
# the start of its input, which its writer keeps while it runs.
DOUBLE = "import sys\nfor line in sys.stdin:\n    sys.stdout.write('%d\\n' % (2 * int(line)))\n"
PN = 2_500_000  # (lines: its doubled output, 20 MB, is more than the pipes on the way hold: 4 MiB each)
OCT = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(('%d\\n' % (2 * int(line))) * 8)\n"


def doubled(n: int) -> bytes:
    return b"".join(b"%d\n" % (2 * i) for i in range(1, n + 1))


def eightfold(n: int) -> bytes:
    return b"".join(b"%d\n" % (2 * i) * 8 for i in range(1, n + 1))


def kill_program_stage(cluster: Cluster, code: str, tmp_path: Path, least: int = 1) -> tuple[bytes, str, int]:
    """Run `code` (its program stage on r2), let it back up (nobody reads
    the job's output yet), kill r2's device, then read everything."""
    (tmp_path / "double.py").write_text(DOUBLE)
    job = start_job(cluster, code, tmp_path)
    try:
        deadline = time.monotonic() + 20
        while (taken := moved_through(cluster, "r2")) < least and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        kill_device(cluster.info.pids["r2"])
        out, err = finish(job)
    finally:
        end_job(job)
    print(f"\nr2's program had taken {taken} bytes; {len(out)} bytes out; stderr {err!r}")
    assert "Traceback" not in err
    return out, err, taken


def test_a_program_runs_again_elsewhere_and_its_output_comes_at_least_once(cluster: Cluster, revive: None,
                                                                            tmp_path: Path) -> None:
    out, err, _ = kill_program_stage(cluster, f"seq 1 {PN} @r1 | python3 double.py @r2 | cat @r3", tmp_path)
    assert "python3 double.py @r2 goes on on" in err and "its output since comes again" in err, err
    full = doubled(PN)
    # What the reader had when the device died, then all of it again:
    # nothing lost, a prefix repeated.
    assert out.endswith(full) and len(out) > len(full), (len(out), len(full))
    assert full.startswith(out[:len(out) - len(full)])


DOUBLE_JS = ("require('readline').createInterface({input: process.stdin})"
             ".on('line', (l) => process.stdout.write(`${2 * Number(l)}\\n`));\n")


@pytest.mark.parametrize("program", ["python3 double.py", "node double.js", "awk '{ print $1 * 2 }'"])
def test_a_program_declared_deterministic_goes_on_exactly_once(program: str, cluster: Cluster, revive: None,
                                                               tmp_path: Path) -> None:
    """A Python program, a Node.js one, and a native one."""
    (tmp_path / "double.js").write_text(DOUBLE_JS)
    out, err, _ = kill_program_stage(
        cluster, f"seq 1 {PN} @r1 | ONESH_DETERMINISTIC=1 {program} @r2 | cat @r3; "
                 'echo "${PIPESTATUS[*]}" >&2', tmp_path)
    assert "goes on on" in err and "what it makes again is dropped" in err, err
    assert err.rstrip().endswith("0 0 0"), err
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(doubled(PN)).hexdigest()


@pytest.mark.parametrize("writer", ["finished", "still sending"])
def test_a_program_whose_input_outgrew_its_replay_ends_the_job_and_says_why(writer: str, cluster: Cluster,
                                                                           revive: None, tmp_path: Path) -> None:
    (tmp_path / "double.py").write_text(DOUBLE)
    (tmp_path / "eight.py").write_text(OCT)
    # "finished": an input that its pipe holds whole (seq is done at the
    # kill: 2.1 MB), an output eight times that, which the pipes after it
    # do not (the program is not)
    n, program, made = (300_000, "eight.py", eightfold) if writer == "finished" else (3_000_000, "double.py", doubled)
    code = f"seq 1 {n} @r1 | ONESH_REPLAY_MAX=100000 python3 {program} @r2 | cat @r3"
    if writer == "finished":
        # Past ONESH_REPLAY_MAX bytes it lets go of its input rather than
        # stall its writer: the job runs through...
        r = subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                           cwd=tmp_path, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 0 and r.stdout == made(n), r.stderr
        r = subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                            code.replace("=100000", "=lots")],
                           cwd=tmp_path, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
        assert r.returncode == 0 and r.stdout == made(n), r.stderr
        assert b"ONESH_REPLAY_MAX=lots: not a number of bytes; 16 MiB it is" in r.stderr, r.stderr
    # ...but it cannot run again from the start once its device dies: the
    # shell sees that its writer is done, or the successor hears from the
    # writer that the start of the input is gone.
    out, err, taken = kill_program_stage(cluster, code, tmp_path, least=200_000)
    assert taken >= 200_000
    assert "ONESH_REPLAY_MAX" in err, err
    if writer == "finished":
        assert "could not restart" in err and "its stages are lost" in err, err
    else:
        assert "cannot run again on" in err, err
    assert len(out) < len(made(n))


def test_migrate_moves_a_deterministic_program_and_the_output_is_exact(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "double.py").write_text(DOUBLE)
    job = start_job(cluster, f"seq 1 {PN} @r1 | ONESH_DETERMINISTIC=1 python3 double.py @r2 | cat @r3", tmp_path)
    assert job.stdout is not None
    out = bytearray(os.read(job.stdout.fileno(), 65536))
    try:
        job_id = running_job(cluster, "r2")
        for target in ("r4", "r2"):
            r = shell(cluster, f"migrate {job_id}:1 {target}", tmp_path)
            assert r.returncode == 0, r.stderr
            out += os.read(job.stdout.fileno(), 65536)
        rest, err = finish(job)
    finally:
        end_job(job)
    out += rest
    print(f"\n{len(out)} bytes out; stderr {err!r}")
    assert job.returncode == 0, err
    assert err.count("moved from") == 2 and "what it makes again is dropped" in err, err
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(doubled(PN)).hexdigest()


def test_a_stateless_program_goes_on_from_its_last_idle_point(cluster: Cluster, revive: None,
                                                              tmp_path: Path) -> None:
    """ONESH_STATELESS=1: its input is let go of as far as it was idle
    (it had taken and answered all of it), so more input than a restart
    replays (16 MiB here) still goes on elsewhere, from that point."""
    # (22.5 MB of 9-byte lines: the 64 KiB frames end inside lines, so the
    # program is often idle holding the start of one)
    first, last = 10_000_001, 12_500_000
    (tmp_path / "double.py").write_text(DOUBLE)
    job = start_job(cluster, f"seq {first} {last} @r1 | ONESH_STATELESS=1 ONESH_DETERMINISTIC=1 python3 double.py @r2 "
                             "| cat @r3", tmp_path)
    assert job.stdout is not None
    out = bytearray()
    reader = threading.Thread(target=lambda: out.extend(job.stdout.read() if job.stdout else b""))
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while moved_through(cluster, "r2") < 17_000_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        kill_device(cluster.info.pids["r2"])
        job.wait(timeout=120)
        assert job.stderr is not None
        err = job.stderr.read().decode()
    finally:
        end_job(job)
        reader.join()
    print(f"\n{len(out)} bytes out; stderr {err!r}")
    assert job.returncode == 0, err
    m = re.search(r"goes on on r\d \(again from byte (\d+) of its input; it is deterministic", err)
    assert m and int(m.group(1)) > 0, err
    want = b"".join(b"%d\n" % (2 * i) for i in range(first, last + 1))
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(want).hexdigest()


def test_a_device_killed_mid_spill_comes_back_without_its_spills(cluster: Cluster, revive: None) -> None:
    """A spill file is written before its stage host stores it: a device
    killed in between leaves it behind, and its runtime removes it when
    it starts again (no stage of its own runs yet)."""
    left = Path(cluster.info.directory) / "r2" / "spill" / "onesh-spill-left"
    left.parent.mkdir(parents=True, exist_ok=True)
    left.write_bytes(b"lines\n" * 1000)
    kill_device(cluster.info.pids["r2"])
    cluster.info = start_cluster(cluster.info.directory)
    cluster.client.boot = cluster.info.boot
    assert not left.exists()


@pytest.mark.parametrize("segment", ["grep -v x @r2 | cut -c 1-7 @r2",
                                     "grep -v x @r2 | ONESH_DETERMINISTIC=1 python3 double.py @r2"])
def test_a_segment_of_several_commands_runs_again_elsewhere_exactly_once(segment: str, cluster: Cluster,
                                                                       revive: None, tmp_path: Path) -> None:
    """Two commands on r2 are one segment: it runs again from the start of
    its input.  Builtin agents are deterministic, so what its reader has is
    dropped; a program in it makes it at least once unless it is declared
    deterministic."""
    n = PN if "double" in segment else N  # (more than the pipes on the way hold)
    out, err, _ = kill_program_stage(cluster, f"seq 1 {n} @r1 | {segment} | cat @r3", tmp_path)
    assert f"{segment} goes on on" in err and "what it makes again is dropped" in err, err
    want = doubled(n) if "double" in segment else numbers(n)
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(want).hexdigest()
