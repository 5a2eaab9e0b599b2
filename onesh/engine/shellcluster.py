"""The shell's access to the cluster, for one pipeline or one namespace
command: a zmq Context with its ZAP authenticator (the shell's pipe
receivers are Curve servers), one RPC connection per runtime, the
namespace client, and reading a status snapshot (where a runtime
listens, which one is this shell's home, where a file's replicas are).

Kept apart from distributed.py (which runs a job) so a namespace command
(`ls /net`, `cp`) imports only this."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from onesh.engine import planner

SHELL_PATIENCE = 5.0  # seconds a shell command rides out a failover before it reports the cause


class ShellCluster:
    """Async access to the cluster for one pipeline: a zmq Context with its
    ZAP authenticator (our pipe receivers are Curve servers)."""

    def __init__(self, boot: list[str], secret: str) -> None:
        self.boot = boot
        self.secret = secret

    async def __aenter__(self) -> ShellCluster:
        import zmq.asyncio

        from onesh.net.keys import ClusterKeys, load_secret, start_authenticator
        from onesh.net.rpc import RpcClients, RpcTimeout

        self.keys = ClusterKeys.from_secret(load_secret(self.secret))
        self.ctx = zmq.asyncio.Context()
        self.auth = start_authenticator(self.ctx, self.keys)
        self.namespace: Any = None
        # One connection (one Curve handshake) per runtime for the whole
        # job: status, placement, start, waits and signals all reuse it.
        # A runtime that stops answering gets a new one on the next call.
        self.rpc = RpcClients(self.ctx, self.keys, drop_on=RpcTimeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.namespace is not None:
            with contextlib.suppress(Exception):
                await self.namespace.close()
        await self.rpc.close()
        self.auth.stop()
        self.ctx.destroy(linger=0)

    async def call(self, endpoint: str, method: str, body: dict[str, Any] | None = None,
                   timeout: float = 2.0) -> dict[str, Any]:
        return await self.rpc.call(endpoint, method, body or {}, timeout)

    async def status(self) -> dict[str, Any]:
        from onesh.kernel.statusread import freshest
        from onesh.net.rpc import RpcError

        try:
            return await freshest(self.call(ep, "cluster.status", {}, 1.5) for ep in self.boot)
        except RpcError as e:
            raise planner.PlanError(f"cluster unreachable: {e}") from None

    def ns(self) -> Any:
        if self.namespace is None:
            from onesh.runtime.nsclient import Namespace

            # A shell waits out a failover, not an outage: after this long
            # the user gets the reason instead of a prompt that never returns.
            self.namespace = Namespace(self.ctx, self.keys, self.boot, failover=SHELL_PATIENCE)
        return self.namespace

    async def lookup(self, paths: list[str]) -> tuple[dict[str, list[str]], frozenset[str]]:
        """Which of these paths are namespace files (with their replicas)
        and which are named pipes."""
        found: dict[str, list[str]] = {}
        pipes: set[str] = set()
        from onesh.engine.clusterpaths import under_namespace_root
        from onesh.union import namespace_only

        for p in dict.fromkeys(paths):
            try:
                entry = await self.ns().stat(p)
            except FileNotFoundError:
                entry = None
            except OSError as e:
                if under_namespace_root(p) or namespace_only(p):  # only the namespace can have it
                    raise planner.PlanError(f"{p}: {e.strerror or e}") from None
                entry = None  # the cluster cannot say: the local file, if any, it is
            if entry and entry.get("kind") == "file":
                found[p] = replicas_of(entry)
            elif entry and entry.get("kind") == "pipe":
                pipes.add(p)
        return found, frozenset(pipes)


def replicas_of(entry: dict[str, Any]) -> list[str]:
    reps: list[str] = list(entry.get("replicas") or [])
    for chunk in entry.get("chunks") or []:
        for r in (chunk.get("replicas") if isinstance(chunk, dict) else chunk[2]) or []:
            if r not in reps:
                reps.append(r)
    if not reps and entry.get("owner"):
        reps.append(str(entry["owner"]))
    return reps


def home_runtime(snap: dict[str, Any], boot: list[str]) -> str:
    forced = os.environ.get("ONESH_HOME_RUNTIME")
    if forced:
        return forced
    by_endpoint = {m.get("endpoint"): n for n, m in snap["members"].items()}
    for ep in boot:
        if ep in by_endpoint:
            return str(by_endpoint[ep])
    return str(snap.get("answered_by") or min(snap["members"], default=""))


def endpoint_of(snap: dict[str, Any], runtime: str) -> str:
    m = snap["members"].get(runtime)
    if m is None:
        raise planner.PlanError(f"no runtime named {runtime}")
    return str(m["endpoint"])
