#!/usr/bin/env python3
"""A device dies under a running pipeline and its stage goes on elsewhere;
a running stage is moved (`migrate`).

    python benchmarks/recovery.py [--runs 20] [--mib 256] [--migrations 20] [--sort-runs 5]
                                  [--program-runs 5] [--tee-runs 3]

On a 4-runtime cluster (loopback), each run pushes --mib MiB through
`cat @r1 | cat @r2 | cat @r3` (the shell feeds it and reads its output),
and in every other run kills r2's whole device (its daemon and every
process it started, frozen then killed together) when 40% of the bytes
have come out.  `cat @r2` then goes on on another runtime, taking over
its pipes where they stand (exactly once).  Runs without a kill alternate
with runs with one, same interpreter, same cluster; r2 comes back after
each kill (`cluster up`, as a rebooted device).

Per run with a kill it prints:
- stall: the longest silence of the job's output after the kill (what
  was downstream of r2 drains first, then nothing moves until the
  successor does);
- moving again: from the kill to the end of that silence (target < 1 s);
- throughput of the whole run, against the runs without a kill.
Every run's output is checked (length and sha256): exactly once.

Then `cat @r1 | sort @r2 | cat @r3` sorts --sort-mib MiB of lines, and in
every other run r2's device is killed at 60% of the input: sort's
successor starts from what it had stored as it read (its spills), reads
the rest and sorts; the job's time with the kill against without.

Then a Python program in the middle, `cat @r1 | python3 upper.py @r2 |
cat @r3` over --program-mib MiB: its input let go of at once (not
restartable: the baseline), held for a replay from the start, and
declared stateless (checkpoints at its idle points), alternating; then
the last two with r2 killed at 60% of the input (declared deterministic:
the output must be exact).

Then `cat @r1 | tee FILE @r2 | cat @r3` over --tee-mib MiB against the
same with `cat @r2` (what writing FILE into the namespace, on 2 replicas,
costs), then tee with r2 killed at 60% of its input: it goes on from its
checkpoint with FILE cut back there; the output and FILE are checked.

Before that, one long job through `cat @r2` is moved --migrations times between
r2 and r4 (`migrate JOB:1 RUNTIME` from another shell) while its output
is read: the pause of each move is the longest silence of the output
from the request to a moment after `migrate` returned (target < 100 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from device_death import kill_device

from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster
from onesh.runtime.programreplay import REPLAY_MAX

PIPELINE = "cat @r1 | cat @r2 | cat @r3"
BLOCK = bytes(range(256)) * 256  # 64 KiB


def one_run(directory: str, cwd: str, size: int, kill_pid: int | None) -> dict[str, float]:
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", directory, "-c", PIPELINE],
                           cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    assert job.stdin is not None and job.stdout is not None and job.stderr is not None

    def feed() -> None:
        assert job.stdin is not None
        with job.stdin:
            for _ in range(size // len(BLOCK)):
                job.stdin.write(BLOCK)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    fd = job.stdout.fileno()
    digest = hashlib.sha256()
    got = 0
    arrivals: list[tuple[float, int]] = []
    killed = 0.0
    t0 = time.monotonic()
    while chunk := os.read(fd, 1 << 20):
        now = time.monotonic()
        got += len(chunk)
        digest.update(chunk)
        arrivals.append((now, got))
        if kill_pid is not None and not killed and got >= size * 0.4:
            kill_device(kill_pid)
            killed = time.monotonic()
    end = time.monotonic()
    err = job.stderr.read().decode()
    job.wait()
    feeder.join()
    expected = hashlib.sha256(BLOCK * (size // len(BLOCK))).hexdigest()
    if job.returncode != 0 or got != size or digest.hexdigest() != expected:
        raise SystemExit(f"run failed: status {job.returncode}, {got} of {size} bytes, "
                         f"sha256 {'equal' if digest.hexdigest() == expected else 'DIFFERENT'}; stderr: {err!r}")
    out = {"mib_s": size / (1 << 20) / (end - t0)}
    if killed:
        after = [(t, n) for t, n in arrivals if t >= killed]
        gaps = [(b[0] - a[0], b[0]) for a, b in zip([(killed, 0), *after], after, strict=False)]
        stall, resumed = max(gaps) if gaps else (0.0, killed)
        out.update(stall=stall, moving=resumed - killed)
    return out


def migrations(directory: str, cwd: str, count: int) -> list[float]:
    """One job streaming through `cat @r2`, moved `count` times; the pause of each move."""
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", directory, "-c", PIPELINE],
                           cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    assert job.stdin is not None and job.stdout is not None and job.stderr is not None
    stop = threading.Event()
    sent = 0

    def feed() -> None:
        nonlocal sent
        assert job.stdin is not None
        with job.stdin:
            while not stop.is_set():
                job.stdin.write(BLOCK)
                sent += len(BLOCK)

    arrivals: list[tuple[float, int]] = []

    def read() -> None:
        assert job.stdout is not None
        got = 0
        while chunk := os.read(job.stdout.fileno(), 1 << 20):
            got += len(chunk)
            arrivals.append((time.monotonic(), got))

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=read, daemon=True)]
    for t in threads:
        t.start()
    from onesh.runtime.client import _call

    info = ClusterInfo.load(directory)
    job_id = ""
    while not job_id:
        rows = asyncio.run(_call([info.runtimes["r2"].listen], info.secret, "stage.list", {}, 2.0))["rows"]
        job_id = next((r["job"] for r in rows if r["state"] == "running"), "")
        time.sleep(0.05)
    time.sleep(0.5)
    windows = []
    for k in range(count):
        target = "r4" if k % 2 == 0 else "r2"
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "onesh", "--cluster", directory, "-c",
                            f"migrate {job_id}:1 {target}"], capture_output=True, text=True, cwd=cwd)
        if r.returncode != 0:
            raise SystemExit(f"migrate failed: {r.stderr}")
        time.sleep(0.5)
        windows.append((t0, time.monotonic()))
    stop.set()
    threads[0].join()
    threads[1].join()
    err = job.stderr.read().decode()
    job.wait()
    got = arrivals[-1][1] if arrivals else 0
    if job.returncode != 0 or got != sent or err.count("moved from") != count:
        raise SystemExit(f"the migrated job failed: status {job.returncode}, {got} of {sent} bytes; {err!r}")
    pauses = []
    for t0, t1 in windows:
        times = [t for t, _ in arrivals if t0 <= t <= t1]
        pauses.append(max((b - a for a, b in itertools.pairwise(times)), default=t1 - t0))
    return pauses


SORTED = "cat @r1 | sort @r2 | cat @r3"


def sort_lines(mib: int) -> bytes:
    """Lines in no order (a multiplicative hash of their number)."""
    n = (mib << 20) // 9
    return b"".join(b"%08x\n" % (i * 2654435761 % (1 << 32)) for i in range(n))


def sort_run(directory: str, cwd: str, data: bytes, want: str, kill_pid: int | None,
             code: str = SORTED) -> tuple[float, str]:
    """The job's time; in a run with a kill, r2 dies when 60% of the input
    is fed (sort has read most of it and stored it as it read)."""
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", directory, "-c", code],
                           cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    assert job.stdin is not None and job.stdout is not None and job.stderr is not None
    out: list[bytes] = []
    reader = threading.Thread(target=lambda: out.append(job.stdout.read() if job.stdout else b""), daemon=True)
    reader.start()
    t0 = time.monotonic()
    view = memoryview(data)
    with job.stdin:
        for at in range(0, len(data), 1 << 20):
            if kill_pid is not None and at >= len(data) * 0.6:
                kill_device(kill_pid)
                kill_pid = None
            job.stdin.write(view[at:at + (1 << 20)])
    reader.join()
    took = time.monotonic() - t0
    err = job.stderr.read().decode()
    job.wait()
    if job.returncode != 0 or hashlib.sha256(out[0]).hexdigest() != want:
        raise SystemExit(f"run of {code!r} failed: status {job.returncode}, {len(out[0])} bytes; stderr: {err!r}")
    return took, err


# A program (not a builtin agent) in the middle: restarted elsewhere it runs
# again from the start of its input (or, declared stateless, from its last
# idle point); declared deterministic, what it makes again is dropped.
UPPER = "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line.upper())\n"
PROGRAM = "cat @r1 | {env} python3 upper.py @r2 | cat @r3"
PROGRAM_KINDS = {  # what each run declares
    "let go at once": "ONESH_DETERMINISTIC=1 ONESH_REPLAY_MAX=1",
    "held (replay from the start)": "ONESH_DETERMINISTIC=1",
    "stateless (from its last idle point)": "ONESH_DETERMINISTIC=1 ONESH_STATELESS=1",
}


def program_runs(directory: str, cwd: str, mib: int, runs: int, restart: Callable[[], int]) -> None:
    """Per round, alternating (`restart` brings r2 back when it is dead
    and returns its pid): the program's job with its input let go of
    at once (as before programs were restartable: the baseline), held for
    a replay, and declared stateless; then the last two with r2 killed at
    60% of the input.  Prints the p50 times."""
    with open(os.path.join(cwd, "upper.py"), "w") as f:
        f.write(UPPER)
    data = sort_lines(mib)
    want = hashlib.sha256(data.upper()).hexdigest()
    times: dict[str, list[float]] = {}
    # (past its replay, a program that is not stateless cannot run again)
    kinds = {k: v for k, v in PROGRAM_KINDS.items() if mib << 20 <= REPLAY_MAX or "held" not in k}
    for run in range(runs):
        for kind, env in kinds.items():
            restart()
            took, _ = sort_run(directory, cwd, data, want, None, PROGRAM.format(env=env))
            times.setdefault(kind, []).append(took)
        for kind, env in list(kinds.items())[1:]:
            took, err = sort_run(directory, cwd, data, want, restart(), PROGRAM.format(env=env))
            times.setdefault(f"{kind}, r2 killed", []).append(took)
            print(f"program run {run + 1}, {kind}, r2 killed: {took:5.2f} s: "
                  f"{last_word(err)}")
            sys.stdout.flush()
    print(f"  `cat @r1 | python3 upper.py @r2 | cat @r3`, {mib} MiB, {runs} rounds, output exact (p50s):")
    print_p50s(times, "let go at once", mib)


# `tee FILE` in the middle writes a namespace file (2 replicas) and goes on
# elsewhere from its checkpoint, its FILE cut back there.
TEE_KINDS = {  # what each run is: the code, and whether r2 is killed at 60%
    "cat @r2 (baseline)": ("cat @r1 | cat @r2 | cat @r3", False),
    "tee FILE @r2": ("cat @r1 | tee {file} @r2 | cat @r3", False),
    "tee FILE @r2, r2 killed": ("cat @r1 | tee {file} @r2 | cat @r3", True),
}


def tee_runs(directory: str, cwd: str, mib: int, runs: int, restart: Callable[[], int]) -> None:
    """Per round, alternating: the job with `cat @r2`, with `tee FILE @r2`,
    and with tee's r2 killed at 60% of the input; the output and FILE
    checked exact.  Prints the p50 times."""
    data = sort_lines(mib)
    want = hashlib.sha256(data).hexdigest()
    times: dict[str, list[float]] = {}
    for run in range(runs):
        for kind, (code, kill) in TEE_KINDS.items():
            file = f"/tmp/onesh-bench-tee-{run}.log"
            pid = restart()
            took, err = sort_run(directory, cwd, data, want, pid if kill else None, code.format(file=file))
            times.setdefault(kind, []).append(took)
            if "{file}" in code:
                got = subprocess.run([sys.executable, "-m", "onesh", "--cluster", directory, "-c",
                                      f"cat {file}; rm {file}"], capture_output=True, cwd=cwd)
                if hashlib.sha256(got.stdout).hexdigest() != want:
                    raise SystemExit(f"{kind}: its FILE holds {len(got.stdout)} bytes, not the input; {err!r}")
            if kill:
                print(f"tee run {run + 1}, r2 killed: {took:5.2f} s: "
                      f"{last_word(err)}")
                sys.stdout.flush()
    print(f"  `cat @r1 | tee FILE @r2 | cat @r3`, {mib} MiB, {runs} rounds, output and FILE exact (p50s):")
    print_p50s(times, "cat @r2 (baseline)", mib)


def print_p50s(times: dict[str, list[float]], base: str, mib: int) -> None:
    """Each kind's p50 time, its throughput and its ratio to `base`'s."""
    b = statistics.median(times[base])
    for kind, ts in times.items():
        t = statistics.median(ts)
        print(f"    {kind:50s} {t:5.2f} s  {mib / t:6.1f} MiB/s  {t / b:4.2f}x")


def last_word(err: str) -> str:
    """The last line a job said on stderr (how its stage went on)."""
    return err.strip().splitlines()[-1] if err.strip() else "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="runs with a kill (as many without)")
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--migrations", type=int, default=20)
    ap.add_argument("--sort-runs", type=int, default=5, help="`sort @r2` runs with a kill (as many without)")
    ap.add_argument("--sort-mib", type=int, default=32)
    ap.add_argument("--program-runs", type=int, default=5,
                    help="rounds of a Python program @r2: let go, held, stateless; then the last two killed")
    ap.add_argument("--program-mib", type=int, default=8, help="(under its 16 MiB replay)")
    ap.add_argument("--tee-runs", type=int, default=3,
                    help="rounds of `tee FILE @r2` against `cat @r2`, then tee with r2 killed")
    ap.add_argument("--tee-mib", type=int, default=64)
    args = ap.parse_args()
    size = args.mib << 20
    steady: list[float] = []
    hit: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as d:
        info = start_cluster(f"{d}/c", nodes=4)
        try:
            one_run(info.directory, d, 16 << 20, None)  # (warm: zygotes, connections)
            for run in range(args.runs):
                steady.append(one_run(info.directory, d, size, None)["mib_s"])
                r = one_run(info.directory, d, size, info.pids["r2"])
                hit.append(r)
                print(f"run {run + 1}: steady {steady[-1]:6.1f} MiB/s | with r2 killed {r['mib_s']:6.1f} MiB/s, "
                      f"stall {r['stall'] * 1000:6.0f} ms, output moving again {r['moving'] * 1000:6.0f} ms "
                      f"after the kill")
                sys.stdout.flush()
                info = start_cluster(info.directory)  # r2 comes back
            pauses = migrations(info.directory, d, args.migrations) if args.migrations else []
            sorts: list[tuple[float, float]] = []
            if args.sort_runs:
                data = sort_lines(args.sort_mib)
                want = hashlib.sha256(b"".join(sorted(data.splitlines(keepends=True)))).hexdigest()
                for run in range(args.sort_runs):
                    plain, _ = sort_run(info.directory, d, data, want, None)
                    hit_t, err = sort_run(info.directory, d, data, want, info.pids["r2"])
                    sorts.append((plain, hit_t))
                    print(f"sort run {run + 1}: {plain:5.2f} s | with r2 killed {hit_t:5.2f} s: "
                          f"{last_word(err)}")
                    sys.stdout.flush()
                    info = start_cluster(info.directory)
            state = {"info": info}

            def restart() -> int:
                # (r2 back, if a run killed it, before a run that kills it)
                if len(state["info"].alive_pids()) < len(state["info"].runtimes):
                    state["info"] = start_cluster(state["info"].directory)
                return state["info"].pids["r2"]
            if args.program_runs:
                program_runs(info.directory, d, args.program_mib, args.program_runs, restart)
            if args.tee_runs:
                tee_runs(info.directory, d, args.tee_mib, args.tee_runs, restart)
        finally:
            stop_cluster(ClusterInfo.load(f"{d}/c"))
    print()
    if hit:
        moving = [r["moving"] for r in hit]
        stall = [r["stall"] for r in hit]
        killed_tp = [r["mib_s"] for r in hit]
        print(f"over {len(hit)} kills of the middle runtime, {args.mib} MiB each, every output exact (sha256):")
        print(f"  kill -9 → output moving again: p50 {statistics.median(moving) * 1000:.0f} ms, "
              f"max {max(moving) * 1000:.0f} ms (target < 1000 ms)")
        print(f"  longest output stall: p50 {statistics.median(stall) * 1000:.0f} ms, max {max(stall) * 1000:.0f} ms")
        print(f"  throughput: with a kill {statistics.median(killed_tp):.1f} MiB/s, steady "
              f"{statistics.median(steady):.1f} MiB/s (p50s): "
              f"{statistics.median(killed_tp) / statistics.median(steady):.2f}x")
    if pauses:
        print(f"  live migrate of `cat @r2` between r2 and r4, {len(pauses)} moves, output exact: pause "
              f"p50 {statistics.median(pauses) * 1000:.0f} ms, max {max(pauses) * 1000:.0f} ms (target < 100 ms)")
    if sorts:
        plain = statistics.median(p for p, _ in sorts)
        hit_t = statistics.median(h for _, h in sorts)
        print(f"  `sort @r2` of {args.sort_mib} MiB, r2 killed at 60% of its input, {len(sorts)} runs, output exact: "
              f"{hit_t:.2f} s with the kill vs {plain:.2f} s without (p50s): {hit_t / plain:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
