#!/usr/bin/env python3
"""Unmodified programs as agents: what the onesh context costs.

    python benchmarks/agents.py [--lines N] [--files N] [--rounds R]

Starts a 3-runtime cluster on loopback and prints, side by side (each
pair measured alternately, R rounds, medians):

1. a stdin→stdout line filter (a plain Python script; the same in Node):
   - plain `python3 filter.py` in a local pipe, `cat | python3 filter.py |
     cat` with the file on stdin and /dev/null as stdout (the reference:
     the placed filter, too, reads and writes pipes), and, stricter, the
     plain program reading the file itself and writing /dev/null;
   - the same script under the launcher, reading the file: the
     context alone (`python -m onesh.runtime.agent filter.py`);
   - placed by onesh on another runtime: `onesh -c 'python3 filter.py @r2'`
     with the file on the shell's stdin and its stdout to /dev/null — the
     whole stack (shell start-up, planning, a network pipe each way);
   - the same placement with the script as a plain external command
     (`sh -c 'exec python3 filter.py' @r2`, no context): what the stack
     costs without the context, on this machine's cores;
2. many small files: one script writes N small files, reads each back,
   and appends to a log after each file, then lists the directory;
   plainly on a local directory vs under the launcher on a namespace
   directory (every change durable on 2 runtimes and in the Raft log
   before it is acknowledged).  The script times its own loop, so
   interpreter start-up is not in the ratio.  The same operations made
   directly with the namespace client (no program, no context) show what
   the cluster itself costs per operation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from onesh.runtime.localcluster import start_cluster, stop_cluster
from onesh.runtime.nsclient import NamespaceSync

FILTER_PY = """\
import sys
for line in sys.stdin:
    if "7" in line:
        print(line.upper(), end="")
"""
FILTER_JS = """\
const readline = require('readline');
const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => { if (line.includes('7')) console.log(line.toUpperCase()); });
"""
SMALL_PY = """\
import os, sys, time
top, n = sys.argv[1], int(sys.argv[2])
t0 = time.perf_counter()
for i in range(n):
    name = os.path.join(top, f"f{i}.txt")
    with open(name, "w") as f:
        f.write(f"record {i}\\n" * 4)
    with open(name) as f:
        assert f.read().startswith(f"record {i}")
    with open(os.path.join(top, "log.txt"), "a") as log:
        log.write(f"{i}\\n")
assert len(os.listdir(top)) == n + 1
print(time.perf_counter() - t0)
"""
SMALL_JS = """\
const fs = require('fs');
const path = require('path');
const [top, n] = [process.argv[2], Number(process.argv[3])];
const t0 = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  const name = path.join(top, `f${i}.txt`);
  fs.writeFileSync(name, `record ${i}\\n`.repeat(4));
  if (!fs.readFileSync(name, 'utf8').startsWith(`record ${i}`)) throw new Error('bad read');
  fs.appendFileSync(path.join(top, 'log.txt'), `${i}\\n`);
}
if (fs.readdirSync(top).length !== n + 1) throw new Error('bad listing');
console.log(Number(process.hrtime.bigint() - t0) / 1e9);
"""


def timed(cmd: list[str], src: str, env: dict[str, str] | None = None) -> float:
    with open(src, "rb") as fin, open(os.devnull, "wb") as fout:
        t0 = time.perf_counter()
        subprocess.run(cmd, stdin=fin, stdout=fout, check=True, env=env)
        return time.perf_counter() - t0


def alternate(runs: dict[str, object], rounds: int) -> dict[str, float]:
    """Median seconds of each zero-argument function, run in turn."""
    samples: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):
        for k, fn in runs.items():
            samples[k].append(fn())  # type: ignore[operator]
    return {k: statistics.median(v) for k, v in samples.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines through the filter (default 1,000,000)")
    ap.add_argument("--files", type=int, default=100, help="small files written and read (default 100)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    node = shutil.which("node")
    py = sys.executable
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("ONESH_")}
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.txt")
        with open(src, "w") as f:
            f.writelines(f"line {i} of the input, with some words after it\n" for i in range(args.lines))
        mib = os.path.getsize(src) / (1 << 20)
        for name, text in (("filter.py", FILTER_PY), ("filter.js", FILTER_JS), ("small.py", SMALL_PY),
                           ("small.js", SMALL_JS)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)
        filt, filt_js = os.path.join(d, "filter.py"), os.path.join(d, "filter.js")
        info = start_cluster(os.path.join(d, "c"), nodes=3)
        try:
            onesh = [py, "-m", "onesh", "--cluster", info.directory, "-c"]
            runs: dict[str, object] = {
                "plain": lambda: timed([py, filt], src, plain_env),
                "piped": lambda: timed(["sh", "-c", f"cat | {py} {filt} | cat"], src, plain_env),
                "context": lambda: timed([py, "-m", "onesh.runtime.agent", filt], src, plain_env),
                "placed": lambda: timed([*onesh, f"python3 {filt} @r2"], src),
                "external": lambda: timed([*onesh, f"sh -c 'exec {py} {filt}' @r2"], src),
            }
            if node:
                runs.update({
                    "node plain": lambda: timed([node, filt_js], src, plain_env),
                    "node piped": lambda: timed(["sh", "-c", f"cat | {node} {filt_js} | cat"], src, plain_env),
                    "node context": lambda: timed([py, "-m", "onesh.runtime.nodeagent", filt_js], src, plain_env),
                    "node placed": lambda: timed([*onesh, f"node {filt_js} @r2"], src),
                })
            filt_s = alternate(runs, args.rounds)
            small = small_files(info, d, args.files, args.rounds, node)
        finally:
            stop_cluster(info)

    print(f"1. stdin→stdout filter, {args.lines:,} lines ({mib:.0f} MiB), median of {args.rounds}")
    print("   (ratio: to the plain program in a local pipe, `cat | python3 filter.py | cat`, the")
    print("    reference; 'no pipe': to the plain program reading the file, writing /dev/null)")
    print(f"   {'how':<58} {'seconds':>8} {'MiB/s':>7} {'ratio':>8} {'no pipe':>8}")
    rows = [("plain python3 filter.py in a local pipe (reference)", "piped", "piped", "plain"),
            ("plain python3 filter.py < file > /dev/null (no pipe)", "plain", "piped", "plain"),
            ("python -m onesh.runtime.agent filter.py < file (context)", "context", "piped", "plain"),
            ("onesh -c 'python3 filter.py @r2' (placed by onesh)", "placed", "piped", "plain"),
            ("  same placement, no context (an external command)", "external", "piped", "plain"),
            ("plain node filter.js in a local pipe (reference)", "node piped", "node piped", "node plain"),
            ("plain node filter.js < file > /dev/null (no pipe)", "node plain", "node piped", "node plain"),
            ("python -m onesh.runtime.nodeagent filter.js < file (context)", "node context", "node piped",
             "node plain"),
            ("onesh -c 'node filter.js @r2' (placed by onesh)", "node placed", "node piped", "node plain")]
    for label, key, base, direct in rows:
        if key in filt_s:
            s = filt_s[key]
            print(f"   {label:<58} {s:>8.2f} {mib / s:>7.1f} {s / filt_s[base]:>8.2f} {s / filt_s[direct]:>8.2f}")
    print(f"2. {args.files} small files written, read back, logged (write+read+append each), "
          f"median of {args.rounds}")
    print(f"   {'how':<58} {'seconds':>8} {'ms/file':>7} {'ratio':>8}")
    for label, key, base in (("plain python3 on a local directory", "local", "local"),
                             ("python agent on a namespace directory", "ns", "local"),
                             ("  the same operations by the namespace client, no program", "client", "local"),
                             ("plain node on a local directory", "node local", "node local"),
                             ("node agent on a namespace directory", "node ns", "node local")):
        if key in small:
            s = small[key]
            print(f"   {label:<58} {s:>8.3f} {s / args.files * 1000:>7.2f} {s / small[base]:>8.1f}")
    return 0


def small_files(info: object, d: str, n: int, rounds: int, node: str | None) -> dict[str, float]:
    from onesh.runtime.localcluster import ClusterInfo

    assert isinstance(info, ClusterInfo)
    env = {**os.environ, "ONESH_BOOT": ",".join(info.boot), "ONESH_SECRET": info.secret, "ONESH_RUNTIME": "r2",
           "ONESH_PWD": d}
    plain_env = {k: v for k, v in os.environ.items() if not k.startswith("ONESH_")}
    counter = iter(range(1_000_000))

    def local(script: str, interp: list[str]) -> float:
        top = os.path.join(d, f"local{next(counter)}")
        os.mkdir(top)
        out = subprocess.run([*interp, os.path.join(d, script), top, str(n)], capture_output=True, text=True,
                             check=True, env=plain_env)
        shutil.rmtree(top)
        return float(out.stdout)

    def in_ns(script: str, launcher: str) -> float:
        top = f"/bench-small-{next(counter)}"
        with NamespaceSync(info.boot, info.secret) as ns:
            ns.mkdir(top)
        out = subprocess.run([sys.executable, "-m", launcher, os.path.join(d, script), top, str(n)],
                             capture_output=True, text=True, check=True, env=env, cwd=d)
        with NamespaceSync(info.boot, info.secret) as ns:
            ns.rm(top, recursive=True)
        return float(out.stdout)

    def client() -> float:
        top = f"/bench-small-{next(counter)}"
        with NamespaceSync(info.boot, info.secret, local_runtime="r2") as ns:
            ns.mkdir(top)
            t0 = time.perf_counter()
            for i in range(n):
                ns.write_bytes(f"{top}/f{i}.txt", f"record {i}\n".encode() * 4)
                assert ns.read_bytes(f"{top}/f{i}.txt").startswith(f"record {i}".encode())
                ns.write_bytes(f"{top}/log.txt", f"{i}\n".encode(), append=True)
            assert len(ns.listdir(top)) == n + 1
            took = time.perf_counter() - t0
            ns.rm(top, recursive=True)
        return took

    runs: dict[str, object] = {
        "local": lambda: local("small.py", [sys.executable]),
        "ns": lambda: in_ns("small.py", "onesh.runtime.agent"),
        "client": client,
    }
    if node:
        runs["node local"] = lambda: local("small.js", [node])
        runs["node ns"] = lambda: in_ns("small.js", "onesh.runtime.nodeagent")
    return alternate(runs, rounds)


if __name__ == "__main__":
    sys.exit(main())
