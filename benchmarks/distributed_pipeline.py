#!/usr/bin/env python3
"""The whole stack: a pipeline typed into onesh, stages on three runtimes.

    python benchmarks/distributed_pipeline.py [--size MiB] [--lines N]

Starts a 3-runtime cluster on loopback and prints, side by side:
- throughput of `cat @r1 | cat @r2 | cat @r3` run by `onesh -c` (stdin a
  file, stdout /dev/null): shell → r1 → r2 → r3 → shell, four network
  pipes, three builtin `cat` agents; as wired on one host (Unix sockets)
  and as between hosts (ONESH_NO_IPC=1: TCP + Curve);
- the same bytes through a local `cat | cat | cat` (OS pipes);
- latency of one line through the three runtimes and back (p50/p99 of
  N round trips, each line written and awaited before the next), and the
  same through one and two runtimes: the step from one row to the next
  is what one more runtime costs (a network hop, the stage host's two
  pumps, its `cat`), what is left at one runtime is the shell's part
  (its stdin and stdout pumps) plus two hops.
For the pipe layer alone (vs raw pyzmq, ssh) see pipe_throughput.py.
"""

from __future__ import annotations

import argparse
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time

from onesh.runtime.localcluster import start_cluster, stop_cluster

TCP = dict(os.environ, ONESH_NO_IPC="1")  # wire every pipe as between hosts: TCP + Curve


def throughput(cmd: list[str], src: str, env: dict[str, str] | None = None) -> float:
    with open(src, "rb") as fin, open(os.devnull, "wb") as fout:
        t0 = time.perf_counter()
        subprocess.run(cmd, stdin=fin, stdout=fout, check=True, env=env)
        return time.perf_counter() - t0


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
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024, help="MiB to push (default 1024)")
    ap.add_argument("--lines", type=int, default=500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.bin")
        block = os.urandom(1 << 20)
        with open(src, "wb") as f:
            for _ in range(args.size):
                f.write(block)
        info = start_cluster(os.path.join(d, "c"), nodes=3)
        try:
            mib = args.size
            cmd = [sys.executable, "-m", "onesh", "--cluster", info.directory, "-c", "cat @r1 | cat @r2 | cat @r3"]
            onesh_s = throughput(cmd, src)
            tcp_s = throughput(cmd, src, TCP)
            local_s = throughput(["sh", "-c", "cat | cat | cat"], src)
            lat = sorted(line_latency(info.directory, args.lines))
            fewer = [sorted(line_latency(info.directory, args.lines, p)) for p in ("cat @r1", "cat @r1 | cat @r2")]
            lat_tcp = sorted(line_latency(info.directory, args.lines, env=TCP))
        finally:
            stop_cluster(info)
    print(f"{'path':<58} {'MiB/s':>8} {'ratio':>7}")
    print(f"{'onesh cat@r1 | cat@r2 | cat@r3 (' + str(mib) + ' MiB), one host':<58} {mib / onesh_s:>8.0f} "
          f"{local_s / onesh_s:>7.2f}")
    print(f"{'  same, pipes wired as between hosts (TCP + Curve)':<58} {mib / tcp_s:>8.0f} {local_s / tcp_s:>7.2f}")
    print(f"{'local cat | cat | cat (OS pipes)':<58} {mib / local_s:>8.0f} {1.0:>7.2f}")

    def p50_p99(s: list[float]) -> str:
        return f"p50 {statistics.median(s) * 1000:.2f} ms, p99 {s[int(len(s) * 0.99) - 1] * 1000:.2f} ms"

    print(f"one line shell→r1→r2→r3→shell, {len(lat)} round trips: {p50_p99(lat)}")
    for path, s in zip(("shell→r1→shell", "shell→r1→r2→shell"), fewer, strict=True):
        print(f"  same through {path + ':':<22} {p50_p99(s)}")
    print(f"  all three, wired as between hosts:  {p50_p99(lat_tcp)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
