#!/usr/bin/env python3
"""A device dies under a running pipeline and its stage goes on elsewhere.

    python benchmarks/recovery.py [--runs 20] [--mib 256]

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

`migrate` is not built yet: its pause is not measured here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from device_death import kill_device

from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="runs with a kill (as many without)")
    ap.add_argument("--mib", type=int, default=256)
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
        finally:
            stop_cluster(ClusterInfo.load(f"{d}/c"))
    moving = [r["moving"] for r in hit]
    stall = [r["stall"] for r in hit]
    killed_tp = [r["mib_s"] for r in hit]
    print(f"\nover {len(hit)} kills of the middle runtime, {args.mib} MiB each, every output exact (sha256):")
    print(f"  kill -9 → output moving again: p50 {statistics.median(moving) * 1000:.0f} ms, "
          f"max {max(moving) * 1000:.0f} ms (target < 1000 ms)")
    print(f"  longest output stall: p50 {statistics.median(stall) * 1000:.0f} ms, max {max(stall) * 1000:.0f} ms")
    print(f"  throughput: with a kill {statistics.median(killed_tp):.1f} MiB/s, steady "
          f"{statistics.median(steady):.1f} MiB/s (p50s): {statistics.median(killed_tp) / statistics.median(steady):.2f}x")
    print("  migrate pause: not measured (`migrate` is not built yet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
