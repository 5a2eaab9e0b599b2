#!/usr/bin/env python3
"""Start-up and local-pipeline speed of onesh, side by side with bash and
python3 in one run.

    python benchmarks/shell_startup.py [--runs N]

Targets (issue #3): `onesh -c true` <= 3x `python3 -c pass`; `seq 1 1000000 |
wc -l` through onesh <= 1.2x bash.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def timed(cmd: list[str], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.9))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    onesh = shutil.which("onesh")
    rows: list[tuple[str, list[str], int]] = [
        ("python3 -c pass", [sys.executable, "-c", "pass"], args.runs),
        ("bash -c true", ["bash", "-c", "true"], args.runs),
        ("python -m onesh -c true", [sys.executable, "-m", "onesh", "-c", "true"], args.runs),
    ]
    if onesh:
        rows.append(("onesh -c true", [onesh, "-c", "true"], args.runs))
    pipe = "seq 1 1000000 | wc -l"
    loop = "for i in $(seq 1 10000); do :; done"
    rows += [
        (f"bash: {pipe}", ["bash", "-c", pipe], 10),
        (f"onesh: {pipe}", [sys.executable, "-m", "onesh", "-c", pipe], 10),
        (f"bash: {loop}", ["bash", "-c", loop], 5),
        (f"onesh: {loop}", [sys.executable, "-m", "onesh", "-c", loop], 5),
    ]
    results: dict[str, float] = {}
    print(f"{'command':<50} {'median ms':>10} {'p90 ms':>10}")
    for name, cmd, runs in rows:
        med, p90 = timed(cmd, runs)
        results[name] = med
        print(f"{name:<50} {med * 1000:>10.1f} {p90 * 1000:>10.1f}")
    py = results["python3 -c pass"]
    sh = results["bash -c true"]
    start = results.get("onesh -c true", results["python -m onesh -c true"])
    print()
    print(f"start-up   onesh / python3 = {start / py:5.2f}x   (target <= 3.0x)")
    print(f"start-up   onesh / bash    = {start / sh:5.2f}x")
    op, bp = results[f"onesh: {pipe}"], results[f"bash: {pipe}"]
    onesh_start = results["python -m onesh -c true"]
    print(f"pipeline   onesh / bash    = {op / bp:5.2f}x   whole command, start-up included")
    print(f"pipeline   onesh / bash    = {(op - onesh_start) / max(bp - sh, 1e-9):5.2f}x   "
          "after subtracting each shell's own start-up (target <= 1.2x)")
    print(f"loop       onesh / bash    = {results[f'onesh: {loop}'] / results[f'bash: {loop}']:5.2f}x   (interpreter speed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
