#!/usr/bin/env python3
"""A device dies during a job: how long until the job has ended.

    python benchmarks/device_death.py [--runs 10]

On a 3-runtime cluster (loopback), each run starts
`cat /dev/sensor/1 | cat -n @r2 | head -n 150 @r3 | wc -l` (`cat -n`
numbers lines: a stage with state, which is not restarted elsewhere; a
stateless one goes on elsewhere: benchmarks/recovery.py), lets data flow,
then kills r2's whole device (its daemon and every process it started,
frozen then killed together), and times until the shell has returned,
having named the runtime and the stages lost.  r2 then comes back (as a
rebooted device does: `cluster up` restarts the missing runtime) for the
next run.  Prints each run and the p50 / max.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster

PIPELINE = "cat /dev/sensor/1 | cat -n @r2 | head -n 150 @r3 | wc -l"


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError), open(f"/proc/{entry}/stat", "rb") as f:
                children.setdefault(int(f.read().rsplit(b")", 1)[1].split()[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def kill_device(pid: int) -> None:
    tree = descendants(pid)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for p in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as d:
        info = start_cluster(f"{d}/c", nodes=3, sensors=2)
        try:
            for run in range(args.runs):
                job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", info.directory, "-c", PIPELINE],
                                       cwd=d, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, start_new_session=True)
                time.sleep(3.0)  # a stage host on r2, data flowing (20 readings/s: 7.5 s to the end)
                kill_device(info.pids["r2"])
                t0 = time.monotonic()
                _, err = job.communicate(timeout=60)
                took = time.monotonic() - t0
                times.append(took)
                said = err.decode().strip().splitlines()[-1] if err.strip() else "(nothing)"
                print(f"run {run + 1}: ended {took:.2f}s after the device died, status {job.returncode}: {said}")
                sys.stdout.flush()
                info = start_cluster(info.directory)  # r2 comes back
        finally:
            stop_cluster(ClusterInfo.load(f"{d}/c"))
    print(f"device death → job ended, over {len(times)} runs: p50 {statistics.median(times):.2f}s, "
          f"max {max(times):.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
