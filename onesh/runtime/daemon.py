"""The runtime: one long-lived asyncio daemon per device.

Boot sequence (OneOS): voters start their Raft node from the peer list they
were given; other runtimes ask a name server (`--join`, any runtime) for
the boot record, then join membership through a voter.  Each runtime then
heartbeats, runs the kernel agents and services that consensus assigns to
it, and serves agent-spawn requests.  The Raft leader watches heartbeats and
proposes liveness changes; placement is decided inside the replicated log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import zmq
import zmq.asyncio

from onesh.kernel.agents import KernelAgent, Service
from onesh.kernel.bootrecord import build_boot_record
from onesh.kernel.manifest import DEFAULT_MANIFEST, parse_manifest
from onesh.kernel.membership import ClusterState, CommitError, submit
from onesh.kernel.nameserver import NoBootRecord, lookup_boot_record
from onesh.net.keys import ClusterKeys, load_secret, start_authenticator
from onesh.net.rpc import HandlerError, RpcClient, RpcError, RpcServer
from onesh.net.samehost import host_key, sweep_stale

log = logging.getLogger("onesh.runtime")

# Data-plane modules plugged into every runtime.  Each has
# `install(runtime: Runtime) -> None`, which may register RPC handlers
# (`runtime.handlers[prefix]`, answering "<prefix>.<op>") and background
# loops (`runtime.loops`, run in the runtime's TaskGroup until it stops).
EXTENSIONS: tuple[str, ...] = (
    "onesh.kernel.fs",
    "onesh.kernel.storage",
    "onesh.runtime.stages",
    "onesh.kernel.scheduler",
    "onesh.kernel.pubsub",
    "onesh.kernel.session",
)

OpHandler = Callable[[str, dict[str, Any], bytes], Awaitable[dict[str, Any]]]

CATCH_UP_WAIT = 1.0  # seconds a lagging voter delays a status read
HEARTBEAT_PERIOD = 0.08
DEAD_AFTER = 0.4
SUPERVISE_PERIOD = 0.03


@dataclass
class RuntimeConfig:
    name: str
    listen: str
    data_dir: str
    secret_path: str
    raft: str | None = None  # host:port when this runtime is a voter
    voters: list[str] = field(default_factory=list)  # host:port of all voters
    join: list[str] = field(default_factory=list)  # name-server endpoints
    tags: dict[str, str] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    manifest_text: str = DEFAULT_MANIFEST


class Runtime:
    def __init__(self, cfg: RuntimeConfig) -> None:
        self.cfg = cfg
        self.keys = ClusterKeys.from_secret(load_secret(cfg.secret_path))
        self.ctx: zmq.asyncio.Context = zmq.asyncio.Context()
        self.state: ClusterState | None = None
        self.server: RpcServer | None = None
        self.voter_clients: dict[str, RpcClient] = {}
        self.agents: dict[str, KernelAgent] = {}
        self.services: dict[str, Service] = {}
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self.stop = asyncio.Event()
        self.hb = 0
        self.started = time.time()
        self.boot_record: dict[str, Any] = {}
        self._seen: dict[str, tuple[int, float]] = {}
        self._was_leader = False
        self.endpoint = ""
        self._good_voter = ""
        self.handlers: dict[str, OpHandler] = {}
        self.loops: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.on_shutdown: list[Callable[[], Coroutine[Any, Any, None]]] = []

    # ---------------------------------------------------------------- run
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
        import importlib

        for module in EXTENSIONS:
            importlib.import_module(module).install(self)
        # Pipe sockets of stage hosts that died unclosed (SIGKILL).
        removed = sweep_stale()
        if removed:
            log.info("removed %d stale pipe sockets", removed)
        auth = start_authenticator(self.ctx, self.keys)
        self.server = RpcServer(self.ctx, self.cfg.listen, self.keys, self.handle)
        self.endpoint = await self.server.start()
        try:
            if self.cfg.raft:
                await self.start_voter()
            else:
                await self.join_as_member()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.heartbeat_loop())
                tg.create_task(self.supervise_loop())
                if self.state is not None:
                    tg.create_task(self.leader_loop())
                for loop_fn in self.loops:
                    tg.create_task(loop_fn())
                await self.stop.wait()
                raise _Stopping
        except* _Stopping:
            pass
        finally:
            await self.shutdown()
            auth.stop()
        return 0

    async def start_voter(self) -> None:
        assert self.cfg.raft is not None
        partners = [v for v in self.cfg.voters if v != self.cfg.raft]
        os.makedirs(self.cfg.data_dir, mode=0o700, exist_ok=True)
        parse_manifest(self.cfg.manifest_text)
        self.state = ClusterState(self.cfg.raft, partners, password=self.keys.raft_password,
                                  data_dir=self.cfg.data_dir, manifest_text=self.cfg.manifest_text)
        self.state.start()
        await self.register(self.member_info())

    def member_info(self) -> dict[str, Any]:
        from onesh.runtime.interpreters import interpreters

        return {"endpoint": self.endpoint, "raft": self.cfg.raft, "tags": self.cfg.tags,
                "devices": self.cfg.devices, "host": socket.gethostname(), "pid": os.getpid(),
                "started": self.started, "host_key": host_key(), "interpreters": interpreters()}

    async def register(self, info: dict[str, Any]) -> None:
        """Join membership, retrying until a leader exists (cluster start-up)."""
        deadline = time.monotonic() + 30
        while not self.stop.is_set():
            try:
                await self.submit("join", self.cfg.name, info)
                return
            except (CommitError, TimeoutError, RpcError) as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"could not join membership: {e}") from None
                await asyncio.sleep(0.1)

    async def join_as_member(self) -> None:
        if not self.cfg.join:
            raise RuntimeError("a non-voting runtime needs --join BOOT (a name server endpoint)")
        await self.refresh_boot_record(wait=30.0)
        await self.register(self.member_info())

    async def refresh_boot_record(self, wait: float) -> None:
        """Ask the name servers for the boot record until one lists voters
        (right after `cluster up` the voters may not have registered yet)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                record = await lookup_boot_record(self.ctx, self.cfg.join, self.keys)
            except NoBootRecord as e:
                if time.monotonic() > deadline or self.stop.is_set():
                    raise RuntimeError(f"no usable boot record: {e}") from None
                await asyncio.sleep(0.1)
                continue
            self.boot_record = record
            for c in self.voter_clients.values():
                await c.close()
            self.voter_clients = {v["endpoint"]: RpcClient(self.ctx, v["endpoint"], self.keys)
                                  for v in record["voters"]}
            return

    async def submit(self, method: str, *args: Any) -> Any:
        """A replicated command: locally when a voter, else via a voter."""
        if self.state is not None:
            return await submit(asyncio.get_running_loop(), getattr(self.state, method), *args)
        last: Exception | None = None
        # The voter that answered last goes first: with a dead voter first
        # in a fixed order every heartbeat would wait out its timeout, longer
        # than DEAD_AFTER, and this member would flap dead/alive.
        clients = sorted(self.voter_clients.items(), key=lambda kv: kv[0] != self._good_voter)
        for endpoint, client in clients:
            try:
                reply = await client.call("raft.submit", {"method": method, "args": list(args)}, timeout=1.0)
                self._good_voter = endpoint
                return reply.get("result")
            except RpcError as e:
                last = e
        if self.cfg.join:
            # The voters may have changed: look them up again for next time.
            with contextlib.suppress(RuntimeError):
                await self.refresh_boot_record(wait=0)
        raise RpcError(f"no voter reachable: {last}")

    async def snapshot(self) -> dict[str, Any]:
        if self.state is not None:
            # A lagging follower waits (briefly) to catch up rather than
            # answer with a stale view: a reader asking this runtime alone
            # gets what it has been told (readers asking several keep the
            # freshest answer, kernel.statusread).
            deadline = time.monotonic() + CATCH_UP_WAIT
            while not self.state.caught_up() and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return self.state.snapshot()
        from onesh.kernel.statusread import freshest

        try:
            return await freshest(client.call("cluster.status", {}, timeout=1.0)
                                  for client in list(self.voter_clients.values()))
        except RpcError as e:
            raise RpcError(f"no voter reachable: {e}") from None

    # ------------------------------------------------------------- loops
    async def heartbeat_loop(self) -> None:
        while True:
            self.hb += 1
            try:
                load = os.getloadavg()[0]
                ok = await self.submit("heartbeat", self.cfg.name, self.hb, load)
                if ok is False:
                    await self.register(self.member_info())
            except (CommitError, TimeoutError, RpcError) as e:
                log.debug("heartbeat not committed: %s", e)
            await asyncio.sleep(HEARTBEAT_PERIOD)

    async def leader_loop(self) -> None:
        """On the Raft leader: turn missed heartbeats into a proposal."""
        assert self.state is not None
        while True:
            await asyncio.sleep(HEARTBEAT_PERIOD / 2)
            if not self.state._isLeader():
                self._was_leader = False
                continue
            now = time.monotonic()
            snap = self.state.snapshot()
            if not self._was_leader:
                # New leader: everyone gets a full grace period from now.
                self._was_leader = True
                self._seen = {n: (m.get("hb", 0), now) for n, m in snap["members"].items()}
            dead, revived = [], []
            for n, m in snap["members"].items():
                hb = m.get("hb", 0)
                prev = self._seen.get(n)
                if prev is None or prev[0] != hb:
                    self._seen[n] = (hb, now)
                    if not m.get("alive"):
                        revived.append(n)
                elif m.get("alive") and now - prev[1] > DEAD_AFTER:
                    dead.append(n)
            if dead or revived:
                log.info("proposing liveness change: dead=%s revived=%s", dead, revived)
                with contextlib.suppress(CommitError, TimeoutError):
                    await submit(asyncio.get_running_loop(), self.state.reconcile, dead, revived)

    async def supervise_loop(self) -> None:
        """Run exactly the kernel agents and services assigned to us."""
        while True:
            try:
                snap = await self.snapshot()
            except RpcError:
                await asyncio.sleep(SUPERVISE_PERIOD)
                continue
            mine = {slot for slot, host in snap["assign"].items() if host == self.cfg.name}
            manifest = parse_manifest(self.manifest_text(snap))
            slots = manifest.slots()
            for slot in sorted(mine):
                unit = slots.get(slot)
                if unit is None:
                    continue
                if unit.kind == "agent" and slot not in self.agents:
                    self.agents[slot] = KernelAgent(unit.name, slot, self.cfg.name)
                    log.info("started kernel agent %s", slot)
                elif unit.kind == "service" and slot not in self.services:
                    svc = Service(slot, unit.command, self.cfg.data_dir)
                    await svc.start()
                    self.services[slot] = svc
            for slot in [s for s in self.agents if s not in mine]:
                self.agents.pop(slot)
                log.info("stopped kernel agent %s (reassigned)", slot)
            for slot in [s for s in self.services if s not in mine]:
                await self.services.pop(slot).stop()
            for svc in self.services.values():
                await svc.restart_if_exited()
            await asyncio.sleep(SUPERVISE_PERIOD)

    def manifest_text(self, snap: dict[str, Any]) -> str:
        if self.state is not None:
            return self.state.manifest_text
        text = snap.get("manifest")
        return text if isinstance(text, str) else self.boot_record.get("manifest", DEFAULT_MANIFEST)

    # ---------------------------------------------------------- handlers
    async def handle(self, method: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        if method == "boot.record":
            return await self.make_boot_record()
        if method == "cluster.status":
            snap = await self.snapshot()
            if self.state is not None:
                snap["manifest"] = self.state.manifest_text
            snap["answered_by"] = self.cfg.name
            return snap
        if method == "raft.submit":
            if self.state is None:
                raise HandlerError("not a voter")
            name = body.get("method")
            if name not in ("join", "leave", "heartbeat", "put_agent_state", "set_manifest", "ns_apply"):
                raise HandlerError(f"raft.submit: method {name!r} not allowed")
            args = body.get("args", [])
            if not isinstance(args, list):
                raise HandlerError("raft.submit: args must be a list")
            if name == "set_manifest":
                parse_manifest(str(args[0]) if args else "")
            try:
                result = await submit(asyncio.get_running_loop(), getattr(self.state, name), *args)
            except (CommitError, TimeoutError) as e:
                raise HandlerError(f"not committed: {e}") from None
            return {"result": result}
        if method == "runtime.info":
            return {"name": self.cfg.name, "endpoint": self.endpoint, "voter": self.state is not None,
                    "agents": sorted(self.agents), "services": sorted(self.services),
                    "uptime": time.time() - self.started, "pid": os.getpid()}
        if method == "agent.spawn":
            return await self.spawn(body)
        if method == "agent.wait":
            return await self.wait_child(body)
        if method == "manifest.set":
            text = body.get("text")
            if not isinstance(text, str):
                raise HandlerError("manifest.set: text must be a string")
            try:
                parse_manifest(text)
            except Exception as e:  # noqa: BLE001 - reported to the caller
                raise HandlerError(str(e)) from None
            return {"epoch": await self.submit("set_manifest", text)}
        agent_name, _, op = method.partition(".")
        agent = next((a for a in self.agents.values() if a.name == agent_name), None)
        extension = self.handlers.get(agent_name)
        if extension is not None and not (agent is not None and op in ("ping", "status")):
            return await extension(op, body, peer)
        if agent is not None:
            return agent.handle(op, body)
        raise HandlerError(f"unknown method {method!r} (or agent not hosted on {self.cfg.name})")

    async def make_boot_record(self) -> dict[str, Any]:
        snap = await self.snapshot()
        text = self.state.manifest_text if self.state is not None else self.boot_record.get("manifest", "")
        return build_boot_record(snap, text, self.keys.cluster_id, self.keys.server_public.decode())

    async def spawn(self, body: dict[str, Any]) -> dict[str, Any]:
        argv = body.get("argv")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise HandlerError("agent.spawn: argv must be a non-empty list of strings")
        try:
            proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                        stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
        except OSError as e:
            raise HandlerError(f"{argv[0]}: {e.strerror} (on {self.cfg.name})") from None
        self.children[proc.pid] = proc
        return {"pid": proc.pid, "runtime": self.cfg.name}

    async def wait_child(self, body: dict[str, Any]) -> dict[str, Any]:
        pid = body.get("pid")
        proc = self.children.get(pid) if isinstance(pid, int) else None
        if proc is None:
            raise HandlerError(f"agent.wait: no child {pid}")
        timeout = body.get("timeout", 5.0)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), float(timeout))
        except TimeoutError:
            raise HandlerError("agent.wait: still running") from None
        self.children.pop(proc.pid, None)
        rc = proc.returncode if proc.returncode is not None else -1
        status = 128 - rc if rc < 0 else rc
        return {"status": status, "stdout": out.decode("utf-8", "replace")[-65536:],
                "stderr": err.decode("utf-8", "replace")[-65536:]}

    # ---------------------------------------------------------- shutdown
    async def shutdown(self) -> None:
        """Graceful leave: out of membership first, so others re-place our agents."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.submit("leave", self.cfg.name), 2.0)
        for hook in self.on_shutdown:
            with contextlib.suppress(Exception):
                await hook()
        for svc in self.services.values():
            with contextlib.suppress(Exception):
                await svc.stop()
        for proc in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        if self.state is not None:
            if self.cfg.raft and len(self.cfg.voters) > 1:
                # Leave the Raft configuration too, so the rest keep a quorum.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        submit(asyncio.get_running_loop(), self.state.removeNodeFromCluster, self.cfg.raft), 1.0)
            self.state.stop()
        for client in self.voter_clients.values():
            await client.close()
        if self.server is not None:
            await self.server.close()


class _Stopping(Exception):
    pass
