"""Runtimes, Raft membership and kernel-agent placement on real clusters."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from cluster_helpers import Cluster, alive

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


def _user(tmp_path: Path, idle_stop: float = 600) -> dict[str, str]:
    """The environment of a user of its own (data, config), with an
    embedded cluster that stops after `idle_stop` seconds idle."""
    (tmp_path / "config" / "onesh").mkdir(parents=True, exist_ok=True)
    (tmp_path / "config" / "onesh" / "config.toml").write_text(f"[embedded]\nidle_stop = {idle_stop}\n")
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               HOME=str(tmp_path))
    env.pop("ONESH_CLUSTER", None)
    return env


def _embedded(tmp_path: Path) -> Path:
    return tmp_path / "data" / "onesh" / "clusters" / "embedded"


def _onesh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onesh", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def _down(env: dict[str, str], directory: Path) -> None:
    subprocess.run([sys.executable, "-m", "onesh", "cluster", "down", "--data-dir", str(directory)], env=env,
                   capture_output=True, timeout=60)


def test_the_embedded_cluster_is_a_background_service(tmp_path: Path) -> None:
    """Started by the first shell that needs it, it outlives that shell;
    the next shell attaches (no start) and finds the files the first one
    wrote; idle with no shell attached, it stops by itself."""
    env = _user(tmp_path, idle_stop=3)
    work = tmp_path / "work"
    work.mkdir()
    try:
        p = subprocess.run([sys.executable, "-m", "onesh", "-c", "nodes; uptime; head -n 3 /dev/sensor/1 > s.log"],
                           capture_output=True, text=True, env=env, cwd=work, timeout=120)
        assert p.returncode == 0, p.stderr
        assert "starting the embedded cluster" in p.stderr
        assert p.stdout.count(" yes ") >= 3 and "3/3 runtimes alive" in p.stdout
        assert not (work / "s.log").exists()  # (the pipeline ran on the cluster: a namespace file)
        running = ClusterInfo.load(str(_embedded(tmp_path))).alive_pids()
        assert len(running) == 3  # the shell is gone, the service is not
        p = subprocess.run([sys.executable, "-m", "onesh", "-c", "cat s.log | wc -l; nodes"], capture_output=True,
                           text=True, env=env, cwd=work, timeout=60)
        assert p.returncode == 0 and "starting" not in p.stderr, p.stderr
        assert p.stdout.startswith("3\n")
        assert ClusterInfo.load(str(_embedded(tmp_path))).alive_pids() == running  # the same runtimes
        # a purely local command starts nothing, and does not keep the service up
        p = subprocess.run([sys.executable, "-m", "onesh", "-c", "echo local"], capture_output=True, text=True,
                           env=env, timeout=30)
        assert p.stdout == "local\n" and "embedded" not in p.stderr
        deadline = time.monotonic() + 30
        while ClusterInfo.load(str(_embedded(tmp_path))).alive_pids():
            assert time.monotonic() < deadline, "the idle embedded cluster did not stop"
            time.sleep(0.2)
        assert alive(running.values()) == []  # (orphans may linger as zombies where init does not reap)
    finally:
        _down(env, _embedded(tmp_path))


def test_children_share_the_shells_embedded_cluster(tmp_path: Path) -> None:
    """A background job, a command substitution and a subshell that need
    the cluster use the one the shell starts (started before the fork,
    once)."""
    env = _user(tmp_path)
    code = ('head -n 1 /dev/sensor/1 & x=$(head -n 1 /dev/sensor/2); echo "sub $x"; (head -n 1 /dev/sensor/1); '
            'wait; echo done')
    try:
        p = subprocess.run([sys.executable, "-m", "onesh", "-c", code], capture_output=True, text=True, env=env,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        assert p.stderr.count("starting the embedded cluster") == 1, p.stderr
        assert p.stdout.count("seq=0 ") == 3 and p.stdout.endswith("done\n")
        running = ClusterInfo.load(str(_embedded(tmp_path))).alive_pids()
        # A function hides the device from the syntactic check: its child
        # finds the service running, and uses it.
        p = subprocess.run([sys.executable, "-m", "onesh", "-c", "f() { head -n 1 /dev/sensor/1; }; f & wait; echo ok"],
                           capture_output=True, text=True, env=env, timeout=120)
        assert p.stdout.endswith("ok\n") and "starting" not in p.stderr, p.stderr
        assert ClusterInfo.load(str(_embedded(tmp_path))).alive_pids() == running
    finally:
        _down(env, _embedded(tmp_path))


def test_cluster_up_makes_the_current_cluster(tmp_path: Path) -> None:
    """`cluster up` records the cluster it starts; a fresh `onesh -c nodes`
    uses it (the same endpoints, nothing else started); `cluster use`,
    `cluster list` and `cluster down` manage the record."""
    env = _user(tmp_path)
    mine = tmp_path / "mine"

    def onesh(*args: str) -> subprocess.CompletedProcess[str]:
        return _onesh(env, *args)

    try:
        up = onesh("cluster", "up", "--data-dir", str(mine), "--nodes", "2", "--voters", "1", "--name", "lab")
        assert up.returncode == 0, up.stderr
        assert "current cluster: lab" in up.stdout
        info = ClusterInfo.load(str(mine))
        p = onesh("-c", "nodes")
        assert p.returncode == 0 and "starting" not in p.stderr, p.stderr
        assert all(ep in p.stdout for ep in (r.listen for r in info.runtimes.values()))
        assert not _embedded(tmp_path).exists()  # nothing else was started
        listing = onesh("cluster", "list").stdout
        assert re.search(r"^\*\s+lab\s+2\s+running 2/2", listing, re.M), listing
        assert re.search(r"^\s+embedded\s+-\s+not started", listing, re.M), listing
        status = onesh("cluster", "status").stdout  # (of the current one: no --data-dir)
        assert all(r.listen in status for r in info.runtimes.values()), status
        assert onesh("cluster", "use", "embedded").stdout.startswith("current cluster: embedded")
        assert onesh("cluster", "use", "lab").returncode == 0
        assert onesh("cluster", "use", "nosuch").returncode == 1
        down = onesh("cluster", "down")  # the current one
        assert "lab was the current cluster" in down.stdout, down.stdout
        assert re.search(r"^\*\s+embedded", onesh("cluster", "list").stdout, re.M)
    finally:
        _down(env, mine)


def test_a_current_cluster_that_died_leaves_local_commands_alone(tmp_path: Path) -> None:
    """The current cluster's runtimes are gone without `cluster down` (a
    crash, a reboot): commands on this host run as if no cluster were
    recorded; only one naming the namespace hears how to start it."""
    env = _user(tmp_path)
    mine = tmp_path / "mine"

    def onesh(*args: str) -> subprocess.CompletedProcess[str]:
        return _onesh(env, *args)

    try:
        assert onesh("cluster", "up", "--data-dir", str(mine), "--nodes", "1", "--name", "gone").returncode == 0
        for pid in ClusterInfo.load(str(mine)).alive_pids().values():
            os.killpg(pid, signal.SIGKILL)
        p = onesh("-c", "sh -c 'echo $0'; ls / > /dev/null; echo $?")
        assert (p.returncode, p.stdout, p.stderr) == (0, "sh\n0\n", "")
        p = onesh("-c", "ls /dev/sensor")
        assert p.returncode == 1 and "cluster gone" in p.stderr and "is not running" in p.stderr, p.stderr
        assert "Traceback" not in p.stderr
    finally:
        _down(env, mine)


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
