#!/usr/bin/env python3
"""Cluster scale on this machine: 8, 16 and 32 runtimes (3 Raft voters).

    python benchmarks/cluster_scale.py [--sizes 8,16,32]

For each size prints: time until every runtime is a live member and every
kernel agent is placed, RSS per runtime (target < 40 MB), and failover time
from `kill -9` of the scheduler's host until the scheduler answers from
another runtime (target < 1 s).  Only loopback is used.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time

from onesh.runtime.client import ClusterClient, _call
from onesh.runtime.localcluster import ClusterError, start_cluster, stop_cluster


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def failover(info, client: ClusterClient) -> float:  # type: ignore[no-untyped-def]
    snap = client.status()
    host = snap["assign"]["scheduler"]
    t0 = time.monotonic()
    os.kill(info.pids[host], signal.SIGKILL)
    os.waitpid(info.pids[host], 0)
    del info.pids[host]
    while time.monotonic() - t0 < 30:
        try:
            s = client.status()
            new = s["assign"].get("scheduler")
            if new and new != host:
                asyncio.run(_call([s["members"][new]["endpoint"]], info.secret, "scheduler.ping", {}, 0.5))
                return time.monotonic() - t0
        except ClusterError:
            pass
        time.sleep(0.01)
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="8,16,32")
    args = ap.parse_args()
    print(f"{'runtimes':>8} {'membership s':>13} {'RSS MB median':>14} {'RSS MB max':>11} {'failover ms':>12}")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.monotonic()
            info = start_cluster(d, nodes=n, voters=3, sensors=2, wait=180)
            formed = time.monotonic() - t0
            try:
                time.sleep(1.0)
                rss = [rss_mb(p) for p in info.pids.values()]
                client = ClusterClient(info.boot, info.secret)
                fo = failover(info, client)
            finally:
                stop_cluster(info)
            print(f"{n:>8} {formed:>13.2f} {statistics.median(rss):>14.1f} {max(rss):>11.1f} {fo * 1000:>12.0f}")
            sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
