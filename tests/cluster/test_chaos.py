"""Chaos: 20 seeded random rounds (ONESH_CHAOS_ROUNDS=N for more) of device deaths, freezes and restarts on
a real 3-runtime cluster; after each, the cluster must serve again.

Each round does one of: kill -9 a random runtime's whole device (daemon
and every process it started), with or without a job running through it;
SIGSTOP a device for 3 s, then SIGCONT; `cluster down` then `up`.  A
killed device comes back (as a rebooted device does) through `cluster up`,
which restarts just the missing runtimes.

After every round: the cluster forms within 5 s, `nodes` answers, every
file written so far reads back with the same sha256, no job took longer
than 10 s to end (a stage that goes on elsewhere included), and no
process is left that should not be.  The seed is
printed (ONESH_CHAOS_SEED=N replays a run); on failure, so are the
runtimes' logs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import alive, descendants, job_processes, kill_device

from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("ONESH_CHAOS_ROUNDS", "20"))  # (about 5 s each on a slow 2-core machine)
FORM_WITHIN = 5.0
JOB_ENDS_WITHIN = 10.0
ACTIONS = ("kill", "kill during a job", "freeze", "freeze during a job", "down and up")


class Chaos:
    def __init__(self, directory: Path, cwd: Path, seed: int) -> None:
        self.directory, self.cwd, self.seed = directory, cwd, seed
        self.rng = random.Random(seed)
        self.info = start_cluster(str(directory), nodes=3, sensors=2)
        self.files: dict[str, bytes] = {}  # namespace path → its content
        self.log: list[str] = []

    def shell(self, code: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "onesh", "--cluster", str(self.directory), "-c", code],
                              capture_output=True, cwd=self.cwd, timeout=timeout, stdin=subprocess.DEVNULL)

    def note(self, text: str) -> None:
        self.log.append(text)

    # ------------------------------------------------------------ actions
    def write_file(self, k: int) -> None:
        """A file through a pipeline into the namespace (content chosen by the seed)."""
        n = self.rng.randrange(1, 200_000)
        rt = self.rng.choice(sorted(self.info.runtimes))
        path = f"/tmp/chaos/f{k}"
        r = self.shell(f"seq {k} {k + n} | cat > {path} @{rt}")
        if r.returncode == 0:
            self.files[path] = "".join(f"{i}\n" for i in range(k, k + n + 1)).encode()
        else:
            self.note(f"writing {path} failed (allowed, not recorded): {r.stderr.decode().strip()}")

    def start_job(self, through: str) -> subprocess.Popen[bytes]:
        others = [n for n in sorted(self.info.runtimes) if n != through]
        # (`cat @through` goes on elsewhere when its device is lost, unless
        # its neighbours were on that device too: either way the job ends,
        # after 60 readings, 3 s, or at once with the stages lost named)
        code = f"cat /dev/sensor/{self.rng.choice((1, 2))} | cat @{through} | head -n 60 @{others[0]} | grep -c x"
        job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", str(self.directory), "-c", code],
                               cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
        self.wait_stage_on(through)
        return job

    def wait_stage_on(self, runtime: str) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if job_processes(self.info.pids[runtime]):
                time.sleep(0.5)  # let data flow
                return
            time.sleep(0.05)
        raise AssertionError(f"the job never started a stage on {runtime}")

    def end_job(self, job: subprocess.Popen[bytes], since: float) -> None:
        try:
            _, err = job.communicate(timeout=JOB_ENDS_WITHIN + 5)
        except subprocess.TimeoutExpired:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
            raise AssertionError("a job hung after its device was lost") from None
        took = time.monotonic() - since
        text = err.decode()
        self.note(f"job ended {took:.2f}s after the fault, status {job.returncode}: {text.strip()}")
        assert took < JOB_ENDS_WITHIN, f"the job took {took:.1f}s to end"
        assert "Traceback" not in text and "Task exception" not in text, text
        assert job.returncode != 0 or "its stages are lost" not in text
        assert "is gone" in text, text  # (lost, or gone on elsewhere: said either way)

    def kill(self, name: str) -> None:
        kill_device(self.info.pids[name])

    def freeze(self, name: str, job: subprocess.Popen[bytes] | None) -> None:
        """SIGSTOP the device for 3 s (a job through it must end meanwhile)."""
        tree = descendants(self.info.pids[name])
        for p in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGSTOP)
        t0 = time.monotonic()
        if job is not None:
            self.end_job(job, t0)
        time.sleep(max(0.0, 3 - (time.monotonic() - t0)))
        for p in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGCONT)

    def restart_missing(self) -> float:
        t0 = time.monotonic()
        if len(self.info.alive_pids()) < len(self.info.runtimes):
            self.info = start_cluster(str(self.directory), wait=30)
            assert not self.info.failed, self.info.failed
        return time.monotonic() - t0

    # -------------------------------------------------------------- checks
    def wait_formed(self) -> float:
        """Seconds until `nodes` shows every runtime alive (at most FORM_WITHIN)."""
        r = self.shell("nodes")
        formed = time.monotonic()
        while r.returncode != 0 or r.stdout.decode().count(" yes") < 3:
            assert time.monotonic() - formed < FORM_WITHIN, f"not formed: {r.stdout!r} {r.stderr!r}"
            time.sleep(0.2)
            r = self.shell("nodes")
        return time.monotonic() - formed

    def check(self) -> None:
        took = self.restart_missing()
        self.note(f"formed {took + self.wait_formed():.2f}s after the round")
        if self.files:
            # All in one read (one shell), on a runtime chosen by the seed.
            reader = self.rng.choice(sorted(self.info.runtimes))
            paths = sorted(self.files)
            r = self.shell(f"cat {' '.join(paths)} @{reader}", timeout=60)
            if r.returncode != 0 and b"is down" in r.stderr:
                # A device frozen for 3 s can be declared dead just after it
                # woke (its verdict was on its way): it rejoins at once;
                # read again once it has.
                self.note(f"  {reader} was declared dead after the check; reading again once it is back")
                self.wait_formed()
                r = self.shell(f"cat {' '.join(paths)} @{reader}", timeout=60)
            if r.returncode != 0 or _sha(r.stdout) != _sha(b"".join(self.files[p] for p in paths)):
                for p in paths:  # which one?
                    one = self.shell(f"cat {p} @{reader}")
                    assert _sha(one.stdout) == _sha(self.files[p]), f"{p} read on {reader}: {one.stderr!r}"
                raise AssertionError(f"reading the files on {reader} failed: {r.stderr!r}")
        self.check_processes()

    def check_processes(self) -> None:
        """Only the runtimes themselves are left: every stage of every job
        has ended (a frozen device's stages stop when their lease runs out)."""
        deadline = time.monotonic() + 10
        while True:
            extra = [p for pid in self.info.alive_pids().values() for p in alive(job_processes(pid))]
            if not extra:
                return
            assert time.monotonic() < deadline, f"processes left behind: {[_cmdline(p) for p in extra]}"
            time.sleep(0.2)

    # --------------------------------------------------------------- round
    def round(self, k: int) -> None:
        action = self.rng.choice(ACTIONS)
        name = self.rng.choice(sorted(self.info.runtimes))
        self.note(f"round {k}: {action} {name}")
        self.write_file(k)
        if action == "down and up":
            stop_cluster(self.info)
            self.info = start_cluster(str(self.directory), wait=30)
        else:
            job = self.start_job(name) if action.endswith("during a job") else None
            if action.startswith("freeze"):
                self.freeze(name, job)
            else:
                t0 = time.monotonic()
                self.kill(name)
                if job is not None:
                    self.end_job(job, t0)
        self.check()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode()
    except OSError:
        return "?"


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[Chaos]:
    seed = int(os.environ.get("ONESH_CHAOS_SEED") or random.randrange(1 << 32))
    print(f"\nchaos seed: {seed} (ONESH_CHAOS_SEED={seed} replays it)")
    c = Chaos(tmp_path / "c", tmp_path, seed)
    try:
        yield c
    finally:
        stop_cluster(ClusterInfo.load(str(c.directory)))


def test_chaos(chaos: Chaos) -> None:
    try:
        for k in range(ROUNDS):
            chaos.round(k)
    except BaseException:
        print(f"\nchaos seed {chaos.seed} failed; what happened:\n  " + "\n  ".join(chaos.log))
        for name in sorted(chaos.info.runtimes):
            log = chaos.directory / name / "runtime.log"
            with contextlib.suppress(OSError):
                print(f"--- {log} (last 40 lines)\n" + "\n".join(log.read_text().splitlines()[-40:]))
        raise
    print("\n  " + "\n  ".join(chaos.log))
