"""Membership and kernel-agent placement, replicated with Raft (pysyncobj).

The replicated state is plain data (dicts of str/int/float/bool): members
with their endpoint, tags, devices and liveness, and the
assignment slot → runtime.  Every decision is taken *inside* a replicated
method, so every replica computes the same result from the same log: the
leader only proposes (`reconcile(dead, revived)`), consensus decides.

pysyncobj has no learner role, so non-voting runtimes are not Raft nodes:
they read and write this state through RPC to a voter, which submits their
commands to the log (pysyncobj forwards them to the leader).

pysyncobj's wire format is pickle; `password` is mandatory so its port is
encrypted and authenticated (a peer without the cluster secret is refused).
"""

from __future__ import annotations

import copy
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from onesh.kernel import namespace, raftcrypt
from onesh.kernel.manifest import Manifest, Unit, parse_manifest
from onesh.kernel.raftfiles import check_raft_files, write_voters

raftcrypt.install()  # (before pysyncobj is imported: it would load cryptography for Fernet)

from pysyncobj import SyncObj, SyncObjConf, replicated  # noqa: E402

log = logging.getLogger("onesh.membership")

# Raft timings.  At idle the only traffic is the leader's empty appends,
# so their period sets the idle cost (each message is pickled, encrypted
# and authenticated: ~0.25 ms of CPU).  A new command does not wait for the
# period: it is sent at once (appendEntriesUseBatch off).  A dead leader is
# noticed through its closed connection, not the long election timeout
# (see _tick_loop); the timeout only covers a leader that is frozen.
TICK = 0.2  # seconds pysyncobj's thread waits for socket events per tick
APPEND_PERIOD = 0.4  # the leader's empty appends (heartbeats) to each follower
RAFT_TIMEOUT = (1.25, 1.8)  # a follower's election timeout range
LEADER_GONE_AFTER = 0.05  # a follower disconnected from its leader this long calls an election
# Every follower sees a dead leader's connection close at the same instant;
# were they all to stand at once, the votes would split and the next try
# waits a whole election timeout.  They stand in turns instead
# (ClusterState._standing_delay), ticking fast meanwhile so the first to
# stand is heard before the next one's turn.
ELECTION_SPREAD = 0.15  # seconds between turns
ELECTION_JITTER = 0.03
FAST_TICK = 0.01
STALL = 1.0  # a tick this much longer than asked means this process was frozen
HURRY_FOR = 3.0  # seconds of fast ticks after the leader was lost (bounded: a leaderless idle costs little)


def place(slots: Mapping[str, Unit], members: Mapping[str, dict[str, Any]],
          current: Mapping[str, str]) -> dict[str, str]:
    """Deterministic placement: keep slots whose runtime is alive, still
    satisfies the constraints and is not over its fair share (ceil of slots
    per alive runtime, so agents spread as runtimes join); give every other
    slot to the eligible alive runtime with the fewest slots (ties by name).
    Replicas of one unit go to distinct runtimes when possible."""
    alive = sorted(n for n, m in members.items() if m.get("alive"))
    result: dict[str, str] = {}
    load = {n: 0 for n in alive}
    share = -(-len(slots) // len(alive)) if alive else 0

    def eligible(unit: Unit, name: str) -> bool:
        tags = members[name].get("tags", {})
        return all(tags.get(k) == v for k, v in unit.tags.items())

    def preferred(unit: Unit, name: str) -> bool:
        # (a kernel agent on a member moves to a voter once one qualifies)
        return unit.kind != "agent" or bool(members[name].get("raft")) or not any(
            members[n].get("raft") and eligible(unit, n) for n in alive)

    for slot in sorted(slots):
        host = current.get(slot)
        if host in load and eligible(slots[slot], host) and preferred(slots[slot], host) and load[host] < share:
            result[slot] = host
            load[host] += 1
    for slot in sorted(slots):
        if slot in result:
            continue
        unit = slots[slot]
        siblings = {result[s] for s in unit.slots if s in result}
        candidates = [n for n in alive if eligible(unit, n)]
        if unit.kind == "agent":
            # Kernel agents go to voters when one qualifies: Raft's own
            # connections tell in milliseconds that a voter died, where a
            # member's lease takes LEASE_FOR to run out (failover time).
            candidates = [n for n in candidates if members[n].get("raft")] or candidates
        if not candidates:
            continue  # stays unassigned until an eligible runtime appears
        fresh = [n for n in candidates if n not in siblings] or candidates
        best = min(fresh, key=lambda n: (load[n], n))
        result[slot] = best
        load[best] += 1
    return result


class ClusterState(SyncObj):
    def __init__(self, self_addr: str, partners: list[str], *, password: str, data_dir: str,
                 manifest_text: str, fast: bool = True) -> None:
        # Told (from pysyncobj's thread) when a command is applied or this
        # node's Raft role changes; created before SyncObj.__init__ (below).
        self.on_change: list[Callable[[], None]] = []
        conf = SyncObjConf(
            password=password,
            journalFile=os.path.join(data_dir, "raft.journal"),
            fullDumpFile=os.path.join(data_dir, "raft.dump"),
            # Only where told: a loopback cluster is not reachable from the
            # network (pysyncobj binds 0.0.0.0 otherwise).
            bindAddress=self_addr,
            # A voter gone for good is replaced (runtime/voterswap.py):
            # pysyncobj's configuration changes, one voter at a time.  At
            # start a voter takes the configuration it is given, never the
            # one in its full dump (_SyncObj__loadDumpFile below): a cluster
            # restarted on other ports after a log compaction would never
            # form again.  `cluster up` gives it the last one it recorded
            # (raftfiles.VOTERS).
            dynamicMembershipChange=True,
            # Loopback/LAN timings: a dead leader is replaced in well under a
            # second, with few enough messages to cost little at idle (each
            # is pickled, encrypted and authenticated).
            raftMinTimeout=RAFT_TIMEOUT[0] if fast else 0.4,
            raftMaxTimeout=RAFT_TIMEOUT[1] if fast else 1.4,
            appendEntriesPeriod=APPEND_PERIOD if fast else 0.1,
            appendEntriesUseBatch=False,
            connectionRetryTime=0.2,
            # A frozen voter (SIGSTOP, a hung machine) is dropped after this
            # long without a word (pysyncobj wants at least the election
            # timeout); a killed one at once: its sockets close.
            connectionTimeout=RAFT_TIMEOUT[1] if fast else 1.4,
            onStateChanged=lambda old, new: self._changed(),
            # We tick from our own thread (start()), so the replicated
            # attributes below exist before the first log entry is applied.
            autoTick=False,
            useFork=False,  # forking a process that holds zmq threads is unsafe
            commandsWaitLeader=True,
            # When the log is folded into a full dump (pysyncobj's defaults
            # unless set: tests shorten them to get a compaction quickly).
            logCompactionMinEntries=_env_int("ONESH_RAFT_COMPACT_ENTRIES", 5000),
            logCompactionMinTime=_env_int("ONESH_RAFT_COMPACT_SECONDS", 300),
        )
        check_raft_files(data_dir)
        # Created before SyncObj.__init__ so pysyncobj does not try to
        # serialise it with the replicated state.
        self.lock = threading.Lock()
        # Also before SyncObj.__init__: anything set later is part of the
        # replicated state and goes into pysyncobj's (pickled) full dump,
        # which a thread object would make fail on every log compaction.
        self._stop_ticking = threading.Event()
        self._ticker = threading.Thread(target=self._tick_loop, name="raft", daemon=True)
        self._data_dir = data_dir
        self._loading_at_start = [False]
        self._config_written: list[frozenset[str]] = [frozenset()]
        # How recently a majority must have answered a leader's appends for
        # it to call itself leader (leader(): a follower waits this long at
        # most for an append before it stands for election).
        self._leads_within = conf.raftMaxTimeout
        super().__init__(self_addr, partners, conf)
        self.members: dict[str, dict[str, Any]] = {}
        self.assign: dict[str, str] = {}
        self.manifest_text = manifest_text
        self.agent_state: dict[str, Any] = {}
        self.epoch = 0
        # The fs namespace index (onesh.kernel.namespace): replicated with
        # membership so any runtime that takes over the fs agent has it all.
        self.namespace: dict[str, dict[str, Any]] = namespace.initial()
        self.ns_recent: dict[str, dict[str, Any]] = {}  # request id → result (retries)
        self.ns_version = 0

    def start(self) -> None:
        # The first election need not wait out the full timeout (which has
        # room for lost heartbeats): a leader that exists speaks within one
        # append period; with none, a cluster starting up elects one now.
        self._SyncObj__raftElectionDeadline = time.monotonic() + random.uniform(1.2, 1.8) * APPEND_PERIOD
        self._ticker.start()

    def _tick_loop(self) -> None:
        # Each tick waits for socket events up to TICK: the timer resolution
        # of elections and of the leader's appends, and the idle wake-ups.
        lost_since: float | None = None
        hurry_until = 0.0
        last_leader: object = None  # the last leader seen connected
        stood_against: object = None  # the lost leader an election was already called over
        while not self._stop_ticking.is_set():
            wait = FAST_TICK if time.monotonic() < hurry_until else TICK
            before = time.monotonic()
            self.doTick(wait)
            self._record_config()
            if time.monotonic() - before > wait + STALL:
                # We were frozen (SIGSTOP, a suspended machine, a starved
                # CPU): our election deadline passed meanwhile, and the
                # leader may have dropped our connection.  Standing now,
                # with a log that missed what was committed without us,
                # would only unseat a working leader (each try raises the
                # term).  Give it a whole election timeout to reach us.
                self._SyncObj__raftElectionDeadline = time.monotonic() + random.uniform(*RAFT_TIMEOUT)
                leader = self._getLeader()
                stood_against, lost_since = leader, None
                continue
            leader = self._getLeader()
            if leader is not None and (leader == self.selfNode or self.isNodeConnected(leader)):
                last_leader, lost_since = leader, None
                hurry_until, stood_against = 0.0, None  # a leader again: back to idle ticks
                continue
            # No leader known may mean another follower stood first (its
            # request cleared ours); if the one we followed is gone, stand
            # too: its candidacy may fail (its log behind ours).
            gone = leader if leader is not None else last_leader
            if gone is None or gone == self.selfNode or self.isNodeConnected(gone):
                lost_since = None
                continue
            now = time.monotonic()
            lost_since = lost_since or now
            if now - lost_since >= LEADER_GONE_AFTER and gone != stood_against:
                # Our leader's connection closed (its process died): call an
                # election soon (ELECTION_SPREAD) rather than wait out the
                # election timeout, which exists for a leader that is alive
                # but silent.  pysyncobj has no call for this; its deadline
                # is private.  (Were it renamed, the timeout decides.)
                self._SyncObj__raftElectionDeadline = now + self._standing_delay(gone)
                hurry_until = now + HURRY_FOR
                stood_against = gone
                lost_since = None

    def _standing_delay(self, gone: object) -> float:
        """When to stand after leader `gone` died: the survivors take turns
        ELECTION_SPREAD apart, in an order that turns with the term, so
        each hears the one before it (and votes for it, its log allowing)
        before its own turn.  Random delays alone let two stand within a
        tick of each other often enough on a loaded machine (a split vote
        costs a whole election timeout)."""
        order = sorted(str(n) for n in [self.selfNode, *self.otherNodes] if n != gone)
        turn = int(self.raftCurrentTerm) % len(order)
        rank = (order.index(str(self.selfNode)) - turn) % len(order)
        return rank * ELECTION_SPREAD + random.uniform(0.0, ELECTION_JITTER)

    def raft_config(self) -> list[str]:
        """Every voter's Raft address in this node's configuration (itself too)."""
        return sorted(str(n) for n in [self.selfNode, *self.otherNodes])

    def _record_config(self) -> None:
        """Keep raftfiles.VOTERS in step with the configuration (on the
        Raft thread: followers change it as they receive the entry)."""
        config = frozenset(self.raft_config())
        if config == self._config_written[0]:
            return
        try:
            write_voters(self._data_dir, str(self.selfNode), sorted(config))
        except OSError as e:
            log.warning("cannot record the Raft configuration in %s: %s", self._data_dir, e)
        self._config_written[0] = config
        self._changed()

    # pysyncobj loads its full dump on its first tick, and with dynamic
    # membership on it then takes the configuration stored in the dump.
    # At start-up that is the configuration of the dump's time, maybe on
    # ports that have changed since: keep the one we were started with.
    # (A dump sent by the leader to a follower far behind carries the
    # leader's current configuration: that one is taken.)
    def _SyncObj__loadDumpFile(self, clearJournal: bool) -> None:
        self._loading_at_start[0] = not clearJournal
        try:
            SyncObj._SyncObj__loadDumpFile(self, clearJournal)
        finally:
            self._loading_at_start[0] = False

    def _SyncObj__updateClusterConfiguration(self, nodes: list[Any]) -> None:
        if not self._loading_at_start[0]:
            SyncObj._SyncObj__updateClusterConfiguration(self, nodes)

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    def stop(self) -> None:
        stop = self._stop_ticking if self._ticker.is_alive() else None
        if stop is not None:
            stop.set()
            self._ticker.join(timeout=2)
        self.destroy()
        # destroy() is applied on the next tick
        for _ in range(10):
            try:
                self.doTick(0.0)
            except Exception:  # noqa: BLE001 - already torn down
                break

    # -------------------------------------------------- replicated commands
    @replicated
    def join(self, name: str, info: dict[str, Any]) -> int:
        with self.lock:
            return self._join(name, info)

    def _join(self, name: str, info: dict[str, Any]) -> int:
        member = dict(info)
        member.update(alive=True)
        self.members[name] = member
        self._replace()
        return self.epoch

    @replicated
    def leave(self, name: str) -> int:
        with self.lock:
            self.members.pop(name, None)
            self._replace()
            return self.epoch

    @replicated
    def heartbeat(self, name: str, counter: int, load: float) -> bool:
        """No longer submitted (liveness is off the log: kernel.liveness).
        Kept because pysyncobj numbers replicated methods by name: removing
        one would make journals written before replay the wrong methods."""
        with self.lock:
            m = self.members.get(name)
            if m is None or not m.get("alive"):
                return False
            m["load"] = load
            return True

    @replicated
    def reconcile(self, dead: list[str], revived: list[str]) -> int:
        with self.lock:
            for n in dead:
                if n in self.members:
                    self.members[n]["alive"] = False
            for n in revived:
                if n in self.members:
                    self.members[n]["alive"] = True
            self._replace()
            return self.epoch

    @replicated
    def set_manifest(self, text: str) -> int:
        with self.lock:
            parse_manifest(text)  # validated by the proposer; this cannot fail
            self.manifest_text = text
            self._replace()
            return self.epoch

    @replicated
    def put_agent_state(self, slot: str, state: Any) -> None:
        with self.lock:
            self.agent_state[slot] = state

    @replicated
    def ns_apply(self, op: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.ns_version += 1
            return namespace.apply_once(self.namespace, self.ns_recent, op)

    # (pysyncobj numbers replicated methods by their names' order: a new
    # one must sort after every existing one, or journals written before
    # it would replay the wrong methods)
    @replicated
    def voters_changed(self, gone: str, name: str, raft: str, lease: str) -> int:
        """Voter `gone` was replaced by member `name`, now a Raft node at `raft`."""
        with self.lock:
            if gone in self.members:
                self.members[gone]["raft"] = None
            if name in self.members:
                self.members[name].update(raft=raft, lease=lease or None)
            self._replace()
            return self.epoch

    def members_copy(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {k: dict(v) for k, v in self.members.items()}

    def member(self, name: str) -> tuple[dict[str, Any] | None, int, list[str]]:
        """One member (a copy), how many there are, and the slots it hosts:
        what a lease renewal needs, without copying a thousand members."""
        with self.lock:
            m = self.members.get(name)
            return (None if m is None else dict(m), len(self.members),
                    sorted(slot for slot, host in self.assign.items() if host == name))

    def ns_read(self, fn: Any, *args: Any) -> Any:
        """A consistent read of the namespace (a deep-enough copy)."""
        with self.lock:
            return copy.deepcopy(fn(self.namespace, *args))

    def _replace(self) -> None:
        manifest = parse_manifest(self.manifest_text)
        new = place(manifest.slots(), self.members, self.assign)
        if new != self.assign:
            self.assign = new
        self.epoch += 1
        self._changed()  # (membership or placement: the runtimes re-read)

    # -------------------------------------------------------------- reads
    def caught_up(self) -> bool:
        """Whether this voter knows a leader and has applied everything that
        leader told it was committed: a follower that just started or
        reconnected would otherwise answer reads with an old view (no
        members at all, right after the cluster formed)."""
        try:
            status = self.getStatus()
        except RuntimeError:
            return False
        if not status.get("has_quorum"):
            return True  # cut off from a majority: nothing more is coming; say so now
        applied, committed = status.get("last_applied"), status.get("leader_commit_idx")
        # (our leader(), not pysyncobj's: a leader deposed while it was cut
        # off has "applied everything it committed" and is still behind)
        return (self.leader(status) is not None and isinstance(applied, int)
                and isinstance(committed, int) and applied >= committed)

    def _status(self) -> dict[str, Any]:
        try:
            status: dict[str, Any] = self.getStatus()
        except RuntimeError:  # raced with the raft thread; the next call will do
            status = {}
        return status

    def leader(self, status: dict[str, Any] | None = None) -> str | None:
        """The Raft address of the leader, as far as this voter knows."""
        status = self._status() if status is None else status
        # A follower keeps naming the leader it last heard of, however long
        # ago: cut off from a majority it has none (and could elect none),
        # and one whose connection closed is gone (an election is coming).
        leader = self._getLeader() if status.get("has_quorum") else None
        if leader is not None and leader != self.selfNode and not self.isNodeConnected(leader):
            return None
        if leader is not None and leader == self.selfNode and not self._majority_answers():
            return None
        return None if leader is None else str(leader)

    def _majority_answers(self) -> bool:
        """Has a majority of the voters (this one included) answered this
        leader's appends lately?  pysyncobj keeps a leader that is cut off
        from the others (or frozen) a leader for leaderFallbackTimeout
        (30 s), and its connections count for has_quorum as soon as they
        are back: after a partition heals, the old leader calls itself
        leader, with a log that misses what the majority committed
        meanwhile, until the new leader's first append reaches it (the
        voters ignore its own appends, of an older term, without a word).
        Its view, read as the leader's, would send readers to agents it
        still thinks it hosts, answering from that stale log."""
        from pysyncobj.monotonic import monotonic  # (pysyncobj's clock: CLOCK_MONOTONIC_RAW)

        for _ in range(3):
            try:
                others = list(self._SyncObj__otherNodes)
                heard = dict(self._SyncObj__lastResponseTime)
                break
            except (RuntimeError, AttributeError):  # changed under us by the Raft thread
                continue
        else:
            return True  # cannot tell: as pysyncobj says
        since = monotonic() - self._leads_within
        answering = 1 + sum(1 for node in others if heard.get(node, since) > since)
        return answering > (len(others) + 1) / 2

    def partners(self, status: dict[str, Any] | None = None) -> dict[str, bool]:
        """The other voters (Raft addresses): connected to this one or not."""
        status = self._status() if status is None else status
        prefix = "partner_node_status_server_"
        return {k[len(prefix):]: v == 2 for k, v in status.items() if k.startswith(prefix)}

    def snapshot(self) -> dict[str, Any]:
        status = self._status()
        leader = self.leader(status)
        with self.lock:
            members = {k: dict(v) for k, v in self.members.items()}
            assign = dict(self.assign)
            epoch = self.epoch
            agent_state = dict(self.agent_state)
            ns_version = self.ns_version
        return {
            "members": members,
            "assign": assign,
            "epoch": epoch,
            "agent_state": agent_state,
            "ns_version": ns_version,
            "leader": leader,
            "raft": {"term": status.get("raft_term"), "commit": status.get("commit_idx"),
                     "self": str(self.selfNode), "has_quorum": status.get("has_quorum"),
                     # the other voters this one is connected to right now
                     "partners": self.partners(status)},
        }

    def manifest(self) -> Manifest:
        return parse_manifest(self.manifest_text)


def _env_int(name: str, default: int) -> int:
    try:
        return max(2, int(os.environ.get(name, default)))
    except ValueError:
        return default
