"""Client side of a cluster: find it, start a local one, ask it things.

A local cluster (onesh.runtime.localcluster) lives in a directory, by
default the user data dir's `clusters/default`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Iterable, Iterator
from typing import Any

from onesh.aio import run_sync
from onesh.runtime.localcluster import ClusterError, ClusterInfo, start_cluster, stop_cluster


def default_cluster_dir() -> str:
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("onesh"), "clusters", "default")


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
