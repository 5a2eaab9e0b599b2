"""Runtimes, Raft membership and kernel-agent placement on real clusters."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from cluster_helpers import Cluster

from onesh.kernel.manifest import KERNEL_AGENTS
from onesh.runtime.localcluster import ClusterError, ClusterInfo, stop_cluster


def agents_placed(snap: dict) -> bool:  # type: ignore[type-arg]
    alive = {n for n, m in snap["members"].items() if m.get("alive")}
    return set(snap["assign"]) == set(KERNEL_AGENTS) and set(snap["assign"].values()) <= alive


def test_three_runtimes_agree_and_each_agent_is_placed_once(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(3)
    snap = c.wait_for(agents_placed)
    assert sorted(snap["members"]) == ["r1", "r2", "r3"]
    # every member answers and agrees on membership and placement
    time.sleep(0.3)  # let the last heartbeats settle so every replica is at the same epoch
    snap = c.status()
    for m in snap["members"].values():
        view = c.call(m["endpoint"], "cluster.status")
        assert view["assign"] == snap["assign"]
        assert set(view["members"]) == set(snap["members"])
    # each kernel agent runs on exactly one runtime
    running = Counter(a for m in snap["members"].values() for a in c.call(m["endpoint"], "runtime.info")["agents"])
    assert running == Counter(KERNEL_AGENTS)
    # every kernel agent answers on the runtime consensus gave it
    for agent, host in snap["assign"].items():
        pong = c.call(snap["members"][host]["endpoint"], f"{agent}.ping")
        assert pong["runtime"] == host and pong["agent"] == agent
    # agents are spread, not piled on the first runtime to join
    assert max(Counter(snap["assign"].values()).values()) <= 2


def test_cluster_status_command(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(3)
    c.wait_for(agents_placed)
    out = subprocess.run([sys.executable, "-m", "onesh", "cluster", "status", "--data-dir", c.info.directory],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "leader" in out.stdout and "scheduler" in out.stdout and "r3" in out.stdout


def _kill(info: ClusterInfo, name: str) -> None:
    os.kill(info.pids[name], signal.SIGKILL)
    os.waitpid(info.pids[name], 0)


@pytest.mark.slow
def test_scheduler_host_killed_the_agent_answers_from_another_runtime(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(3)
    snap = c.wait_for(agents_placed)
    host = snap["assign"]["scheduler"]
    t0 = time.monotonic()
    _kill(c.info, host)
    answered = None
    # (how fast is benchmarks/cluster_scale.py's business; this checks that it happens)
    while time.monotonic() - t0 < 30:
        try:
            s = c.status()
        except ClusterError:
            continue
        new = s["assign"].get("scheduler")
        if new and new != host:
            try:
                pong = c.call(s["members"][new]["endpoint"], "scheduler.ping", timeout=0.3)
                answered = time.monotonic() - t0
                assert pong["runtime"] == new
                break
            except ClusterError:
                pass
        time.sleep(0.02)
    assert answered is not None, "scheduler never answered from another runtime"
    print(f"\nfailover: scheduler answered from a new runtime {answered * 1000:.0f} ms after kill -9")
    # every replica ends up with the dead host marked dead and not hosting anything
    # (a heartbeat committed after the kill must not revive it)
    final = c.wait_for(lambda s: not s["members"][host]["alive"], timeout=3)
    time.sleep(1.0)
    for m in final["members"].values():
        if m.get("alive"):
            view = c.call(m["endpoint"], "cluster.status")
            assert not view["members"][host]["alive"] and host not in view["assign"].values()


@pytest.mark.slow
def test_leader_killed_new_leader_and_join_and_leave(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(3)
    snap = c.wait_for(lambda s: agents_placed(s) and s["leader"] is not None)
    leader_raft = snap["leader"]
    leader = next(n for n, m in snap["members"].items() if m.get("raft") == leader_raft)
    _kill(c.info, leader)
    c.info.boot = [m["endpoint"] for n, m in snap["members"].items() if n != leader]
    c.client.boot = c.info.boot
    after = c.wait_for(lambda s: s["leader"] not in (None, leader_raft) and agents_placed(s)
                       and not s["members"][leader]["alive"], timeout=10)
    assert leader not in after["assign"].values()

    # a 4th runtime joins at run time through the name server
    rdir = Path(c.info.directory) / "r4"
    rdir.mkdir()
    with open(rdir / "log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "onesh", "runtime", "--name", "r4", "--data-dir", str(rdir),
                                 "--secret", c.info.secret, "--join", ",".join(c.info.boot), "--tags", "zone=b"],
                                stdout=log, stderr=subprocess.STDOUT)
    c.info.pids["r4"] = proc.pid
    try:
        joined = c.wait_for(lambda s: s["members"].get("r4", {}).get("alive", False), timeout=15)
        assert joined["members"]["r4"]["tags"] == {"zone": "b"}
        for m in joined["members"].values():
            if m.get("alive"):
                # followers apply the log shortly after the leader
                deadline = time.monotonic() + 5
                while "r4" not in c.call(m["endpoint"], "cluster.status", timeout=3.0)["members"]:
                    assert time.monotonic() < deadline, f"r4 never visible on {m['endpoint']}"
                    time.sleep(0.05)
        # graceful leave: SIGTERM removes it from membership
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        c.wait_for(lambda s: "r4" not in s["members"], timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_five_runtimes(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(5, voters=5)
    snap = c.wait_for(lambda s: agents_placed(s) and sum(m["alive"] for m in s["members"].values()) == 5)
    assert sum(1 for m in snap["members"].values() if m.get("raft")) == 5
    assert max(Counter(snap["assign"].values()).values()) == 1


def test_no_keys_no_answer_on_any_port(make_cluster: Callable[..., Cluster], tmp_path: Path) -> None:
    c = make_cluster(3)
    snap = c.wait_for(agents_placed)
    import asyncio

    import zmq.asyncio

    from onesh.net.keys import ClusterKeys
    from onesh.net.rpc import RpcTimeout, call_once

    wrong = ClusterKeys.from_secret(os.urandom(32))

    async def probe(endpoint: str) -> None:
        ctx = zmq.asyncio.Context()
        try:
            with pytest.raises(RpcTimeout):
                await call_once(ctx, endpoint, wrong, "cluster.status", {}, timeout=0.5)
        finally:
            ctx.destroy(linger=0)

    for m in snap["members"].values():
        asyncio.run(probe(m["endpoint"]))

    # Raft ports: a pysyncobj node with the wrong password never sees a leader
    from pysyncobj import SyncObj, SyncObjConf

    voters = [m["raft"] for m in snap["members"].values() if m.get("raft")]
    intruder = SyncObj(None, voters, SyncObjConf(password="wrong", autoTick=True))
    try:
        time.sleep(2.0)
        assert intruder._getLeader() is None
        assert not intruder.isReady()
    finally:
        intruder.destroy()
    # and the cluster is unharmed
    assert agents_placed(c.status())


def test_malformed_control_messages_are_rejected(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(1, voters=1)
    snap = c.wait_for(agents_placed)
    endpoint = next(iter(snap["members"].values()))["endpoint"]
    import asyncio

    import msgpack
    import zmq
    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret, secure_client

    keys = ClusterKeys.from_secret(load_secret(c.info.secret))

    async def attack() -> bytes:
        ctx = zmq.asyncio.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        secure_client(sock, keys)
        sock.connect(endpoint)
        try:
            for frame in (b"\xc1garbage", msgpack.packb({"v": 99, "t": "req", "id": 3, "m": "x", "b": {}})):
                await sock.send(frame)
            reply: bytes = await asyncio.wait_for(sock.recv(), 3)
            # oversized: zmq drops the connection (MAXMSGSIZE) before we see it
            await sock.send(b"\x00" * (3 << 20))
            await asyncio.sleep(0.2)
            return reply
        finally:
            sock.close()
            ctx.destroy(linger=0)

    reply = asyncio.run(attack())
    assert b"unsupported protocol version" in reply
    assert c.call(endpoint, "runtime.info")["name"] == "r1"
    with pytest.raises(ClusterError, match="not allowed"):
        c.call(endpoint, "raft.submit", {"method": "__init__", "args": []})
    log = (Path(c.info.directory) / "r1" / "runtime.log").read_text()
    assert "rejected message" in log


def test_cluster_down_stops_everything(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(2, voters=1)
    c.wait_for(agents_placed)
    pids = dict(c.info.pids)
    stop_cluster(c.info)
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_nodes_builtin_and_embedded_cluster_lifecycle(tmp_path: Path) -> None:
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path), HOME=str(tmp_path))
    env.pop("ONESH_CLUSTER", None)
    p = subprocess.run([sys.executable, "-m", "onesh", "-c", "nodes; uptime"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "starting the embedded cluster" in p.stderr
    assert p.stdout.count("yes") >= 3 and "3/3 runtimes alive" in p.stdout
    info = ClusterInfo.load(str(tmp_path / "onesh" / "clusters" / "embedded"))
    assert info.alive_pids() == {}  # the shell that started it stopped it
    # a purely local command starts nothing
    p = subprocess.run([sys.executable, "-m", "onesh", "-c", "echo local"], capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.stdout == "local\n" and "embedded" not in p.stderr


def test_children_share_the_shells_embedded_cluster(tmp_path: Path) -> None:
    """A background job, a command substitution and a subshell that need
    the cluster use the one the shell starts (started before the fork,
    once); a child that had to start one itself stops it when it ends."""
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path), HOME=str(tmp_path))
    env.pop("ONESH_CLUSTER", None)
    code = ('head -n 1 /dev/sensor/1 & x=$(head -n 1 /dev/sensor/2); echo "sub $x"; (head -n 1 /dev/sensor/1); '
            'wait; echo done')
    p = subprocess.run([sys.executable, "-m", "onesh", "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stderr.count("starting the embedded cluster") == 1, p.stderr
    assert p.stdout.count("seq=0 ") == 3 and p.stdout.endswith("done\n")
    info = ClusterInfo.load(str(tmp_path / "onesh" / "clusters" / "embedded"))
    assert info.alive_pids() == {}
    # A function hides the device from the syntactic check: its child
    # starts a cluster of its own, and stops it when the job ends.
    p = subprocess.run([sys.executable, "-m", "onesh", "-c", "f() { head -n 1 /dev/sensor/1; }; f & wait; echo ok"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.stdout.endswith("ok\n"), p.stderr
    assert ClusterInfo.load(str(tmp_path / "onesh" / "clusters" / "embedded")).alive_pids() == {}


def test_nodes_attaches_to_a_running_cluster(make_cluster: Callable[..., Cluster]) -> None:
    c = make_cluster(2, voters=1)
    c.wait_for(agents_placed)
    env = dict(os.environ, ONESH_CLUSTER=c.info.directory)
    p = subprocess.run([sys.executable, "-m", "onesh", "-c", "nodes"], capture_output=True, text=True,
                       env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "r1" in p.stdout and "r2" in p.stdout and "embedded" not in p.stderr
    env = dict(os.environ, ONESH_SECRET=c.info.secret)
    p = subprocess.run([sys.executable, "-m", "onesh", "--cluster", c.info.boot[0], "-c", "uptime"],
                       capture_output=True, text=True, env=env, timeout=60)
    assert "2/2 runtimes alive" in p.stdout, p.stderr
