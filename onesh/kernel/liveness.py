"""Liveness without the Raft log: leases held by the leader, in memory.

Only *changes* are committed (a runtime declared dead; joins and leaves
are committed by the runtimes themselves), so an idle cluster writes
nothing to its log whatever its size.  Two signs, both kept by the Raft
leader's runtime:

- members (non-voters) renew a lease directly with the leader every
  RENEW_EVERY seconds (longer in a large cluster: renew_period); one not
  renewed for LEASE_RENEWALS periods is dead;
- voters are watched through Raft's own connections: one the leader has
  been disconnected from for VOTER_GRACE seconds is dead (a killed
  process closes its sockets at once; a frozen one is dropped by the
  connection timeout).  Voters renew too, for their load and lease age.

A runtime declared dead comes back only by joining again (committed): a
renewal from it is answered "rejoin".  A new leader knows no leases: it
gives every member a full lease from the moment it took over.

This module is sans-IO: the runtime feeds it renewals, the voters'
connection states and the time, and commits what `verdict` returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RENEW_EVERY = 0.5  # seconds between a member's renewals (small clusters)
LEASE_RENEWALS = 3  # a lease lasts this many renewal periods
VOTER_GRACE = 0.2
# The leader answers at most about this many renewals a second: a large
# cluster renews less often (and a death takes longer to be noticed).
RENEWALS_PER_SECOND = 400


def renew_period(members: int) -> float:
    """How often each member renews, for a cluster of `members`."""
    return max(RENEW_EVERY, members / RENEWALS_PER_SECOND)


@dataclass
class Lease:
    renewed: float  # monotonic time of the last renewal (or of the grace given)
    load: float | None = None
    stages: tuple[float, float] | None = None  # CPUs its stages use, of how many it offers (runtime/cpuload.py)


@dataclass
class Leases:
    voter_grace: float = VOTER_GRACE
    leases: dict[str, Lease] = field(default_factory=dict)
    cut_off: dict[str, float] = field(default_factory=dict)  # voter → since when disconnected

    def take_over(self, members: Mapping[str, Mapping[str, Any]], now: float) -> None:
        """This runtime just became leader: everyone gets a full lease from now."""
        self.leases = {name: Lease(now) for name in members}
        self.cut_off = {}

    def renew(self, name: str, member: Mapping[str, Any] | None, incarnation: tuple[Any, Any], load: Any,
              now: float, stages: Any = None) -> bool:
        """A renewal from `name` (its process and start time); False when it
        must join again: unknown, declared dead, or a new run of an old name."""
        if member is None or not member.get("alive") or (member.get("pid"), member.get("started")) != incarnation:
            return False
        cpu = None
        if isinstance(stages, list | tuple) and len(stages) == 2 and all(
                isinstance(x, int | float) and not isinstance(x, bool) and x >= 0 for x in stages):
            cpu = (float(stages[0]), float(stages[1]))
        self.leases[name] = Lease(now, float(load) if isinstance(load, int | float) else None, cpu)
        return True

    def paused(self, seconds: float) -> None:
        """The leader itself did not run for `seconds` (a loaded or frozen
        machine): renewals may sit unread in its socket, so nobody's lease
        ran out meanwhile.  Every lease and cut-off moves on by that much."""
        for lease in self.leases.values():
            lease.renewed += seconds
        self.cut_off = {n: t + seconds for n, t in self.cut_off.items()}

    def voters_seen(self, connected: Mapping[str, bool], now: float) -> None:
        """Raft's view of the other voters (by member name): connected or not."""
        for name, up in connected.items():
            if up:
                self.cut_off.pop(name, None)
            else:
                self.cut_off.setdefault(name, now)

    def verdict(self, members: Mapping[str, Mapping[str, Any]], leader: str, now: float) -> list[str]:
        """The live members to declare dead now."""
        lease_for = LEASE_RENEWALS * renew_period(len(members))
        # A runtime that left or was declared dead has no lease: when it
        # joins again, it starts with a whole one (not the old, run-out one).
        for name in [n for n in self.leases if not members.get(n, {}).get("alive")]:
            del self.leases[name]
        dead = []
        for name, m in members.items():
            if not m.get("alive") or name == leader:
                continue
            if m.get("raft"):
                since = self.cut_off.get(name)
                gone = since is not None and now - since >= self.voter_grace
            else:
                lease = self.leases.setdefault(name, Lease(now))  # (joined since we took over)
                gone = now - lease.renewed >= lease_for
            if gone:
                dead.append(name)
        return sorted(dead)

    def overlay(self, members: dict[str, dict[str, Any]], now: float) -> None:
        """Put what only the leader knows into a status view: each runtime's
        lease age (seconds since it was last heard of) and its load."""
        for name, m in members.items():
            lease = self.leases.get(name)
            if lease is not None:
                m["lease_age"] = round(now - lease.renewed, 3)
                if lease.load is not None:
                    m["load"] = lease.load
                if lease.stages is not None:
                    m["stage_cpu"], m["cpus"] = lease.stages
            if name in self.cut_off:
                m["cut_off"] = round(now - self.cut_off[name], 3)
