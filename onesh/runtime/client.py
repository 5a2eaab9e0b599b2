"""Client side of a cluster: find it, start a local one, ask it things.

A local cluster lives in a directory (default: the user data dir's
`clusters/default`) holding `secret` (mode 0600), `cluster.json` (boot
endpoints, runtime pids) and one data directory per runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from onesh.aio import run_sync
from onesh.parser.errors import OneshError


class ClusterError(OneshError):
    status = 1


def default_cluster_dir() -> str:
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("onesh"), "clusters", "default")


def free_ports(n: int) -> list[int]:
    """n distinct free loopback TCP ports (bound briefly to reserve them)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


@dataclass
class ClusterInfo:
    directory: str
    boot: list[str]
    secret: str
    pids: dict[str, int]

    @classmethod
    def load(cls, directory: str) -> ClusterInfo:
        path = os.path.join(directory, "cluster.json")
        try:
            with open(path) as f:
                data = json.load(f)
        except FileNotFoundError:
            raise ClusterError(f"no cluster in {directory} (start one with `onesh cluster up`)") from None
        except (OSError, ValueError) as e:
            raise ClusterError(f"{path}: {e}") from None
        return cls(directory, list(data["boot"]), data["secret"], {k: int(v) for k, v in data["pids"].items()})

    def save(self) -> None:
        path = os.path.join(self.directory, "cluster.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"boot": self.boot, "secret": self.secret, "pids": self.pids}, f, indent=2)
        os.replace(tmp, path)

    def alive_pids(self) -> dict[str, int]:
        out = {}
        for name, pid in self.pids.items():
            try:
                os.kill(pid, 0)
                out[name] = pid
            except ProcessLookupError:
                pass
            except PermissionError:
                out[name] = pid
        return out


async def _first(answers: Iterable[Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """The first answer that comes (RpcError if none does)."""
    from onesh.net.rpc import RpcError

    tasks = [asyncio.ensure_future(a) for a in answers]
    try:
        last: RpcError = RpcError("no runtime to ask")
        for fut in asyncio.as_completed(tasks):
            try:
                return await fut
            except RpcError as e:
                last = e
        raise last
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _call(boot: list[str], secret: str, method: str, body: dict[str, Any] | None = None,
                timeout: float = 1.5) -> dict[str, Any]:
    import zmq.asyncio

    from onesh.kernel.statusread import freshest
    from onesh.net.keys import ClusterKeys, load_secret
    from onesh.net.rpc import RpcError, call_once

    keys = ClusterKeys.from_secret(load_secret(secret))
    ctx = zmq.asyncio.Context()
    # Ask every boot endpoint at once: a dead runtime first in the list
    # must not cost a whole timeout.  Of the status, keep the freshest
    # view (a follower may lag: kernel.statusread); of anything else, the
    # first answer.
    answers = (call_once(ctx, ep, keys, method, body, timeout) for ep in boot)
    try:
        return await (freshest(answers) if method == "cluster.status" else _first(answers))
    except RpcError as e:
        raise ClusterError(f"no runtime answered {method}: {e}") from None
    finally:
        ctx.destroy(linger=0)


class ClusterClient:
    def __init__(self, boot: list[str], secret: str) -> None:
        self.boot = boot
        self.secret = secret

    def call(self, method: str, body: dict[str, Any] | None = None, timeout: float = 1.5) -> dict[str, Any]:
        return run_sync(_call(self.boot, self.secret, method, body, timeout))

    def status(self) -> dict[str, Any]:
        """The freshest view among the boot runtimes (see kernel.statusread)."""
        return self.call("cluster.status")

    def call_endpoint(self, endpoint: str, method: str, body: dict[str, Any] | None = None,
                      timeout: float = 1.5) -> dict[str, Any]:
        """Ask one particular runtime."""
        return run_sync(_call([endpoint], self.secret, method, body, timeout))

    def boot_record(self) -> dict[str, Any]:
        return self.call("boot.record")

    def nodes(self) -> list[dict[str, Any]]:
        """One row per member: name, endpoint, tags, devices, load, hosted
        kernel agents/services and liveness (what the `nodes` builtin shows)."""
        snap = self.status()
        hosted: dict[str, list[str]] = {}
        for slot, host in sorted(snap["assign"].items()):
            hosted.setdefault(host, []).append(slot)
        return [{"name": name, "endpoint": m.get("endpoint"), "raft": m.get("raft"), "tags": m.get("tags", {}),
                 "devices": m.get("devices", {}), "load": m.get("load", 0.0), "agents": hosted.get(name, []),
                 "alive": bool(m.get("alive"))} for name, m in sorted(snap["members"].items())]

    def spawn(self, endpoint: str, argv: list[str], timeout: float = 5.0) -> dict[str, Any]:
        """Start `argv` on the runtime at `endpoint`, wait for it; pid, runtime, status, output."""
        async def run() -> dict[str, Any]:
            started = await _call([endpoint], self.secret, "agent.spawn", {"argv": argv})
            done = await _call([endpoint], self.secret, "agent.wait",
                               {"pid": started["pid"], "timeout": timeout}, timeout + 1.0)
            return {**started, **done}
        return run_sync(run())


def start_cluster(directory: str, *, nodes: int = 3, voters: int = 3, sensors: int = 0,
                  wait: float = 60.0, listen: str = "127.0.0.1") -> ClusterInfo:
    """Start `nodes` runtime processes on loopback (or with their RPC
    endpoints on `listen`, an address devices can reach; Raft stays on
    loopback: all voters are here); return once every runtime is a live
    member and every kernel agent is placed."""
    from onesh.net.keys import create_secret

    if nodes < 1:
        raise ClusterError("--nodes must be at least 1")
    voters = max(1, min(voters, 5, nodes))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        existing = ClusterInfo.load(directory)
        if existing.alive_pids():
            raise ClusterError(f"a cluster is already running from {directory} "
                               "(`onesh cluster status`, `onesh cluster down`)")
    except ClusterError as e:
        if "already running" in e.message:
            raise
    secret = os.path.join(directory, "secret")
    if not os.path.exists(secret):
        create_secret(secret)
    ports = free_ports(nodes + voters)
    rpc_ports, raft_ports = ports[:nodes], ports[nodes:]
    raft_addrs = [f"127.0.0.1:{p}" for p in raft_ports]
    host = f"[{listen}]" if ":" in listen else listen
    boot = [f"tcp://{host}:{rpc_ports[k]}" for k in range(voters)]
    info = ClusterInfo(directory, boot, secret, {})
    for k in range(nodes):
        name = f"r{k + 1}"
        rdir = os.path.join(directory, name)
        os.makedirs(rdir, mode=0o700, exist_ok=True)
        argv = [sys.executable, "-m", "onesh", "runtime", "--name", name,
                "--listen", f"tcp://{host}:{rpc_ports[k]}", "--data-dir", rdir, "--secret", secret]
        if k < voters:
            argv += ["--raft", raft_addrs[k], "--voters", ",".join(raft_addrs)]
        else:
            argv += ["--join", ",".join(boot)]
        for s in range(sensors):
            if s % nodes == k:
                argv += ["--device", f"sensor:{s + 1}=sim:sine"]
        with open(os.path.join(rdir, "runtime.log"), "ab") as logf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    start_new_session=True, close_fds=True)
        info.pids[name] = proc.pid
    info.save()
    client = ClusterClient(boot, secret)
    deadline = time.monotonic() + wait
    last = ""
    while time.monotonic() < deadline:
        try:
            snap = client.status()
            alive = [n for n, m in snap["members"].items() if m.get("alive")]
            if len(alive) >= nodes and len(snap["assign"]) >= 5:
                return info
            last = f"{len(alive)}/{nodes} members, {len(snap['assign'])} agents placed"
        except ClusterError as e:
            last = e.message
        dead = [n for n, pid in info.pids.items() if n not in info.alive_pids()]
        if dead:
            stop_cluster(info)
            log = os.path.join(directory, dead[0], "runtime.log")
            raise ClusterError(f"runtime {dead[0]} exited during start-up; see {log}")
        time.sleep(0.1)
    stop_cluster(info)
    raise ClusterError(f"cluster did not form within {wait:g}s ({last})")


def stop_cluster(info: ClusterInfo, grace: float = 5.0) -> list[str]:
    """SIGTERM (graceful leave) → wait → SIGKILL.  Returns the names stopped."""
    alive = info.alive_pids()
    for pid in alive.values():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and info.alive_pids():
        _reap()
        time.sleep(0.05)
    for pid in info.alive_pids().values():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap()
    info.pids = {}
    info.save()
    return sorted(alive)


def _reap() -> None:
    # Runtimes started by this process are our children: collect them so
    # they do not linger as zombies (which still answer kill(pid, 0)).
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


class ClusterHandle:
    """The shell's way to its cluster, created in the composition root.

    With `--cluster DIR` (or $ONESH_CLUSTER) it attaches to that cluster.
    Otherwise, on first use, it attaches to the embedded cluster in the user
    data dir, starting it (3 runtimes, simulated sensors) if needed; a
    cluster this shell started is stopped when the shell exits, its data
    stays for next time.  Purely local work never gets here."""

    def __init__(self, directory: str | None = None, *, notify: Any = None) -> None:
        self.explicit = directory is not None
        self.directory = directory or os.path.join(os.path.dirname(default_cluster_dir()), "embedded")
        self.started: ClusterInfo | None = None
        self.started_by = 0
        self.notify = notify
        self._client: ClusterClient | None = None

    def client(self) -> ClusterClient:
        if self._client is not None:
            return self._client
        if self.explicit and self.directory.startswith("tcp://"):
            # --cluster tcp://HOST:PORT[,...]: a name server of a running
            # cluster; the secret comes from $ONESH_SECRET.
            secret = os.environ.get("ONESH_SECRET")
            if not secret:
                raise ClusterError("--cluster tcp://...: set ONESH_SECRET to the cluster's secret file")
            self._client = ClusterClient(self.directory.split(","), secret)
            return self._client
        with self._start_lock():
            try:
                info = ClusterInfo.load(self.directory)
                if not info.alive_pids():
                    raise ClusterError("not running")
            except ClusterError:
                if self.explicit:
                    raise
                if self.notify is not None:
                    self.notify("onesh: starting the embedded cluster (3 runtimes)...")
                info = start_cluster(self.directory, nodes=3, sensors=2)
                self.started, self.started_by = info, os.getpid()
        self._client = ClusterClient(info.boot, info.secret)
        return self._client

    @contextlib.contextmanager
    def _start_lock(self) -> Iterator[None]:
        """Two shells (or a shell and its background job) needing the
        embedded cluster at once: one starts it, the other attaches."""
        if self.explicit:
            yield
            return
        import fcntl

        os.makedirs(os.path.dirname(self.directory) or ".", mode=0o700, exist_ok=True)
        fd = os.open(self.directory + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def close(self) -> None:
        """Stop the cluster if this very process started it (a forked child
        that started it stops it when it ends; see Interpreter.child_run)."""
        if self.started is not None and self.started_by == os.getpid():
            stop_cluster(self.started)
        self.started = None
        self._client = None


def ensure_embedded_cluster(notify: Any = None) -> ClusterClient:
    """A client for the configured cluster, starting the local embedded one
    (3 runtimes, simulated sensors) when none is running.  The caller owns
    the started cluster: use ClusterHandle when it must stop with the shell."""
    return ClusterHandle(os.environ.get("ONESH_CLUSTER") or None, notify=notify).client()
