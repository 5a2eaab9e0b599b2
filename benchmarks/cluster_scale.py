#!/usr/bin/env python3
"""Membership at device scale, on this machine (loopback only).

    python benchmarks/cluster_scale.py [--sizes 3,8,32] [--light 1000] [--failovers 20] [--idle 20]

Prints, for clusters of real runtime processes (3 Raft voters):
- idle CPU per runtime (the leader, the other voters, the members) and of
  the whole cluster, over --idle seconds with nothing running;
- Raft commits per second over the same window (only changes are
  committed: at idle, none);
- the time until every runtime is a live member with the kernel agents
  placed, and the memory of an idle runtime: VmRSS (what `ps` shows) and
  PSS (shared pages divided among the processes mapping them: on this one
  machine the runtimes share their libraries, so PSS is below what a
  runtime alone on a device costs; RSS is that) of the voters and of the
  members, medians, after the idle window; with the RSS of this Python
  doing nothing (`python -c pass`), measured in the same run, to show what
  onesh adds;
then --light light runtimes (onesh.runtime.swarm: real Runtime objects,
many to a process) joining a 3-voter cluster: time to full membership,
RSS per light runtime, and how long `nodes` takes over all of them (the
status read alone, and `onesh -c nodes` as a user runs it);
and failover over --failovers runs: from `kill -9` of the scheduler
agent's host to the scheduler answering from another runtime, and from
`kill -9` of the Raft leader's host to a new leader having declared it
dead (an election, then the death committed).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from onesh.runtime.client import ClusterClient, _call
from onesh.runtime.localcluster import ClusterError, ClusterInfo, start_cluster, stop_cluster


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory_mb(pid: int) -> tuple[float, float, float]:
    """RSS, PSS and private (unshared) memory in MB, from
    /proc/PID/smaps_rollup (NaN when it cannot be read)."""
    d: dict[str, float] = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    d[k] = int(v.split()[0]) / 1024
    except OSError:
        pass
    nan = float("nan")
    return d.get("Rss", nan), d.get("Pss", nan), d.get("Private_Clean", nan) + d.get("Private_Dirty", nan)


def pss_mb(pid: int) -> float:
    return memory_mb(pid)[1]


def python_baseline_mb() -> float:
    """VmRSS of this interpreter running nothing (its site imports included)."""
    p = subprocess.run([sys.executable, "-c", "import os; print(open(f'/proc/{os.getpid()}/status').read())"],
                       capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def leader_of(snap: dict[str, Any]) -> str:
    return next((n for n, m in snap["members"].items() if m.get("raft") == snap["leader"]), "?")


def idle(n: int, window: float) -> None:
    with tempfile.TemporaryDirectory() as d:
        t0 = time.monotonic()
        info = start_cluster(d, nodes=n, voters=3, wait=300)
        formed = time.monotonic() - t0
        try:
            client = ClusterClient(info.boot, info.secret)
            time.sleep(3)  # the joins settle
            snap0 = client.status()
            c0 = {k: cpu_seconds(p) for k, p in info.pids.items()}
            w0 = time.monotonic()
            time.sleep(window)
            c1 = {k: cpu_seconds(p) for k, p in info.pids.items()}
            w1 = time.monotonic()
            snap1 = client.status()
            mem = {k: (rss_mb(p), pss_mb(p)) for k, p in info.pids.items()}
        finally:
            stop_cluster(info)
    pct = {k: (c1[k] - c0[k]) / (w1 - w0) * 100 for k in c0}
    leader = leader_of(snap1)
    voters = [k for k in pct if info.runtimes[k].raft and k != leader]
    members = [k for k in pct if not info.runtimes[k].raft]
    commits = (snap1["raft"]["commit"] - snap0["raft"]["commit"]) / (w1 - w0)

    def memory(names: list[str]) -> str:
        if not names:
            return "-"
        return (f"{statistics.median(mem[k][0] for k in names):.1f}"
                f"/{statistics.median(mem[k][1] for k in names):.1f}")

    def show(names: list[str]) -> str:
        if not names:
            return "-"
        vals = sorted(pct[k] for k in names)
        return f"{statistics.median(vals):.2f}%" + (f" (max {vals[-1]:.2f}%)" if len(vals) > 1 else "")

    print(f"{n:>5} {formed:>7.2f}s {pct.get(leader, 0):>8.2f}% {show(voters):>18} {show(members):>18} "
          f"{sum(pct.values()):>8.2f}% {sum(pct.values()) / n:>8.2f}% {commits:>9.2f} "
          f"{memory([k for k in mem if info.runtimes[k].raft]):>13} {memory(members):>13}")
    sys.stdout.flush()


def light(count: int, per_process: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        info = start_cluster(d, nodes=3, voters=3)
        client = ClusterClient(info.boot, info.secret)
        swarms: list[subprocess.Popen[str]] = []
        try:
            base_rss = rss_mb_of_fresh_python()
            t0 = time.monotonic()
            for k in range(0, count, per_process):
                n = min(per_process, count - k)
                swarms.append(subprocess.Popen(
                    [sys.executable, "-m", "onesh.runtime.swarm", "--join", ",".join(info.boot), "--secret",
                     info.secret, "--count", str(n), "--prefix", f"l{k // per_process}-"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            deadline = time.monotonic() + 120
            alive = 0
            while time.monotonic() < deadline:
                try:
                    snap = client.status()
                    alive = sum(1 for m in snap["members"].values() if m.get("alive"))
                except ClusterError:
                    pass
                if alive >= count + 3:
                    break
                time.sleep(0.5)  # (each read is the whole membership: do not add load while they join)
            joined = time.monotonic() - t0
            time.sleep(2)
            per = [(rss_mb(s.pid) - base_rss) / per_process for s in swarms]
            reads = []
            for _ in range(10):
                t = time.monotonic()
                client.status()
                reads.append(time.monotonic() - t)
            env = dict(os.environ, ONESH_CLUSTER=d)
            shells = []
            rows = 0
            for _ in range(5):
                t = time.monotonic()
                p = subprocess.run([sys.executable, "-m", "onesh", "-c", "nodes"], capture_output=True, text=True,
                                   env=env, timeout=60)
                shells.append(time.monotonic() - t)
                rows = p.stdout.count(" yes ")
                if p.returncode != 0:
                    print(f"  nodes: status {p.returncode}: {p.stderr.strip()[:200]}")
        finally:
            for s in swarms:
                if s.stdin is not None:
                    s.stdin.close()
            for s in swarms:
                try:
                    s.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    s.kill()
                    s.wait()
            stop_cluster(ClusterInfo.load(d))
    status = "all joined" if alive >= count + 3 else f"only {alive - 3} joined"
    print(f"{count} light runtimes in {len(swarms)} processes: {status} in {joined:.2f}s; "
          f"RSS {statistics.median(per):.2f} MB each; status read over them p50 "
          f"{statistics.median(reads) * 1000:.0f} ms; `onesh -c nodes` p50 {statistics.median(shells) * 1000:.0f} ms "
          f"({rows} rows alive)")


def rss_mb_of_fresh_python() -> float:
    """What a Python with onesh's runtime imported costs before any runtime
    exists (subtracted from a swarm's RSS to get a light runtime's share)."""
    p = subprocess.run([sys.executable, "-c", "import onesh.runtime.swarm, os; "
                        "print(open(f'/proc/{os.getpid()}/status').read())"], capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def failover(runs: int, victim: str = "scheduler") -> None:
    """victim "scheduler": kill -9 of the scheduler's host until it answers
    elsewhere; "leader": kill -9 of the Raft leader's host until a new
    leader has declared it dead (the cluster can change again)."""
    times = []
    with tempfile.TemporaryDirectory() as d:
        info = start_cluster(d, nodes=3, voters=3)
        try:
            for _ in range(runs):
                client = ClusterClient(info.boot, info.secret)
                snap = client.status()
                if victim == "leader":
                    host = next(n for n, m in snap["members"].items() if m["raft"] == snap["leader"])
                else:
                    host = snap["assign"]["scheduler"]
                t0 = time.monotonic()
                os.kill(info.pids[host], signal.SIGKILL)
                answered = float("nan")
                while time.monotonic() - t0 < 30:
                    try:
                        s = client.status()
                        if victim == "leader":
                            if s.get("leader") not in (None, snap["leader"]) and not s["members"][host].get("alive"):
                                answered = time.monotonic() - t0
                                break
                        else:
                            new = s["assign"].get("scheduler")
                            if new and new != host:
                                asyncio.run(_call([s["members"][new]["endpoint"]], info.secret, "scheduler.ping", {},
                                                  0.5))
                                answered = time.monotonic() - t0
                                break
                    except ClusterError:
                        pass
                    time.sleep(0.005)
                times.append(answered)
                info = start_cluster(d)  # the device comes back
                time.sleep(0.5)
        finally:
            stop_cluster(ClusterInfo.load(d))
    ms = sorted(t * 1000 for t in times)
    what = ("the Raft leader's host → a new leader declared it dead" if victim == "leader"
            else "the scheduler's host → it answers elsewhere")
    print(f"failover over {runs} runs (kill -9 of {what}): "
          f"p50 {statistics.median(ms):.0f} ms, p90 {ms[int(len(ms) * 0.9) - 1]:.0f} ms, max {ms[-1]:.0f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="3,8,32")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds of idle measured")
    ap.add_argument("--light", type=int, default=1000)
    ap.add_argument("--per-process", type=int, default=250)
    ap.add_argument("--failovers", type=int, default=20)
    args = ap.parse_args()
    print(f"python -c pass: {python_baseline_mb():.1f} MB RSS; an idle runtime's memory is "
          "VmRSS/PSS in MB (medians)")
    print(f"{'size':>5} {'formed':>8} {'leader':>9} {'other voters':>18} {'members':>18} {'cluster':>9} "
          f"{'per rt':>9} {'commit/s':>9} {'voter MB':>13} {'member MB':>13}")
    for n in (int(x) for x in args.sizes.split(",") if x):
        idle(n, args.idle)
    if args.light:
        light(args.light, args.per_process)
    if args.failovers:
        failover(args.failovers)
        failover(args.failovers, "leader")
    return 0


if __name__ == "__main__":
    sys.exit(main())
