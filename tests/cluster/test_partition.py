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
from collections.abc import Callable, Iterator
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


def caught_up(cluster: Cluster, runtime: str, path: str) -> bool:
    """Does voter `runtime`'s replica have `path`?  (Until it caught up
    with the leader, it says it has not.)"""
    from onesh.runtime.localcluster import ClusterError

    try:
        return bool(cluster.call(cluster.info.runtimes[runtime].listen, "nsindex.stat", {"args": [path]})["result"])
    except ClusterError as e:
        assert "not caught up" in str(e), e
        return False


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
    deadline = time.monotonic() + 10
    while not caught_up(cluster, "r3", f"{DIR}/majority"):
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


def leader_name(snap: dict[str, Any]) -> str | None:
    return next((n for n, m in snap["members"].items() if snap["leader"] and m.get("raft") == snap["leader"]), None)


def raft_leader(cluster: Cluster) -> str | None:
    """The voter that leads, by the voters' own words: the one that says so
    in the highest term (a leader replaced while it was away may say so
    too, in its old term, until it hears of the new one)."""
    claims = []
    for name in ("r1", "r2", "r3"):
        with contextlib.suppress(Exception):
            view = cluster.call(cluster.info.runtimes[name].listen, "cluster.status")
            if leader_name(view) == name:
                claims.append((view["raft"]["term"], name))
    return max(claims)[1] if claims else None


def make_leader(cluster: Cluster, name: str) -> None:
    """Have voter `name` lead: freeze whichever other voter leads until the
    others elected one of them (`name` half the time), and again."""
    info = cluster.info
    for _ in range(12):
        cluster.wait_for(lambda s: formed(s, info) and s["leader"] is not None, timeout=60)
        leader = raft_leader(cluster)
        if leader == name:
            return
        if leader is None:
            time.sleep(0.2)
            continue
        os.kill(info.pids[leader], signal.SIGSTOP)
        try:
            cluster.wait_for(lambda s, old=leader: leader_name(s) not in (None, old), timeout=30)
        finally:
            os.kill(info.pids[leader], signal.SIGCONT)
    raise AssertionError(f"{name} never became the leader")


def lookups_until_back(cluster: Cluster, path: str, runtime: str, start: float,
                       step: tuple[float, Callable[[], None]] | None = None) -> list[str]:
    """Look `path` up as a new shell does (the status, then the fs agent
    it names), over and over, until `runtime` is back and caught up, and
    a second more; what went wrong.  `step`: (after how long, what to do)."""
    import asyncio

    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret
    from onesh.runtime.nsclient import Namespace

    info = cluster.info
    keys = ClusterKeys.from_secret(load_secret(info.secret))

    async def lookup() -> tuple[Any, dict[str, Any] | None]:
        ctx = zmq.asyncio.Context()
        try:
            async with Namespace(ctx, keys, info.boot, failover=5.0) as ns:
                try:
                    return await ns.stat(path, chunks=False), ns._snap
                except OSError as e:
                    return e, ns._snap
        finally:
            ctx.destroy(linger=0)

    wrong: list[str] = []
    looked = 0
    back = None
    while back is None or time.monotonic() < back + 1.0:
        assert time.monotonic() < start + 30, f"{runtime} never came back"
        if step is not None and time.monotonic() > start + step[0]:
            step[1]()
            step = None
        found, snap = asyncio.run(lookup())
        looked += 1
        seen = snap and (f"leader {leader_name(snap)} (term {(snap.get('raft') or {}).get('term')}), "
                         f"fs agent on {snap['assign'].get('fs')}, commit {(snap.get('raft') or {}).get('commit')}")
        if not isinstance(found, dict) or found.get("kind") != "file":
            wrong.append(f"{time.monotonic() - start:.2f}s: {found!r} (view: {seen})")
        elif snap and leader_name(snap) == runtime:
            wrong.append(f"{time.monotonic() - start:.2f}s: a view from {runtime} as the leader ({seen})")
        if step is None and back is None and snap and formed(snap, info) and caught_up(cluster, runtime, path):
            back = time.monotonic()
    assert back is not None
    print(f"\n{looked} lookups; {runtime} back and caught up after {back - start:.2f}s")
    return wrong


def test_right_after_healing_the_old_leader_is_no_authority(split: tuple[Host, Cluster], tmp_path: Path) -> None:
    """r3 leads when it is cut off (made to).  pysyncobj keeps a leader
    cut off from the others a leader (for 30 s); once it reaches a
    majority again it calls itself leader, with the log of the cut, until
    the new leader's first append reaches it.  Its view then ended a
    status read (a leader's answer is the freshest), with the fs agent on
    r3 in it (as it often is: the first leader gets it), and r3 answered
    "no such file" for what the majority wrote meanwhile: a shell ran
    `tail FILE` on its own host ("tail: cannot open FILE").  Here the
    partition heals unevenly, r3's connection to the new leader last (as
    it may by chance), and no lookup meanwhile goes by r3's view or misses
    the file."""
    host, cluster = split
    info = cluster.info
    make_leader(cluster, "r3")
    with NamespaceSync(info.boot, info.secret) as ns:
        ns.mkdir(DIR)
        host.cut()
        cut_at = time.monotonic()
        snap = cluster.wait_for(lambda s: s["leader"] is not None and not s["members"]["r3"].get("alive"))
        ns.write_bytes(f"{DIR}/majority", b"written by the majority\n")
    leader = leader_name(snap)
    assert leader in ("r1", "r2"), snap["leader"]
    time.sleep(max(0.0, CUT_FOR - (time.monotonic() - cut_at)))
    # (r3 dials the other voters' Raft ports: in pysyncobj the higher address dials)
    addr, _, port = str(info.runtimes[leader].raft).rpartition(":")
    host.heal_but(addr, int(port))
    wrong = lookups_until_back(cluster, f"{DIR}/majority", "r3", time.monotonic(), (2.0, host.heal))
    assert not wrong, "\n".join(wrong)
    p = onesh_here(cluster, f"tail -n 1 {DIR}/majority", tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (0, "written by the majority\n", "")


def test_a_leader_frozen_and_replaced_is_no_authority_when_it_wakes(
        make_cluster: Callable[..., Cluster], tmp_path: Path) -> None:
    """The same without a partition: the leader is frozen (SIGSTOP: a hung
    machine) until the others have another leader and wrote a file; once
    woken it calls itself leader in its old term for a while.  Every
    lookup meanwhile finds the file, and no status read goes by its view."""
    cluster = make_cluster(3)
    info = cluster.info
    snap = cluster.wait_for(lambda s: formed(s, info) and s["leader"] is not None, timeout=60)
    old = leader_name(snap)
    assert old is not None
    path = "/frozen/file"
    with NamespaceSync(info.boot, info.secret) as ns:
        ns.mkdir("/frozen")
        os.kill(info.pids[old], signal.SIGSTOP)
        try:
            cluster.wait_for(lambda s: leader_name(s) not in (None, old) and not s["members"][old].get("alive"),
                             timeout=30)
            ns.write_bytes(path, b"written while it slept\n")
        finally:
            os.kill(info.pids[old], signal.SIGCONT)
    wrong = lookups_until_back(cluster, path, old, time.monotonic())
    assert not wrong, "\n".join(wrong)
    p = onesh_here(cluster, f"tail -n 1 {path}", tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (0, "written while it slept\n", "")
