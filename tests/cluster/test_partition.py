"""A real network partition (issue #14): voter r3 runs in a network
namespace of its own (a second host on a veth pair) and is cut off from
r1 and r2 by nftables for about five seconds.

On its side, a namespace write made by a shell that reaches only r3 fails
within seconds with one line saying no leader is reachable from r3 (it is
cut off from 2 of 3 voters) and status 1, never a traceback or a hang.
The majority keeps serving writes and reads and declares r3 dead.  Once
the partition heals r3 rejoins, and a read through it sees what the
majority wrote meanwhile."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import Cluster, end_job
from netsplit import Host, NoNamespaces, onesh_in, second_host, split_cluster

from onesh.runtime.localcluster import ClusterInfo, stop_cluster
from onesh.runtime.nsclient import NamespaceSync

pytestmark = pytest.mark.slow

CUT_FOR = 5.0  # seconds the partition lasts
DIR = "/netsplit"  # a namespace directory this host has no directory for: files below it are the cluster's


@pytest.fixture
def split(tmp_path: Path) -> Iterator[tuple[Host, Cluster]]:
    yield from _split(tmp_path, 0)


@pytest.fixture
def split_of_five(tmp_path: Path) -> Iterator[tuple[Host, Cluster]]:
    """r3 in the namespace; r1, r2, r4, r5 on this side."""
    yield from _split(tmp_path, 2)


def _split(tmp_path: Path, members: int) -> Iterator[tuple[Host, Cluster]]:
    with contextlib.ExitStack() as stack:
        try:
            host = stack.enter_context(second_host())
        except NoNamespaces as e:
            pytest.skip(f"cannot make a second host (network namespace, nftables) here: {e}")
        directory = str(tmp_path / "c")
        info = split_cluster(directory, host, members)
        # (from the directory: what was recorded; the namespace's own teardown
        # then kills whatever is left in it)
        stack.callback(lambda: stop_cluster(ClusterInfo.load(directory)))
        cluster = Cluster(info)
        cluster.wait_for(lambda s: formed(s, info), timeout=60)
        yield host, cluster


def formed(snap: dict[str, Any], info: ClusterInfo) -> bool:
    members = snap["members"]
    return len(snap["assign"]) >= 5 and all(
        (members.get(n) or {}).get("alive") and members[n].get("pid") == pid for n, pid in info.pids.items())


def onesh_here(cluster: Cluster, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`onesh -c` on this side of the partition (any runtime it can reach)."""
    return subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                          capture_output=True, text=True, cwd=cwd, timeout=60, stdin=subprocess.DEVNULL)


def test_a_cut_off_runtime_refuses_writes_and_catches_up_after_healing(
        split: tuple[Host, Cluster], tmp_path: Path) -> None:
    host, cluster = split
    info = cluster.info
    seed = random.randrange(1 << 32)
    print(f"random seed: {seed}")
    rng = random.Random(seed)
    files = {name: f"{name} {rng.getrandbits(64):016x}\n" for name in ("before", "during", "majority", "after")}
    for name, text in files.items():
        (tmp_path / name).write_text(text)  # (the namespace shares our file system, not our network)
    assert not Path(DIR).exists()
    with NamespaceSync(info.boot, info.secret) as ns:
        ns.mkdir(DIR)

    p, _ = onesh_in(host, info, "r3", f"cp {tmp_path}/before {DIR}/before && cat {DIR}/before")
    assert (p.returncode, p.stdout, p.stderr) == (0, files["before"], "")

    host.cut()
    cut_at = time.monotonic()
    # Through r3 at once: it needs a moment to see its peers gone (Raft's
    # connection timeout), then says so.
    p, took = onesh_in(host, info, "r3", f"cp {tmp_path}/during {DIR}/during")
    problem = "no leader reachable: r3 is cut off from 2 of 3 voters (r1, r2)"
    # (found out looking the target up, or storing it: the same line)
    assert (p.returncode, p.stdout, p.stderr) == (1, "", f"cp: {DIR}/during: {problem}\n")
    assert took < 15, f"the write through r3 took {took:.1f}s to fail"
    print(f"write through the cut-off r3 failed after {took:.2f}s (started as the cut began)")
    p, took_mkdir = onesh_in(host, info, "r3", f"mkdir {DIR}/d")
    assert (p.returncode, p.stderr) == (1, f"mkdir: {DIR}/d: {problem}\n")
    print(f"a second write (mkdir) through r3 failed after {took_mkdir:.2f}s")
    p, _ = onesh_in(host, info, "r3", f"cat {DIR}/before")
    assert p.returncode == 1 and problem in p.stderr and p.stderr.count("\n") == 1, p.stderr

    # The majority carries on: it declares r3 dead and takes writes and reads.
    snap = cluster.wait_for(lambda s: s["leader"] is not None and not s["members"]["r3"].get("alive"))
    print(f"the majority declared r3 dead {time.monotonic() - cut_at:.2f}s after the cut "
          f"(leader {snap['leader']})")
    p = onesh_here(cluster, f"cp {tmp_path}/majority {DIR}/majority && cat {DIR}/majority {DIR}/before", tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (0, files["majority"] + files["before"], "")
    assert host.dropped() > 0

    time.sleep(max(0.0, CUT_FOR - (time.monotonic() - cut_at)))
    host.heal()
    healed_at = time.monotonic()
    print(f"healed after {healed_at - cut_at:.2f}s cut off")
    cluster.wait_for(lambda s: formed(s, info), timeout=30)
    print(f"r3 alive again {time.monotonic() - healed_at:.2f}s after healing")

    # r3's own replica has what the majority wrote, and a shell reaching
    # only r3 reads it and writes again.
    r3 = info.runtimes["r3"].listen
    deadline = time.monotonic() + 10
    while cluster.call(r3, "nsindex.stat", {"args": [f"{DIR}/majority"]})["result"] is None:
        assert time.monotonic() < deadline, "r3's replica did not catch up"
        time.sleep(0.1)
    p, _ = onesh_in(host, info, "r3", f"cat {DIR}/majority && cp {tmp_path}/after {DIR}/after && ls {DIR}")
    assert (p.returncode, p.stdout, p.stderr) == (0, files["majority"] + "after\nbefore\nmajority\n", ""), p.stderr
    p = onesh_here(cluster, f"cat {DIR}/after", tmp_path)
    assert (p.returncode, p.stdout) == (0, files["after"])


def test_a_pipeline_through_a_cut_off_runtime_goes_on_and_its_file_is_complete(
        split_of_five: tuple[Host, Cluster], tmp_path: Path) -> None:
    """5 runtimes; r3, cut off for 5 s, runs the middle of a pipeline that
    writes a namespace file.  The shell (this side) restarts `cat @r3` on
    a runtime of this side; the file is complete, every line once.  After
    healing, the stage left running on r3 is stopped (its reader ignores
    the writer it was replaced by: epoch), and the cluster is whole."""
    from cluster_helpers import comm, job_processes

    host, cluster = split_of_five
    info = cluster.info
    n = 2_000_000
    with NamespaceSync(info.boot, info.secret) as ns:
        ns.mkdir(DIR)
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", info.directory, "-c",
                            f"seq 1 {n} @r1 | cat @r3 | cat > {DIR}/lines @r2"],
                           cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, start_new_session=True)
    writer = 0
    try:
        # Hold the file's writer up: every window of the pipeline fills, so
        # the cut catches data in flight through r3.
        deadline = time.monotonic() + 20
        while not writer:
            assert time.monotonic() < deadline, "the job never started its writer on r2"
            writer = next((p for p in job_processes(info.pids["r2"]) if comm(p) == "cat"), 0)
            time.sleep(0.05)
        os.kill(writer, signal.SIGSTOP)
        r3 = info.runtimes["r3"].listen
        deadline = time.monotonic() + 20
        while not any(r["state"] == "running" and r["bytes_in"]
                      for r in cluster.call(r3, "stage.list")["rows"]):
            assert time.monotonic() < deadline, "nothing went through r3"
            time.sleep(0.1)
        host.cut()
        cut_at = time.monotonic()
        os.kill(writer, signal.SIGCONT)
        time.sleep(max(0.0, CUT_FOR - (time.monotonic() - cut_at)))
        host.heal()
        _, err = job.communicate(timeout=120)
    finally:
        if writer:
            with contextlib.suppress(ProcessLookupError):
                os.kill(writer, signal.SIGCONT)
        end_job(job)
    print(f"\njob status {job.returncode}; stderr {err!r}")
    assert job.returncode == 0, err
    assert "runtime r3 is gone" in err and "cat @r3 goes on on r" in err, err
    p = onesh_here(cluster, f"wc -l < {DIR}/lines && tail -n 1 {DIR}/lines", tmp_path)
    assert (p.returncode, p.stdout.split()) == (0, [str(n), str(n)]), p.stderr
    p = onesh_here(cluster, f"cat {DIR}/lines", tmp_path)
    assert p.stdout == "".join(f"{i}\n" for i in range(1, n + 1)), (p.returncode, p.stderr)
    cluster.wait_for(lambda s: formed(s, info), timeout=30)
    # The stage left on r3 stops: its writer ignores it, no shell asks about it.
    deadline = time.monotonic() + 15
    while any(r["state"] == "running" for r in cluster.call(info.runtimes["r3"].listen, "stage.list")["rows"]):
        assert time.monotonic() < deadline, "the stage cut off on r3 never stopped"
        time.sleep(0.2)
