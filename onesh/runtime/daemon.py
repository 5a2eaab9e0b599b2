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
import random
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import zmq
import zmq.asyncio

from onesh.aio import within
from onesh.errors import OneshError
from onesh.kernel.agents import KernelAgent, Service
from onesh.kernel.bootrecord import build_boot_record
from onesh.kernel.commits import CommitError, submit
from onesh.kernel.liveness import RENEW_EVERY, Leases, renew_period
from onesh.kernel.manifest import DEFAULT_MANIFEST, parse_manifest
from onesh.kernel.nameserver import NoBootRecord, lookup_boot_record
from onesh.kernel.raftfiles import RaftFilesUnusable
from onesh.net.keys import ClusterKeys, load_secret, start_authenticator
from onesh.net.leasechannel import LeaseClient, LeaseServer
from onesh.net.rpc import (
    HandlerError,
    RpcClient,
    RpcClients,
    RpcError,
    RpcServer,
    RpcTimeout,
    call_once,
    endpoint_host,
)
from onesh.net.samehost import host_key, sweep_stale
from onesh.runtime import voterswap
from onesh.runtime.voterswap import VoterWatch, replace_after

if TYPE_CHECKING:
    from onesh.kernel.membership import ClusterState

log = logging.getLogger("onesh.runtime")

# Data-plane modules plugged into every runtime.  Each has
# `install(runtime: Runtime) -> None`, which may register RPC handlers
# (`runtime.handlers[prefix]`, answering "<prefix>.<op>") and background
# loops (`runtime.loops`, run in the runtime's TaskGroup until it stops).
EXTENSIONS: tuple[str, ...] = (
    "onesh.runtime.service",
    "onesh.runtime.relays",
    "onesh.kernel.fs",
    "onesh.kernel.storage",
    "onesh.runtime.stages",
    "onesh.kernel.scheduler",
    "onesh.kernel.pubsub",
    "onesh.kernel.session",
)

OpHandler = Callable[[str, dict[str, Any], bytes], Awaitable[dict[str, Any]]]

JOIN_PATIENCE = 30.0  # seconds a starting runtime tries to join membership
CATCH_UP_WAIT = 1.0  # seconds a lagging voter delays a status read
LIVENESS_CHECK = 0.2  # the Raft leader's look at leases and voter connections
VOTER_RENEW_EVERY = 2.0  # (a voter's lease is only its load report)
FOLLOWER_NAP = 2.0  # a follower's liveness loop wakes on a role change, or after this
STILL_VOTER_CHECK = 5.0  # seconds without a leader before a voter asks whether it still is one
STILL_VOTER_ASKS = 16  # members asked besides the voters
RESYNC_EVERY = 10.0  # an idle runtime re-reads its assignment this often anyway
LEASE_ACK_WAIT = 0.2  # seconds a renewal datagram waits for its ack
RENEW_RETRY = 0.2  # seconds (at most) before a failed renewal is tried again
RELAY_CHECK = 5.0  # a dial-out runtime asks its relay this often whether it still relays for it
RELAY_MISSES = 3  # ... and looks for another relay after this many unanswered checks


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
    # A light runtime (onesh.runtime.swarm: many in one process) speaks the
    # membership protocol and nothing else: no data plane, no signals.
    light: bool = False
    idle_stop: float = 0.0  # stop the cluster after this long idle (the embedded service)
    # The cluster cannot open connections to us (NAT, a firewall): we dial
    # out to a relay (runtime/relays.py) for control requests, and pipes
    # into our stages are dialled from here (engine/distributed.py).
    dial_out: bool = False
    # CPUs this device offers stages (0: all of its host's), and how long
    # its stages may use more than that before one is moved off (0: never).
    cpus: float = 0.0
    overload_after: float = 30.0

    @property
    def capacity(self) -> float:
        return self.cpus or float(os.cpu_count() or 1)


class Runtime:
    def __init__(self, cfg: RuntimeConfig, ctx: zmq.asyncio.Context | None = None) -> None:
        self.cfg = cfg
        self.keys = ClusterKeys.from_secret(load_secret(cfg.secret_path))
        # (a shared context comes with its authenticator, started by its owner)
        self.own_ctx = ctx is None
        self.ctx: zmq.asyncio.Context = zmq.asyncio.Context() if ctx is None else ctx
        self.state: ClusterState | None = None
        self.server: RpcServer | None = None
        self.voter_clients: dict[str, RpcClient] = {}
        self.rpc = RpcClients(self.ctx, self.keys, drop_on=RpcTimeout)  # to the leader's runtime
        self.agents: dict[str, KernelAgent] = {}
        self.services: dict[str, Service] = {}
        self.children: dict[int, asyncio.subprocess.Process] = {}
        self.stop = asyncio.Event()
        self.started = time.time()
        self.boot_record: dict[str, Any] = {}
        self.leases = Leases()  # kept while this runtime's voter leads
        self.stage_cpu: Callable[[], float] = lambda: 0.0  # CPUs our stages use (runtime/stages.py measures)
        self._leading = False
        self._leader_lease = ""  # the leader's lease channel: where our renewals go
        self._renewed_at = 0.0  # when renew_loop last renewed (a voter renewing early spaces its tries)
        self.lease_server: LeaseServer | None = None  # (voters)
        self.lease_client: LeaseClient | None = None
        self.lease_address: str | None = None
        # The slots the leader last said we host: a member (with none) looks
        # at the whole cluster state only when that changes.
        self._hosts_seen: Any = []
        # The replicated state may have changed (an applied command, a new
        # Raft role; a renewal reply with a new epoch): loops re-read it.
        self.changed = asyncio.Event()
        self.role_changed = asyncio.Event()
        self.role_switched = asyncio.Event()  # promoted to voter, or demoted to member
        self._watchers: list[asyncio.Event] = [self.changed, self.role_changed]
        self.endpoint = ""  # where the cluster calls us (a relay's, when we dial out)
        self.local_endpoint = ""  # where our RPC server listens
        self.relay: dict[str, str] = {}  # {front, back, relay, via} when we dial out
        self.crashed = False
        self._good_voter = ""
        self.handlers: dict[str, OpHandler] = {}
        self.loops: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self.on_shutdown: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._tg: asyncio.TaskGroup | None = None
        self._promoting = asyncio.Lock()
        self.voter_watch = VoterWatch()  # (on the leader: voters gone, to replace)

    # ---------------------------------------------------------------- run
    async def run(self) -> int:
        if not self.cfg.light:
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
        auth = start_authenticator(self.ctx, self.keys) if self.own_ctx else None
        self.server = RpcServer(self.ctx, self.cfg.listen, self.keys, self.handle, keep_alive=self.cfg.dial_out)
        self.endpoint = self.local_endpoint = await self.server.start()
        host = endpoint_host(self.endpoint)
        self.lease_client = LeaseClient(self.keys.lease_key)
        await self.lease_client.start(host)
        try:
            if self.cfg.raft:
                await self.start_voter()
            else:
                await self.join_as_member()
            if self.state is not None:
                self._state_changed()  # (the loops' first look; a member's comes with its lease)
            async with asyncio.TaskGroup() as tg:
                self._tg = tg  # (a member promoted to voter starts its liveness loop here)
                tg.create_task(self.renew_loop())
                tg.create_task(self.supervise_loop())
                if self.state is not None:
                    tg.create_task(self.liveness_loop())
                if self.cfg.dial_out:
                    tg.create_task(self.relay_loop())
                for loop_fn in self.loops:
                    tg.create_task(loop_fn())
                await self.stop.wait()
                raise _Stopping
        except* _Stopping:
            pass
        finally:
            task = asyncio.current_task()
            # Cancelled, not stopped: a light runtime killed in its swarm
            # goes as a killed process does, without a word to anyone.
            self.crashed = task is not None and task.cancelling() > 0
            await self.shutdown()
            if auth is not None:
                auth.stop()
        return 0

    async def start_voter(self) -> None:
        assert self.cfg.raft is not None
        await self.open_raft([v for v in self.cfg.voters if v != self.cfg.raft], self.cfg.manifest_text)
        await self.register(self.member_info())

    async def open_raft(self, partners: list[str], manifest_text: str) -> None:
        """Start our Raft node (at cfg.raft) and lease channel: we are a voter."""
        assert self.cfg.raft is not None
        os.makedirs(self.cfg.data_dir, mode=0o700, exist_ok=True)
        parse_manifest(manifest_text)
        _check_bindable(self.cfg.raft)
        # The lease channel: the UDP port of the same number as our RPC one
        # (a free one if that is taken); every voter has one, the leader's works.
        self.lease_server = LeaseServer(self.keys.lease_key, self.renew_here)
        self.lease_address = await self.lease_server.start(endpoint_host(self.endpoint),
                                                           int(self.endpoint.rsplit(":", 1)[1]))
        # (imported here: pysyncobj is for voters; a member never loads it)
        from onesh.kernel.membership import ClusterState

        try:
            self.state = ClusterState(self.cfg.raft, partners, password=self.keys.raft_password,
                                      data_dir=self.cfg.data_dir, manifest_text=manifest_text)
        except RaftFilesUnusable as e:
            raise OneshError(str(e), status=1) from None
        loop = asyncio.get_running_loop()

        def changed() -> None:  # (on pysyncobj's thread)
            loop.call_soon_threadsafe(self._state_changed)

        self.state.on_change.append(changed)
        self.state.start()

    async def promote(self, body: dict[str, Any]) -> dict[str, Any]:
        """raft.promote: become a voter in place of one that is gone
        (runtime/voterswap.py; the leader then changes the configuration)."""
        async with self._promoting:  # (a retried request waits for the first)
            if self.state is not None:
                return {"raft": self.cfg.raft, "lease": self.lease_address}
            if self.cfg.light or self.cfg.dial_out or self._tg is None:
                raise HandlerError(f"{self.cfg.name} cannot be a voter")
            voters, host, manifest = body.get("voters"), body.get("host"), body.get("manifest")
            if not (isinstance(voters, list) and voters and all(isinstance(v, str) for v in voters)
                    and isinstance(host, str) and host and isinstance(manifest, str)):
                raise HandlerError("raft.promote: voters, host and manifest are required")
            from onesh.kernel.raftfiles import retire
            from onesh.runtime.localcluster import free_ports

            # (files from an earlier time as a voter belong to an old configuration)
            retire(self.cfg.data_dir)
            self.cfg.raft = f"{host}:{free_ports(1, host)[0]}"
            self.cfg.voters = sorted({*voters, self.cfg.raft})
            try:
                await self.open_raft(voters, manifest)
            except Exception:
                self.cfg.raft, self.cfg.voters = None, []
                raise
            log.info("promoted to voter: Raft on %s, with %s", self.cfg.raft, ", ".join(voters))
            self._tg.create_task(self.liveness_loop())
            self.role_switched.set()
        return {"raft": self.cfg.raft, "lease": self.lease_address}

    def member_info(self) -> dict[str, Any]:
        from onesh.runtime.interpreters import interpreters

        return {"endpoint": self.endpoint, "raft": self.cfg.raft, "tags": self.cfg.tags,
                "devices": self.cfg.devices, "host": socket.gethostname(), "pid": os.getpid(),
                "started": self.started, "host_key": host_key(), "lease": self.lease_address,
                "interpreters": interpreters(),
                # Pipes into a runtime that cannot be reached are dialled by it.
                "reachable": not self.cfg.dial_out, "relay": self.relay.get("relay", ""),
                # (its own address, for `onesh bootstrap` to tell a re-run on
                # the same device from a name taken elsewhere)
                "listen": self.local_endpoint,
                # (may be promoted when a voter is gone for good: runtime/voterswap.py)
                "voter_ok": not (self.cfg.light or self.cfg.dial_out)}

    async def register(self, info: dict[str, Any]) -> None:
        """Join membership, retrying until a leader exists (cluster start-up),
        backing off (with jitter: a thousand runtimes may be joining)."""
        deadline = time.monotonic() + JOIN_PATIENCE
        pause = 0.1
        while not self.stop.is_set():
            try:
                await self.submit("join", self.cfg.name, info)
                return
            except (CommitError, TimeoutError, RpcError) as e:
                if time.monotonic() > deadline:
                    raise OneshError(f"could not join membership within {JOIN_PATIENCE:g}s: "
                                     f"{self.join_problem(e)}", status=1) from None
                await asyncio.sleep(random.uniform(0.5, 1.0) * pause)
                pause = min(pause * 2, 2.0)

    def join_problem(self, e: Exception) -> str:
        """Why a join is not committed, in words (a bare timeout says nothing)."""
        if self.state is None:
            return str(e) or f"no voter answered ({', '.join(self.voter_clients) or 'none known'})"
        from onesh.kernel.statusread import leader_problem

        snap = self.state.snapshot()
        return leader_problem(snap) or f"{str(e) or type(e).__name__} (leader {snap.get('leader')})"

    async def join_as_member(self) -> None:
        if not self.cfg.join:
            raise RuntimeError("a non-voting runtime needs --join BOOT (a name server endpoint)")
        await self.refresh_boot_record(wait=30.0)
        if self.cfg.dial_out:
            await self.open_relay(patience=JOIN_PATIENCE)
        await self.register(self.member_info())

    # -------------------------------------------------- reverse connectivity
    def relay_candidates(self) -> list[str]:
        """Runtimes we might reach: the current relay first, then the name
        servers we joined through, then the voters."""
        out: list[str] = []
        for ep in [self.relay.get("via", ""), *self.cfg.join,
                   *(str(v.get("endpoint") or "") for v in self.boot_record.get("voters", []))]:
            if ep and ep not in out:
                out.append(ep)
        return out

    async def open_relay(self, patience: float) -> bool:
        """Find a runtime that relays for us, connect our RPC server to it
        and check the whole way round (a request to our advertised endpoint
        comes back to us through the relay).  True when the endpoint the
        cluster knows us by changed."""
        assert self.server is not None
        deadline = time.monotonic() + patience
        problems: list[str] = []
        while not self.stop.is_set():
            for via in self.relay_candidates():
                try:
                    reply = await call_once(self.ctx, via, self.keys, "relay.open", {"name": self.cfg.name}, 2.0)
                except RpcError as e:
                    problems.append(f"{via}: {e}")
                    continue
                front, back = str(reply.get("front", "")), str(reply.get("back", ""))
                if front == self.relay.get("front") and back == self.relay.get("back"):
                    self.relay["via"] = via
                    return False
                old = self.relay.get("back")
                if old:
                    self.server.disconnect(old)
                self.server.connect(back)
                self.relay = {"front": front, "back": back, "relay": str(reply.get("relay", "")), "via": via}
                if await self._relay_answers(front):
                    log.info("dialling out: the cluster reaches us at %s (relayed by %s)", front, self.relay["relay"])
                    self.endpoint = front
                    return True
                problems.append(f"{via}: its relay {front} did not bring our own request back")
            if time.monotonic() > deadline:
                raise OneshError("--dial-out: no runtime of the cluster relays for us: "
                                 + "; ".join(problems[-3:] or ["no runtime known"]), status=1)
            await asyncio.sleep(1.0)
        return False

    async def _relay_answers(self, front: str) -> bool:
        for _ in range(10):
            try:
                reply = await call_once(self.ctx, front, self.keys, "runtime.info", {}, 1.0)
            except RpcError:
                continue
            if reply.get("pid") == os.getpid():
                return True
        return False

    async def relay_loop(self) -> None:
        """Keep our relay: ask it now and then (which also keeps the path
        through a NAT open); when it stops answering (its runtime died or
        restarted), find another and tell membership our new endpoint."""
        misses = 0
        while True:
            await asyncio.sleep(RELAY_CHECK)
            via = self.relay.get("via", "")
            try:
                # (a long-lived client: one Curve handshake, not one per check)
                reply = await self.rpc.call(via, "relay.open", {"name": self.cfg.name}, 2.0)
                misses = 0 if reply.get("front") == self.relay.get("front") else RELAY_MISSES
            except RpcError as e:
                misses += 1
                log.info("relay %s did not answer (%d): %s", via, misses, e)
            if misses < RELAY_MISSES:
                continue
            misses = 0
            try:  # (the current relay is asked first again: it may be back)
                moved = await self.open_relay(patience=0)
            except OneshError as e:
                log.warning("%s", e)
                continue
            if moved:
                with contextlib.suppress(OneshError):
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
        # in a fixed order every command would wait out its timeout.
        clients = sorted(self.voter_clients.items(), key=lambda kv: kv[0] != self._good_voter)
        for endpoint, client in clients:
            try:
                # (longer than the voter's own commit timeout: its answer, even "not
                # committed", beats a second voter doing the same work)
                reply = await client.call("raft.submit", {"method": method, "args": list(args)}, timeout=3.0)
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
    def _state_changed(self) -> None:
        for event in self._watchers:
            event.set()

    def watch_changes(self) -> asyncio.Event:
        """An event set whenever the replicated state may have changed (the
        caller clears it): loops wait on it instead of polling."""
        event = asyncio.Event()
        self._watchers.append(event)
        return event

    async def renew_loop(self) -> None:
        """Renew our lease with the Raft leader (kernel.liveness): nothing
        is committed while all is well.  Told to rejoin (we were declared
        dead, or the cluster forgot us), we join again.  A voter's liveness
        is Raft's business: it renews only to report its load."""
        period = RENEW_EVERY if self.state is None else VOTER_RENEW_EVERY
        wait = period
        # A voter sees in its own replica that it was declared dead (frozen
        # for a while, cut off): it renews at once, not at its next turn
        # up to a period later, so it is back as soon as it can be.
        changed = self.watch_changes() if self.state is not None else None
        voter = self.state is not None
        while True:
            await self._renew_wait(wait, changed)
            if voter != (self.state is not None):  # promoted, or demoted (runtime/voterswap.py)
                voter = self.state is not None
                period = RENEW_EVERY if self.state is None else VOTER_RENEW_EVERY
            self._renewed_at = time.monotonic()
            try:
                reply = await self.renew()
            except (RpcError, OSError) as e:
                log.debug("lease not renewed: %s", e)
                self._leader_lease = ""
                # Soon again (the leader moved: a new one is being elected),
                # not all of us at the same instant.
                wait = random.uniform(0.5, 1.0) * RENEW_RETRY
                continue
            wait = period
            if self.state is None and isinstance(reply.get("renew_every"), int | float):
                period = wait = float(reply["renew_every"])  # (the leader paces a large cluster)
            if reply.get("rejoin"):
                log.warning("%s: the cluster has us as gone: joining again", self.cfg.name)
                with contextlib.suppress(OneshError):
                    await self.register(self.member_info())
            elif reply.get("hosts") != self._hosts_seen:
                # What we should run changed: a member's only news of it (a
                # voter hears of every change from its own replica).
                self._hosts_seen = reply.get("hosts")
                self._state_changed()

    async def _renew_wait(self, wait: float, changed: asyncio.Event | None) -> None:
        if changed is None or self.state is None:
            with contextlib.suppress(TimeoutError):  # (a role switched: renew now)
                await within(self.role_switched.wait(), wait)
            self.role_switched.clear()
            return
        until = time.monotonic() + wait
        while (left := until - time.monotonic()) > 0:
            try:
                await within(changed.wait(), left)
            except TimeoutError:
                return
            changed.clear()
            me = self.state.members.get(self.cfg.name)
            if me is not None and not me.get("alive"):
                # (spaced: our own rejoin is committed a moment later)
                await asyncio.sleep(max(0.0, self._renewed_at + RENEW_RETRY - time.monotonic()))
                return

    async def renew(self) -> dict[str, Any]:
        """One renewal: a datagram to the leader's lease channel when we know
        where it is (net.leasechannel), else an RPC, which also says where."""
        body = {"name": self.cfg.name, "pid": os.getpid(), "started": self.started, "load": os.getloadavg()[0],
                "stages": [round(self.stage_cpu(), 3), self.cfg.capacity]}  # (CPUs its stages use, of how many)
        if self.state is not None and self.state._isLeader():
            return self.renew_here(body)
        if self._leader_lease and self.lease_client is not None:
            reply = await self.lease_client.renew(self._leader_lease, body, LEASE_ACK_WAIT)
            if reply is not None and reply.get("leader") is None:
                return reply
            # Not the leader (it named the leader) or silent: the RPC path finds it.
            self._leader_lease = str(reply.get("leader_lease") or "") if reply is not None else ""
        return await self.find_leader(body)

    async def find_leader(self, body: dict[str, Any]) -> dict[str, Any]:
        """Renew with every voter we know at once (the leader moved, or we
        just started): a voter that is not the leader names it, the leader
        renews.  At once, not one by one: a new leader gives us one lease
        from its start, and a dead voter first in line would eat it.  By
        datagram first (cheap: a whole cluster looks for a new leader at
        the same moment), then by RPC (datagrams may not pass)."""
        if self.lease_client is not None:
            addresses = [a for a in self.voter_leases() if a]
            for _ in range(2):
                replies = await asyncio.gather(*(self.lease_client.renew(a, body, LEASE_ACK_WAIT) for a in addresses))
                for address, reply in zip(addresses, replies, strict=True):
                    if reply is not None and reply.get("leader") is None:
                        self._leader_lease = address
                        return reply
                redirects = {str(r["leader_lease"]) for r in replies if r is not None and r.get("leader_lease")}
                addresses = sorted(redirects - set(addresses))
                if not addresses:
                    break
        endpoints = [self.leader_endpoint() or ""] if self.state is not None else list(self.voter_clients)
        endpoints = [e for e in endpoints if e] or self.voter_endpoints()
        named: set[str] = set()
        for _ in range(2):
            replies = await asyncio.gather(*(self.rpc.call(ep, "member.renew", body, RENEW_EVERY) for ep in endpoints),
                                           return_exceptions=True)
            for ep, reply in zip(endpoints, replies, strict=True):
                if isinstance(reply, dict) and "leader" not in reply:
                    self._good_voter = ep
                    self._leader_lease = str(reply.get("lease") or "")
                    return reply
                if isinstance(reply, dict) and reply.get("leader"):
                    named.add(str(reply["leader"]))
            endpoints = sorted(named - set(endpoints))
            if not endpoints:
                break
        raise RpcError("no leader answered a lease renewal")

    def voter_leases(self) -> list[str]:
        """The voters' lease channels: from our replica (voters) or the boot record."""
        if self.state is None:
            return [str(v.get("lease") or "") for v in self.boot_record.get("voters", [])]
        return [str(m.get("lease") or "") for m in self.state.members_copy().values() if m.get("raft")]

    def voter_endpoints(self) -> list[str]:
        """The RPC endpoints of the voters, from our replica (voters)."""
        if self.state is None:
            return list(self.voter_clients)
        return [str(m["endpoint"]) for m in self.state.members_copy().values() if m.get("raft") and m.get("endpoint")]

    def leader_endpoint(self) -> str | None:
        """On a voter: the endpoint of the runtime whose voter leads."""
        leader = self.leader_member()
        return None if leader is None else str(leader.get("endpoint"))

    def leader_member(self) -> dict[str, Any] | None:
        """On a voter: the member record of the runtime whose voter leads."""
        assert self.state is not None
        leader = self.state.leader()
        for m in self.state.members_copy().values():
            if leader is not None and m.get("raft") == leader:
                return m
        return None

    def renew_here(self, body: dict[str, Any]) -> dict[str, Any]:
        """member.renew on the leader (a non-leader voter names the leader)."""
        assert self.state is not None
        if not self.state._isLeader():
            leader = self.leader_member()
            return {"leader": leader.get("endpoint") if leader else "",
                    "leader_lease": leader.get("lease") if leader else ""}
        name = body.get("name")
        if not isinstance(name, str):
            raise HandlerError("member.renew: name must be a string")
        member, count, hosted = self.state.member(name)
        ok = self.leases.renew(name, member, (body.get("pid"), body.get("started")), body.get("load"),
                               time.monotonic(), stages=body.get("stages"))
        if not ok:
            log.info("lease of %s not renewed (%s): it must join again", name,
                     "unknown" if member is None else "declared dead" if not member.get("alive")
                     else "another run of it is the member")
        return {"rejoin": not ok, "hosts": hosted, "renew_every": renew_period(count),
                "lease": self.lease_address}

    async def liveness_loop(self) -> None:
        """On the Raft leader: declare dead the runtimes whose lease ran
        out and the voters Raft lost (kernel.liveness); commit only that."""
        assert self.state is not None
        last = time.monotonic()
        leaderless_since: float | None = None
        while self.state is not None:
            if not self.state._isLeader():
                self._leading = False
                self.voter_watch.forget()
                self.role_changed.clear()
                with contextlib.suppress(TimeoutError):
                    await within(self.role_changed.wait(), FOLLOWER_NAP)
                if self.state.leader() is not None:
                    leaderless_since = None
                elif leaderless_since is None:
                    leaderless_since = time.monotonic()
                elif time.monotonic() - leaderless_since >= STILL_VOTER_CHECK:
                    leaderless_since = time.monotonic()
                    await self.check_still_voter()
                continue
            now = time.monotonic()
            members = self.state.members_copy()
            if not self._leading:
                self._leading = True
                self.leases.take_over(members, now)
            elif now - last > 2 * LIVENESS_CHECK:
                # We were not scheduled for a while: the renewals of that
                # time may still wait in our socket.  Read them first.
                self.leases.paused(now - last - LIVENESS_CHECK)
                await asyncio.sleep(LIVENESS_CHECK)
                last = time.monotonic()
                continue
            last = now
            by_raft = {str(m.get("raft")): n for n, m in members.items() if m.get("raft")}
            partners = self.state.partners()
            self.leases.voters_seen({by_raft[a]: up for a, up in partners.items() if a in by_raft}, now)
            dead = self.leases.verdict(members, self.cfg.name, now)
            if dead:
                log.info("declaring dead: %s", ", ".join(dead))
                with contextlib.suppress(CommitError, TimeoutError):
                    await submit(asyncio.get_running_loop(), self.state.reconcile, dead, [])
            await self.replace_gone_voters(partners, now)
            await asyncio.sleep(LIVENESS_CHECK)

    async def check_still_voter(self) -> None:
        """A voter that has had no leader for a while asks the other
        runtimes whether it still is one: replaced while it was frozen or
        cut off (the voters now refuse its connections), it would otherwise
        stand in elections nobody hears, for ever.  It rejoins as a member."""
        assert self.state is not None
        me = self.cfg.name
        others = {n: m for n, m in self.state.members_copy().items() if n != me and m.get("endpoint")}
        # The other voters, and a few members (a new voter is one of them;
        # asking a thousand every few seconds would be a load of its own).
        endpoints = [str(m["endpoint"]) for m in others.values() if m.get("raft")]
        members = [str(m["endpoint"]) for m in others.values() if not m.get("raft")]
        endpoints += random.sample(members, min(len(members), STILL_VOTER_ASKS))
        from onesh.kernel.statusread import freshest

        try:
            snap = await freshest(self.rpc.call(ep, "cluster.status", {}, 1.0) for ep in endpoints)
        except RpcError:
            return  # (nobody to ask: we are cut off, or alone)
        if snap.get("leader") is None or (snap.get("members") or {}).get(me, {}).get("raft") == self.cfg.raft:
            return
        await self.demote([str(m["endpoint"]) for m in snap["members"].values() if m.get("raft") and m.get("endpoint")])

    async def demote(self, voters: list[str]) -> None:
        """Stop our Raft node (we were replaced) and join as a member through `voters`."""
        state = self.state
        assert state is not None
        log.warning("%s: no longer a voter (replaced while it was away): joining as a member", self.cfg.name)
        self.state, self._leading = None, False
        self.voter_watch.forget()
        await asyncio.to_thread(state.stop)
        from onesh.kernel.raftfiles import retire

        retire(self.cfg.data_dir)
        if self.lease_server is not None:
            self.lease_server.close()
        self.lease_server, self.lease_address = None, None
        self.cfg.raft, self.cfg.voters = None, []
        self.cfg.join = [*voters, *(j for j in self.cfg.join if j not in voters)]
        self._state_changed()
        with contextlib.suppress(RuntimeError, OneshError):
            await self.refresh_boot_record(wait=JOIN_PATIENCE)
            await self.register(self.member_info())
        self.role_switched.set()

    async def replace_gone_voters(self, partners: dict[str, bool], now: float) -> None:
        """On the leader: a voter gone longer than voterswap.replace_after()
        is replaced by a member (one at a time; tried again later on failure)."""
        assert self.state is not None
        self.voter_watch.seen(partners, now)
        for gone in self.voter_watch.overdue(now, replace_after())[:1]:
            try:
                done = await within(voterswap.replace(self, gone), 3 * voterswap.PROMOTE_TIMEOUT)
            except (CommitError, TimeoutError, RpcError, HandlerError) as e:
                log.warning("replacing voter %s: %s (trying again later)", gone, e)
                done = False
            # (tried again after a while, not on every liveness check)
            self.voter_watch.since[gone] = time.monotonic() - (0 if done else replace_after() / 2)

    async def supervise_loop(self) -> None:
        """Run exactly the kernel agents and services assigned to us: when
        the replicated state changes (and now and then regardless)."""
        while True:
            # A voter looks again now and then (a cheap local read); a member
            # reads the cluster's state only when its lease renewals say
            # that what it hosts changed: a thousand of them re-reading it
            # every few seconds would be the whole load of a big cluster.
            with contextlib.suppress(TimeoutError):
                await within(self.changed.wait(), RESYNC_EVERY if self.state is not None else None)
            self.changed.clear()
            try:
                snap = await self.placement()
            except RpcError:
                await asyncio.sleep(0.1)
                self.changed.set()  # try again soon
                continue
            me = snap["members"].get(self.cfg.name)
            if self.state is not None and snap.get("leader") and (me is None or not me.get("alive")):
                # A voter declared dead (it was frozen, or cut off) hears it
                # here; a member hears it from its lease renewal.
                log.warning("%s: the cluster has us as gone: joining again", self.cfg.name)
                with contextlib.suppress(OneshError):
                    await self.register(self.member_info())
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
                    svc = Service(slot, unit.command, self.cfg.data_dir, on_exit=self.changed.set)
                    await svc.start()
                    self.services[slot] = svc
            for slot in [s for s in self.agents if s not in mine]:
                self.agents.pop(slot)
                log.info("stopped kernel agent %s (reassigned)", slot)
            for slot in [s for s in self.services if s not in mine]:
                await self.services.pop(slot).stop()
            for svc in self.services.values():
                await svc.restart_if_exited()

    async def placement(self) -> dict[str, Any]:
        """What supervision needs: the assignment, our own member record,
        the leader and the manifest.  On a voter, without copying every
        member (a thousand joining would have each join copy them all)."""
        if self.state is None:
            return await self.snapshot()
        member, _, _ = self.state.member(self.cfg.name)
        with self.state.lock:
            assign = dict(self.state.assign)
        return {"members": {} if member is None else {self.cfg.name: member}, "assign": assign,
                "leader": self.state.leader(), "manifest": self.state.manifest_text}

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
                if self._leading and self.state._isLeader():
                    self.leases.overlay(snap["members"], time.monotonic())
            snap["answered_by"] = self.cfg.name
            return snap
        if method == "member.renew":
            if self.state is None:
                raise HandlerError("not a voter")
            return self.renew_here(body)
        if method == "raft.submit":
            if self.state is None:
                raise HandlerError("not a voter")
            name = body.get("method")
            if name not in ("join", "leave", "put_agent_state", "set_manifest", "ns_apply"):
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
                    "uptime": time.time() - self.started, "pid": os.getpid(), "started": self.started,
                    # (for top --cluster: its CPU over time, its memory, its host's load)
                    "cpu": time.process_time(), "rss": _rss(), "load": os.getloadavg()[0]}
        if method == "runtime.leave":
            # (`cluster drain`: as SIGTERM, once this reply is out: movable
            # stages are handed to their shells first, then it stops)
            asyncio.get_running_loop().call_later(0.05, self.stop.set)
            return {"leaving": self.cfg.name}
        if method == "raft.promote":
            return await self.promote(body)
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
        if self.state is not None:
            # (the voters only: a thousand members joining each ask for it)
            with self.state.lock:
                voters = {n: dict(m) for n, m in self.state.members.items() if m.get("raft")}
            snap: dict[str, Any] = {"members": voters}
        else:
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
            out, err = await within(proc.communicate(), float(timeout))
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
        if not self.crashed:
            with contextlib.suppress(Exception):
                await within(self.submit("leave", self.cfg.name), 2.0)
            if self.relay.get("via"):
                with contextlib.suppress(Exception):
                    await call_once(self.ctx, self.relay["via"], self.keys, "relay.close", {"name": self.cfg.name}, 1.0)
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
            # A voter stays in the Raft configuration: it is coming back
            # (`cluster down` then `up`).  Gone for long, it is replaced
            # (runtime/voterswap.py).
            self.state.stop()
        for client in self.voter_clients.values():
            await client.close()
        await self.rpc.close()
        for channel in (self.lease_server, self.lease_client):
            if channel is not None:
                channel.close()
        if self.server is not None:
            await self.server.close()


class _Stopping(Exception):
    pass


def _check_bindable(address: str) -> None:
    """Fail now, in words, when our Raft address is taken: pysyncobj would
    retry the bind forever and the runtime would only ever say that it
    could not join."""
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as pysyncobj binds
        try:
            s.bind((host.strip("[]"), int(port)))
        except OSError as e:
            raise OneshError(f"cannot listen for Raft on {address}: {e.strerror or e}", status=1) from None


def _rss() -> int:
    """This process's resident memory in bytes (0 where /proc has none)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0
