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
from onesh.runtime.localcluster import ClusterError, ClusterInfo, start_cluster


def default_cluster_dir() -> str:
    from onesh.contexts import default_dir

    return default_dir()


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
    """The shell's way to its cluster, created (lazily) by the composition
    root.  Which cluster (onesh.contexts):

    1. `directory`, from --cluster or $ONESH_CLUSTER: a cluster directory,
       a recorded cluster's name, or tcp://HOST:PORT,... of a running one
       (its secret in $ONESH_SECRET);
    2. else the user's current cluster (`onesh cluster up` / `use`);
    3. else the embedded cluster: a background service of this user's,
       started here on first need, left running when the shell exits (it
       stops by itself when idle: onesh.runtime.idle).

    Purely local work never gets here."""

    def __init__(self, directory: str | None = None, *, notify: Any = None) -> None:
        self.explicit = directory
        self.notify = notify
        self._client: ClusterClient | None = None
        self.attached_to: str | None = None

    def target(self) -> tuple[str, bool]:
        """(the cluster's directory or tcp:// endpoints, is it the embedded one)."""
        from onesh import contexts

        if self.explicit:
            if self.explicit.startswith("tcp://"):
                return self.explicit, False
            found = contexts.lookup(self.explicit)
            return (found or self.explicit), found is not None and found == contexts.embedded_dir()
        current = contexts.current()
        if current is not None:
            return current, False
        return contexts.embedded_dir(), True

    def client(self) -> ClusterClient:
        if self._client is not None:
            return self._client
        from onesh import contexts

        where, embedded = self.target()
        if where.startswith("tcp://"):
            secret = os.environ.get("ONESH_SECRET")
            if not secret:
                raise ClusterError("--cluster tcp://...: set ONESH_SECRET to the cluster's secret file")
            self._client = ClusterClient(where.split(","), secret)
            return self._client
        if embedded:
            info = self._embedded(where)
        else:
            info = ClusterInfo.load(where)
            if not info.alive_pids():
                raise ClusterError(f"cluster {contexts.name_of(where)} ({where}) is not running: start it with "
                                   f"`onesh cluster up --data-dir {where}`, or use another "
                                   "(`onesh cluster list`, `onesh cluster use NAME`)")
        contexts.attach(where)
        self.attached_to = where
        self._client = ClusterClient(info.boot, info.secret)
        return self._client

    def _embedded(self, directory: str) -> ClusterInfo:
        """The embedded service: attach to it, or start it (once: two shells
        at the same time take turns on a lock file)."""
        from onesh.runtime import service

        with _lock(directory + ".lock"):
            try:
                info = ClusterInfo.load(directory)
                if len(info.alive_pids()) == len(info.runtimes):
                    return info
            except ClusterError:
                pass
            settings = service.settings()
            if self.notify is not None:
                self.notify(f"onesh: starting the embedded cluster ({settings.runtimes} runtimes)...")
            return start_cluster(directory, nodes=settings.runtimes, sensors=settings.sensors,
                                 idle_stop=settings.idle_stop)

    def close(self) -> None:
        """The shell (or a child that attached) ends: it no longer holds the
        cluster up.  Nothing is stopped: the embedded service stops itself."""
        if self.attached_to is not None:
            from onesh import contexts

            contexts.detach(self.attached_to)
        self.attached_to = None
        self._client = None


@contextlib.contextmanager
def _lock(path: str) -> Iterator[None]:
    import fcntl

    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
