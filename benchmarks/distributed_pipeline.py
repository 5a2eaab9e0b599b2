#!/usr/bin/env python3
"""The whole stack: a pipeline typed into onesh, stages on three runtimes.

    python benchmarks/distributed_pipeline.py [--size MiB] [--rounds N] [--lines N] [--starts N]

Starts a 3-runtime cluster on loopback and prints, side by side, each
figure next to its reference, measured in the same run:

- throughput of `cat @r1 | cat @r2 | cat @r3` (and of `cat @r1` alone,
  between hosts) run by `onesh -c` (stdin a
  file, stdout /dev/null): shell → r1 → r2 → r3 → shell, four network
  pipes, three builtin `cat` agents; wired as on one host (Unix sockets)
  against a local `cat | cat | cat` (OS pipes), and as between hosts
  (ONESH_NO_IPC=1) over TLS 1.3 and over ZeroMQ + Curve
  (ONESH_PIPE_TRANSPORT) against `cat | ssh 127.0.0.1 'cat > /dev/null'`
  through a private sshd on loopback;
- latency of one line through the three runtimes and back (p50/p99 of N
  round trips, each line written and awaited before the next), wired
  both ways;
- a remote stage's start: `true @r2` repeated in one shell, per call,
  against `ssh 127.0.0.1 true`;
- last, each goal of the data plane next to what this run measured, met
  or NOT MET (3 stages >= 0.5x local on one host and >= 1.5x `cat | ssh`
  between hosts; a line's p50 < 0.5 ms / < 1 ms, p99 < 2 ms; a remote
  start <= 0.1x ssh; a stage < 15 MB on top of what it runs).

Every measured run sits right after a run of its reference (baseline,
measured, baseline, measured, ...), and each ratio is taken within its
pair, so a machine that gets busier or quieter between rounds moves both
sides; the median of the rounds is printed, with the absolute figures.

To compare two trees, run this script against each: from the other
checkout with PYTHONPATH pointing at it (a tree without TLS pipes prints
"n/a" for that row; there, as between hosts means ZeroMQ + Curve).
For the pipe layer alone (vs raw pyzmq, ssh) see pipe_throughput.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import selectors
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from cluster_scale import memory_mb  # (beside this script)
from device_death import descendants  # (beside this script)
from pipe_throughput import private_sshd  # (beside this script: the same private sshd)

from onesh.runtime.localcluster import start_cluster, stop_cluster

HAS_TLS = importlib.util.find_spec("onesh.net.tlslink") is not None


def wired(transport: str) -> dict[str, str]:
    """The environment of a shell whose job's pipes go as on one host
    ("unix") or as between hosts over `transport` ("tls", "zmq")."""
    env = {k: v for k, v in os.environ.items() if k not in ("ONESH_NO_IPC", "ONESH_PIPE_TRANSPORT")}
    if transport != "unix":
        env.update(ONESH_NO_IPC="1", ONESH_PIPE_TRANSPORT=transport)
    return env


def timed(cmd: list[str], src: str, env: dict[str, str] | None = None) -> float:
    with open(src, "rb") as fin, open(os.devnull, "wb") as fout:
        t0 = time.perf_counter()
        subprocess.run(cmd, stdin=fin, stdout=fout, check=True, env=env)
        return time.perf_counter() - t0


def stage_memory(cluster_dir: str, runtime_pid: int) -> dict[str, tuple[float, float, float]]:
    """What a running stage costs on its runtime: its stage host's memory
    (and a builtin agent's, which is what it runs), during `yes | cat @r2`."""
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster_dir, "-c", "yes | cat @r2"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)
    found: dict[str, tuple[float, float, float]] = {}
    try:
        deadline = time.monotonic() + 20
        while len(found) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
            for pid in descendants(runtime_pid)[1:]:
                try:
                    with open(f"/proc/{pid}/comm") as f:
                        comm = f.read().strip()
                    with open(f"/proc/{pid}/cmdline", "rb") as f:
                        cold = b"onesh.runtime.stagehost" in f.read()
                except OSError:
                    continue
                mem = memory_mb(pid)
                if mem[0] != mem[0]:  # (NaN: it ended meanwhile)
                    continue
                if comm == "onesh-stagehost" or cold:
                    found["stage host"] = mem
                elif comm in ("cat", "python3", "python"):
                    found["its cat agent"] = mem
                elif comm == "onesh-zygote":
                    found["the runtime's zygote"] = mem
    finally:
        os.killpg(job.pid, signal.SIGINT)
        job.wait()
    return found


def line_latency(cluster_dir: str, lines: int, pipeline: str = "cat @r1 | cat @r2 | cat @r3",
                 env: dict[str, str] | None = None) -> list[float]:
    proc = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster_dir, "-c", pipeline],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out_fd = proc.stdout.fileno()
    samples = []
    try:
        for i in range(lines + 20):
            line = f"line {i}\n".encode()
            t0 = time.perf_counter()
            os.write(proc.stdin.fileno(), line)
            got = b""
            while not got.endswith(b"\n"):
                if not sel.select(timeout=10):
                    raise RuntimeError("no echo within 10 s")
                got += os.read(out_fd, 65536)
            if i >= 20:  # warm-up: connections, first frames
                samples.append(time.perf_counter() - t0)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    return sorted(samples)


def p50_p99(s: list[float]) -> str:
    return f"p50 {statistics.median(s) * 1000:6.2f} ms  p99 {s[max(0, int(len(s) * 0.99) - 1)] * 1000:6.2f} ms"


class Pairs:
    """Rounds of (reference, measured) seconds for one row."""

    def __init__(self, name: str, ref: str) -> None:
        self.name, self.ref = name, ref
        self.pairs: list[tuple[float, float]] = []

    def run(self, baseline: Callable[[], float], measured: Callable[[], float]) -> None:
        b = baseline()
        self.pairs.append((b, measured()))

    def ratio(self) -> float:
        return statistics.median(b / m for b, m in self.pairs)

    def line(self, mib: float) -> str:
        ref = statistics.median(mib / b for b, _ in self.pairs)
        got = statistics.median(mib / m for _, m in self.pairs)
        return f"{self.name:<52} {got:>8.0f} {self.ratio():>7.2f}x  of {self.ref} ({ref:.0f} MiB/s)"


NAMES = {"tls": "TLS 1.3", "zmq": "ZeroMQ + Curve"}


def print_throughput(one_host: Pairs, by_ssh: dict[str, Pairs], transports: list[str], mib: int,
                     one_stage: Pairs | None = None) -> None:
    print(f"{'path':<52} {'MiB/s':>8} {'ratio':>8}")
    print(one_host.line(mib))
    for t in transports:
        print(by_ssh[t].line(mib))
    if one_stage is not None and one_stage.pairs:
        # (the three-stage rows pass four encrypted hops, ssh one: this one
        # remote stage is two, shell → r1 → shell)
        print(one_stage.line(mib))
    if HAS_TLS:
        # the choice of default: the two transports within each round
        head = [z / t for (_, t), (_, z) in zip(by_ssh["tls"].pairs, by_ssh["zmq"].pairs, strict=True)]
        print(f"  TLS 1.3 throughput / ZeroMQ + Curve throughput, within each round: "
              f"{statistics.median(head):.2f}x (rounds: {', '.join(f'{h:.2f}' for h in head)})")
    else:
        print(f"{'  as between hosts, TLS 1.3':<52} {'n/a':>8}  (this tree has no TLS pipes)")


def print_latency(lat: dict[str, list[float]], fewer: list[list[float]], transports: list[str], lines: int) -> None:
    print(f"one line shell→r1→r2→r3→shell, {lines} round trips:")
    print(f"  {'one host (Unix sockets):':<34} {p50_p99(lat['unix'])}")
    for path, s in zip(("shell→r1→shell", "shell→r1→r2→shell"), fewer, strict=True):
        print(f"    same through {path + ':':<20} {p50_p99(s)}")
    for t in transports:
        print(f"  {'as between hosts, ' + NAMES[t] + ':':<34} {p50_p99(lat[t])}")


def print_goals(one_host: Pairs, tls: Pairs | None, lat: dict[str, list[float]],
                mem: dict[str, tuple[float, float, float]], starts: tuple[float, float, float] | None) -> None:
    """Each goal of the data plane next to what this run measured."""
    rows: list[tuple[str, str, bool]] = []
    if one_host.pairs:
        r = one_host.ratio()
        rows.append(("one host: 3 stages >= 0.5x local cat|cat|cat", f"{r:.2f}x", r >= 0.5))
    if tls is not None and tls.pairs:
        r = tls.ratio()
        rows.append(("between hosts (TLS): 3 stages >= 1.5x cat | ssh", f"{r:.2f}x", r >= 1.5))
    for key, p50_goal, where in (("unix", 0.5, "one host"), ("tls", 1.0, "between hosts (TLS)")):
        if key in lat:
            s = lat[key]
            p50, p99 = statistics.median(s) * 1000, s[max(0, int(len(s) * 0.99) - 1)] * 1000
            rows.append((f"one line, {where}: p50 < {p50_goal:g} ms, p99 < 2 ms", f"{p50:.2f} / {p99:.2f} ms",
                         p50 < p50_goal and p99 < 2))
    if starts is not None:
        rows.append(("`true @r2` in one shell <= 0.1x `ssh host true`", f"{starts[2]:.2f}x", starts[2] <= 0.1))
    if "stage host" in mem:
        uss = mem["stage host"][2]
        rows.append(("a stage < 15 MB on top of what it runs (stage host, private)", f"{uss:.1f} MB", uss < 15))
    if rows:
        print("goals:")
        for goal, got, met in rows:
            print(f"  {goal:<62} {got:>16}  {'met' if met else 'NOT MET'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024, help="MiB to push (default 1024)")
    ap.add_argument("--rounds", type=int, default=3, help="pairs of runs per row (default 3)")
    ap.add_argument("--lines", type=int, default=500)
    ap.add_argument("--starts", type=int, default=30, help="`true @r2` calls in one shell (default 30)")
    ap.add_argument("--only", choices=("all", "throughput", "latency", "starts"), default="all",
                    help="print one part only (default: all)")
    args = ap.parse_args()
    mib = args.size
    transports = ["tls", "zmq"] if HAS_TLS else ["zmq"]
    names = NAMES
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.bin")
        block = os.urandom(1 << 20)
        with open(src, "wb") as f:
            for _ in range(args.size if args.only in ("all", "throughput") else 0):
                f.write(block)
        info = start_cluster(os.path.join(d, "c"), nodes=3)
        try:
            with private_sshd(d) as ssh:
                cmd = [sys.executable, "-m", "onesh", "--cluster", info.directory, "-c",
                       "cat @r1 | cat @r2 | cat @r3"]
                local = ["sh", "-c", "cat | cat | cat"]
                rows = [Pairs(f"onesh 3 runtimes, one host (Unix sockets), {mib} MiB", "local cat|cat|cat")]
                by_ssh = {t: Pairs(f"  as between hosts, {names[t]}", "cat | ssh" if ssh else "local cat|cat|cat")
                          for t in transports}
                ssh_cmd = ["sh", "-c", "cat | " + " ".join([*ssh, "'cat > /dev/null'"])] if ssh else local
                one_stage = Pairs("  one stage, `cat @r1`, as between hosts, TLS 1.3",
                                  "cat | ssh" if ssh else "local cat|cat|cat")
                one_cmd = [sys.executable, "-m", "onesh", "--cluster", info.directory, "-c", "cat @r1"]
                for _ in range(args.rounds if args.only in ("all", "throughput") else 0):
                    rows[0].run(lambda: timed(local, src), lambda: timed(cmd, src, wired("unix")))
                    for t in transports:
                        by_ssh[t].run(lambda: timed(ssh_cmd, src),
                                      lambda t=t: timed(cmd, src, wired(t)))  # type: ignore[misc]
                    if HAS_TLS:
                        one_stage.run(lambda: timed(ssh_cmd, src), lambda: timed(one_cmd, src, wired("tls")))
                lat: dict[str, list[float]] = {}
                fewer: list[list[float]] = []
                if args.only in ("all", "latency"):
                    lat = {t: line_latency(info.directory, args.lines, env=wired(t)) for t in ("unix", *transports)}
                    fewer = [line_latency(info.directory, args.lines, p, env=wired("unix"))
                             for p in ("cat @r1", "cat @r1 | cat @r2")]
                mem = stage_memory(info.directory, info.pids["r2"]) if args.only in ("all", "starts") else {}
                starts = None
                if ssh and args.only in ("all", "starts"):
                    # one shell, many remote starts, against as many ssh round trips
                    n = args.starts
                    loop = f"for i in $(seq 1 {n}); do true @r2; done"
                    t_one = timed([sys.executable, "-m", "onesh", "--cluster", info.directory, "-c", "true @r2"],
                                  os.devnull)
                    per_call, ssh_call = [], []
                    for _ in range(args.rounds):  # (each loop right after its ssh reference)
                        ssh_call.append(statistics.median(timed([*ssh, "true"], os.devnull) for _ in range(5)))
                        t_loop = timed([sys.executable, "-m", "onesh", "--cluster", info.directory, "-c", loop],
                                       os.devnull)
                        per_call.append((t_loop - t_one) / (n - 1))
                    starts = (statistics.median(per_call), statistics.median(ssh_call),
                              statistics.median(p / s for p, s in zip(per_call, ssh_call, strict=True)))
        finally:
            stop_cluster(info)
    print(f"code under test: {os.path.dirname(os.path.dirname(os.path.abspath(sys.modules['onesh'].__file__ or '')))}"
          f"  ({args.rounds} rounds, reference run right before each)")
    if args.only in ("all", "throughput"):
        print_throughput(rows[0], by_ssh, transports, mib, one_stage)
    if lat:
        print_latency(lat, fewer, transports, args.lines)
    if args.only not in ("all", "starts"):
        return 0
    if mem:
        print("memory of a running stage (`yes | cat @r2`), MB RSS / PSS / private:")
        for what, (rss, pss, uss) in mem.items():
            print(f"  {what + ':':<24} {rss:6.1f} / {pss:5.1f} / {uss:5.1f}")
    if starts is not None:
        per, t_ssh, ratio = starts
        print(f"remote start, `true @r2` in one shell: {per * 1000:.0f} ms per call, {ratio:.2f}x of "
              f"`ssh 127.0.0.1 true` ({t_ssh * 1000:.0f} ms)")
    else:
        print("remote start: skipped, no sshd (bash scripts/bench-deps.sh)")
    print_goals(rows[0], by_ssh.get("tls"), lat, mem, starts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
