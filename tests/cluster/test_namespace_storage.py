"""The namespace (fs agent) and replicated storage on real runtime clusters."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import Cluster, running_cluster

from onesh.runtime.localcluster import ClusterError
from onesh.runtime.nsclient import NamespaceSync

pytestmark = pytest.mark.slow

MiB = 1 << 20


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("ns") / "c", nodes=3, sensors=2)


@pytest.fixture
def ns(cluster: Cluster) -> Iterator[NamespaceSync]:
    with NamespaceSync(cluster.info.boot, cluster.info.secret) as n:
        yield n


def errno_of(fn: Callable[[], Any]) -> int | None:
    try:
        fn()
    except OSError as e:
        return e.errno
    return None


def wait(pred: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.1)


def test_metadata_semantics_and_errors(ns: NamespaceSync) -> None:
    ns.mkdir("/home/sem")
    ns.mkdir("/home/sem/a/b", parents=True)
    assert errno_of(lambda: ns.mkdir("/home/sem")) == errno.EEXIST
    assert errno_of(lambda: ns.mkdir("/home/nope/x")) == errno.ENOENT
    ns.write_bytes("/home/sem/a/f", b"hello\n")
    assert errno_of(lambda: ns.mkdir("/home/sem/a/f/g")) == errno.ENOTDIR
    assert [e["name"] for e in ns.listdir("/home/sem/a")] == ["b", "f"]
    st = ns.stat("/home/sem/a/f")
    assert st is not None and st["kind"] == "file" and st["size"] == 6
    assert ns.stat("/home/sem/none") is None
    assert errno_of(lambda: ns.listdir("/home/sem/none")) == errno.ENOENT
    # mv (rename), cp (shares chunks), rm
    ns.mv("/home/sem/a/f", "/home/sem/g")
    assert ns.stat("/home/sem/a/f") is None
    ns.cp("/home/sem/g", "/home/sem/a/copy")
    assert ns.read_bytes("/home/sem/a/copy") == b"hello\n"
    assert ns.stat("/home/sem/a/copy")["chunks"] == ns.stat("/home/sem/g")["chunks"]  # type: ignore[index]
    assert errno_of(lambda: ns.mv("/home/sem/g", "/home/sem/a")) == errno.EISDIR
    assert errno_of(lambda: ns.mv("/home/sem", "/home/sem/a/in")) == errno.EINVAL
    assert errno_of(lambda: ns.rm("/home/sem/a")) == errno.ENOTEMPTY
    assert errno_of(lambda: ns.rm("/home")) == errno.EPERM
    assert errno_of(lambda: ns.read_bytes("/home/sem/a")) == errno.EISDIR
    ns.cp("/home/sem/a", "/home/sem/a2")  # a directory, recursively
    assert ns.read_bytes("/home/sem/a2/copy") == b"hello\n"
    ns.rm("/home/sem/a", recursive=True)
    assert sorted(e["name"] for e in ns.listdir("/home/sem")) == ["a2", "g"]
    # appends, and empty files
    ns.write_bytes("/home/sem/g", b"more\n", append=True)
    assert ns.read_bytes("/home/sem/g") == b"hello\nmore\n"
    ns.write_bytes("/home/sem/empty", b"")
    assert ns.stat("/home/sem/empty")["size"] == 0  # type: ignore[index]
    assert ns.read_bytes("/home/sem/empty") == b""
    assert errno_of(lambda: ns.mkdir("/net/r1/x")) == errno.EROFS


def test_devices_are_registered_with_their_owner(ns: NamespaceSync) -> None:
    devs = wait(lambda: {e["name"]: e for e in ns.listdir("/dev/sensor")} if ns.stat("/dev/sensor") else None)
    assert sorted(devs) == ["1", "2"]
    # start_cluster puts sensor 1 on r1 and sensor 2 on r2
    assert devs["1"]["owner"] == "r1" and devs["2"]["owner"] == "r2"
    assert devs["1"]["kind"] == "device" and devs["1"]["spec"] == "sim:sine" and devs["1"]["alive"]
    assert errno_of(lambda: ns.rm("/dev/sensor/1")) == errno.EPERM


READER = """
import hashlib, sys
from onesh.runtime.localcluster import ClusterError
from onesh.runtime.nsclient import NamespaceSync
boot, secret, rt, path = sys.argv[1].split(","), sys.argv[2], sys.argv[3], sys.argv[4]
with NamespaceSync(boot, secret, local_runtime=rt) as ns:
    print(hashlib.sha256(ns.read_bytes(path)).hexdigest())
"""


def test_5mib_written_on_one_runtime_reads_back_everywhere(cluster: Cluster, tmp_path: Path) -> None:
    data = os.urandom(5 * MiB + 12345)
    with NamespaceSync(cluster.info.boot, cluster.info.secret, local_runtime="r1") as ns:
        ns.mkdir("/home/big", parents=True)
        ns.write_bytes("/home/big/blob", data)
        st = ns.stat("/home/big/blob")
    assert st is not None and st["size"] == len(data)
    live = {n for n, m in cluster.status()["members"].items() if m["alive"]}
    for sha, _size, reps in st["chunks"]:
        assert len(reps) == 2 and len(set(reps)) == 2 and set(reps) <= live
        assert reps[0] == "r1"  # the writer's runtime first
        for r in reps:
            ep = cluster.status()["members"][r]["endpoint"]
            assert cluster.call(ep, "chunk.has", {"sha": sha})["has"]
    want = hashlib.sha256(data).hexdigest()
    with NamespaceSync(cluster.info.boot, cluster.info.secret) as ns:
        ns.ns.page = 2  # the chunk list in pages of 2
        assert st["nchunks"] == 6 and hashlib.sha256(ns.read_bytes("/home/big/blob")).hexdigest() == want
    script = tmp_path / "reader.py"
    script.write_text(READER)
    members = cluster.status()["members"]
    for rt in ("r1", "r2", "r3"):  # a process on each runtime, reading through it
        r = cluster.client.spawn(members[rt]["endpoint"], [
            sys.executable, str(script), ",".join(cluster.info.boot), cluster.info.secret, rt,
            "/home/big/blob"], timeout=30)
        assert r["status"] == 0, r["stderr"]
        assert r["stdout"].strip() == want


def test_flush_commit_makes_a_growing_file_readable(cluster: Cluster) -> None:
    with NamespaceSync(cluster.info.boot, cluster.info.secret, local_runtime="r2") as w_ns, \
            NamespaceSync(cluster.info.boot, cluster.info.secret) as r_ns:
        w = w_ns.ns.writer("/tmp/stream")
        w_ns.run(w.write(b"line 1\n"))
        w_ns.run(w.flush_commit())
        assert r_ns.read_bytes("/tmp/stream") == b"line 1\n"
        w_ns.run(w.write(b"line 2\n"))
        w_ns.run(w.flush_commit())
        w_ns.run(w.write(b"line 3\n"))
        assert r_ns.read_bytes("/tmp/stream") == b"line 1\nline 2\n"  # line 3 not committed yet
        w_ns.run(w.close())
        assert r_ns.read_bytes("/tmp/stream") == b"line 1\nline 2\nline 3\n"


def test_a_writer_at_a_size_cuts_the_file_back_there_and_goes_on(cluster: Cluster) -> None:
    """nsclient.writer_at, what a restarted `tee FILE` opens its FILE with:
    the chunks before the cut are kept, the one it falls inside is cut,
    and what follows is written after it."""
    from onesh.kernel.storage import CHUNK

    body = bytes(range(256)) * (3 * CHUNK // 256)  # three whole chunks
    with NamespaceSync(cluster.info.boot, cluster.info.secret, local_runtime="r2") as ns:
        for cut in (0, CHUNK, CHUNK + 12345, len(body)):
            ns.write_bytes("/tmp/cut", body)
            w = ns.run(ns.ns.writer_at("/tmp/cut", cut))
            ns.run(w.write(b"then this"))
            ns.run(w.close())
            assert ns.read_bytes("/tmp/cut") == body[:cut] + b"then this", cut
        with pytest.raises(OSError) as e:
            ns.run(ns.ns.writer_at("/tmp/cut", len(body) + 100))  # (it holds len(body) + 9)
        assert e.value.errno == errno.ESTALE


def test_net_shows_host_files_read_only(ns: NamespaceSync, tmp_path: Path) -> None:
    f = tmp_path / "host.txt"
    f.write_bytes(b"on the host\n" * 100000)  # > one chunk
    assert sorted(e["name"] for e in ns.listdir("/net")) == ["r1", "r2", "r3"]
    st = ns.stat(f"/net/r3{f}")
    assert st is not None and st["kind"] == "file" and st["size"] == f.stat().st_size
    assert ns.read_bytes(f"/net/r3{f}") == f.read_bytes()
    assert [e["name"] for e in ns.listdir(f"/net/r2{tmp_path}")] == ["host.txt"]
    assert ns.stat(f"/net/r1{tmp_path}/nope") is None
    ns.cp(f"/net/r1{f}", "/tmp/from-host")  # into the replicated namespace
    assert ns.read_bytes("/tmp/from-host") == f.read_bytes()
    assert errno_of(lambda: ns.rm(f"/net/r1{f}")) == errno.EROFS


# ------------------------------------------------------------- failures
def kill9(cluster: Cluster, name: str) -> None:
    os.kill(cluster.info.pids[name], signal.SIGKILL)
    cluster.wait_for(lambda s: not s["members"][name]["alive"], timeout=20)


def agent_host(cluster: Cluster, agent: str) -> str:
    """The agent's runtime, once the answering voter knows it alive (a
    follower may lag the leader by an append period)."""
    snap = cluster.wait_for(lambda s: (s["members"].get(s["assign"].get(agent)) or {}).get("alive"))
    host: str = snap["assign"][agent]
    return host


def settled(cluster: Cluster, nodes: int) -> dict[str, Any]:
    return cluster.wait_for(lambda s: len(s["assign"]) >= 5
                            and sum(bool(m["alive"]) for m in s["members"].values()) >= nodes)


def tree(ns: NamespaceSync, top: str) -> dict[str, Any]:
    out = {}
    for e in ns.listdir(top):
        out[e["path"]] = (e["kind"], e.get("size"), [c[0] for c in e.get("chunks", [])])
        if e["kind"] == "dir":
            out.update(tree(ns, e["path"]))
    return out


def test_replica_loss_and_fs_agent_failover(make_cluster: Callable[..., Cluster]) -> None:
    # 5 voters: the Raft group keeps its quorum through two kills.
    cluster = make_cluster(nodes=5, voters=5, sensors=5)  # sensor k on rk
    data = os.urandom(3 * MiB + 7)
    fs_host = agent_host(cluster, "fs")
    writer = next(n for n in ("r1", "r2", "r3", "r4", "r5") if n != fs_host)
    with NamespaceSync(cluster.info.boot, cluster.info.secret, local_runtime=writer) as ns:
        ns.mkdir("/home/f/d", parents=True)
        ns.write_bytes("/home/f/d/blob", data)
        ns.write_bytes("/home/f/small", b"x" * 100)
        st = ns.stat("/home/f/d/blob")
        assert st is not None
        before = tree(ns, "/home")

        # 1. kill -9 the writer's runtime: it holds a replica of every chunk
        kill9(cluster, writer)
        assert ns.read_bytes("/home/f/d/blob") == data
        dev = ns.stat(f"/dev/sensor/{writer[1:]}")  # a dead runtime's device stays, offline
        assert dev is not None and dev["owner"] == writer and dev["alive"] is False

        def repaired() -> bool:
            alive = {n for n, m in cluster.status()["members"].items() if m["alive"]}
            entry = ns.stat("/home/f/d/blob")
            return entry is not None and all(
                len(set(c[2])) == 2 and set(c[2]) <= alive for c in entry["chunks"])
        wait(repaired)
        assert ns.read_bytes("/home/f/d/blob") == data

        # 2. kill -9 the runtime hosting the fs agent in the middle of a run of
        #    changes: each is applied exactly once (retries carry a request id)
        fs_host = agent_host(cluster, "fs")

        ns.mkdir("/tmp/during")

        async def changes() -> None:
            for i in range(60):
                if i == 20:  # lands while a change is in flight
                    asyncio.get_running_loop().call_later(0.003, os.kill, cluster.info.pids[fs_host],
                                                          signal.SIGKILL)
                await ns.ns.mkdir(f"/tmp/during/{i}")  # applied twice would be EEXIST
        ns.run(changes())
        cluster.wait_for(lambda s: s["assign"].get("fs") not in (None, fs_host)
                         and s["members"][s["assign"]["fs"]]["alive"])
        assert sorted(int(e["name"]) for e in ns.listdir("/tmp/during")) == list(range(60))
        assert tree(ns, "/home") == before
        assert ns.read_bytes("/home/f/d/blob") == data
        ns.write_bytes("/home/f/after", b"still writable")
        assert ns.read_bytes("/home/f/after") == b"still writable"
        wait(repaired)


def test_fs_answers_only_where_its_agent_runs(cluster: Cluster, ns: NamespaceSync) -> None:
    snap = settled(cluster, 3)
    host = snap["assign"]["fs"]
    for name, m in snap["members"].items():
        if name == host:
            assert cluster.call(m["endpoint"], "fs.stat", {"path": "/home"})["entry"]["kind"] == "dir"
        else:
            with pytest.raises(ClusterError, match="fs agent not here"):
                cluster.call(m["endpoint"], "fs.stat", {"path": "/home"})
        # every voter answers raw index reads (for agents hosted on non-voters)
        assert cluster.call(m["endpoint"], "nsindex.stat", {"args": ["/tmp"]})["result"]["kind"] == "dir"


def test_non_voting_runtimes_store_and_repair(make_cluster: Callable[..., Cluster]) -> None:
    # r4 and r5 are not Raft voters: they reach the index through a voter.
    cluster = make_cluster(nodes=5, voters=3)
    assign = settled(cluster, 5)["assign"]
    writer = next(n for n in ("r4", "r5") if n not in (assign["storage"], assign["fs"]))
    data = os.urandom(2 * MiB + 1)
    with NamespaceSync(cluster.info.boot, cluster.info.secret, local_runtime=writer) as ns:
        ns.write_bytes("/home/nv", data)
        st = ns.stat("/home/nv")
        assert st is not None and all(c[2][0] == writer for c in st["chunks"])
        kill9(cluster, writer)
        assert ns.read_bytes("/home/nv") == data

        def repaired() -> bool:
            alive = {n for n, m in cluster.status()["members"].items() if m["alive"]}
            entry = ns.stat("/home/nv")
            return entry is not None and all(len(set(c[2])) == 2 and set(c[2]) <= alive for c in entry["chunks"])
        wait(repaired)
        assert ns.read_bytes("/home/nv") == data


def test_unreferenced_chunks_are_collected(make_cluster: Callable[..., Cluster],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESH_CHUNK_GC_AGE", "1")  # inherited by the runtimes
    monkeypatch.setenv("ONESH_CHUNK_GC_PERIOD", "0.3")
    cluster = make_cluster(nodes=3)
    with NamespaceSync(cluster.info.boot, cluster.info.secret) as ns:
        ns.write_bytes("/tmp/keep", b"keep me")
        ns.write_bytes("/tmp/gone", b"remove me")
        ns.cp("/tmp/gone", "/tmp/gone-copy")
        keep = ns.stat("/tmp/keep")["chunks"][0]  # type: ignore[index]
        gone = ns.stat("/tmp/gone")["chunks"][0]  # type: ignore[index]

        def stored(chunk: list[Any]) -> list[bool]:
            members = cluster.wait_for(lambda s: all(r in s["members"] for r in chunk[2]))["members"]
            return [cluster.call(members[r]["endpoint"], "chunk.has", {"sha": chunk[0]})["has"] for r in chunk[2]]
        ns.rm("/tmp/gone")
        time.sleep(2)
        assert stored(gone) == [True, True]  # the copy still refers to it
        ns.rm("/tmp/gone-copy")
        wait(lambda: stored(gone) == [False, False])
        assert stored(keep) == [True, True]
        assert ns.read_bytes("/tmp/keep") == b"keep me"
