#!/usr/bin/env python3
"""A one-liner against the running embedded cluster: what attaching costs.

    python benchmarks/embedded_attach.py [--runs 20]

In a user directory of its own, the first `onesh -c nodes` starts the
embedded cluster (timed once).  Then, alternating in the same run:
`onesh -c true` (the shell's start-up alone, the baseline),
`onesh -c nodes` (start-up, attach, one status read, the table) and
`onesh -c 'head -n 1 /dev/sensor/1'` (a one-line pipeline on the cluster).
The cluster work of a one-liner is its time minus the baseline's.  The
embedded cluster is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(argv: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{argv}: {p.stderr}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, HOME=home, XDG_CONFIG_HOME=f"{home}/config", XDG_DATA_HOME=f"{home}/data")
        env.pop("ONESH_CLUSTER", None)
        onesh = [sys.executable, "-m", "onesh", "-c"]
        try:
            first = timed([*onesh, "nodes"], env)
            cases = {"true": [*onesh, "true"], "nodes": [*onesh, "nodes"],
                     "sensor": [*onesh, "head -n 1 /dev/sensor/1"]}
            times: dict[str, list[float]] = {k: [] for k in cases}
            for _ in range(args.runs):
                for k, argv in cases.items():  # alternating, so drift hits all alike
                    times[k].append(timed(argv, env))
        finally:
            subprocess.run([sys.executable, "-m", "onesh", "cluster", "down", "--data-dir",
                            f"{home}/data/onesh/clusters/embedded"], env=env, capture_output=True)
    p50 = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"first one-liner, starting the embedded cluster: {first * 1000:.0f} ms")
    print(f"onesh -c true (start-up, the baseline):        p50 {p50['true']:.0f} ms")
    print(f"onesh -c nodes (attach + status):              p50 {p50['nodes']:.0f} ms  "
          f"cluster work {p50['nodes'] - p50['true']:.0f} ms ({p50['nodes'] / p50['true']:.2f}x the baseline)")
    print(f"onesh -c 'head -n 1 /dev/sensor/1':            p50 {p50['sensor']:.0f} ms  "
          f"cluster work {p50['sensor'] - p50['true']:.0f} ms ({p50['sensor'] / p50['true']:.2f}x the baseline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
