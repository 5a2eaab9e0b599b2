"""Replacing a voter that is gone for good: a live member takes its place.

A cluster of 3 voters survives the loss of one; a second loss would
leave it without a majority, however many members still run.  So when
a voter has been unreachable for REPLACE_AFTER seconds, the Raft leader's
runtime promotes a member:

1. it asks the member (`raft.promote`) to start a Raft node, told the
   remaining voters and the manifest; the member answers with its Raft
   address (the others refuse its connections until step 3);
2. it removes the gone voter from the Raft configuration, then
3. adds the member (pysyncobj changes one voter at a time; removing
   first never needs a voter that is not running yet: with one of three
   gone, the two left are a majority of either configuration), and
4. commits `voters_changed`, so the boot record, placement and
   liveness see the new voter set.

Each step is skipped when already done, so a new leader finishing a
replacement its predecessor began repeats nothing.  The member chosen is
the same every time (by name) while it qualifies.

`VoterWatch` and `successor` are plain functions of what the leader
sees; `replace` drives the steps.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onesh.kernel.commits import submit
from onesh.net.rpc import endpoint_host

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime

log = logging.getLogger("onesh.runtime")

# Long enough that a voter restarting (a device rebooting) keeps its
# place; short enough that a second failure is unlikely meanwhile.
REPLACE_AFTER = 30.0
PROMOTE_TIMEOUT = 10.0  # seconds for the member to start its Raft node
STEP_TIMEOUT = 5.0  # seconds for each configuration change to commit


def replace_after() -> float:
    """REPLACE_AFTER, or $ONESH_REPLACE_VOTER_AFTER (seconds) when set."""
    try:
        return max(1.0, float(os.environ.get("ONESH_REPLACE_VOTER_AFTER", REPLACE_AFTER)))
    except ValueError:
        return REPLACE_AFTER


@dataclass
class VoterWatch:
    """Since when each other voter (by Raft address) has been disconnected,
    as the leader sees it.  A new leader starts from nothing: it waits the
    whole time again before replacing anyone."""

    since: dict[str, float] = field(default_factory=dict)

    def seen(self, connected: Mapping[str, bool], now: float) -> None:
        for address, up in connected.items():
            if up:
                self.since.pop(address, None)
            else:
                self.since.setdefault(address, now)
        for address in [a for a in self.since if a not in connected]:
            del self.since[address]  # (no longer in the configuration)

    def overdue(self, now: float, after: float) -> list[str]:
        """The voters gone for at least `after` seconds, longest gone first."""
        return [a for a, t in sorted(self.since.items(), key=lambda kv: kv[1]) if now - t >= after]

    def forget(self) -> None:
        self.since.clear()


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def successor(members: Mapping[str, Mapping[str, Any]], leader: str) -> tuple[str, str] | None:
    """The member to promote and the host its Raft node binds, or None.

    It must be alive, not a voter, and able to run one (`voter_ok`: not a
    light runtime, not one behind a NAT).  When the voters' Raft runs on
    loopback (a local cluster), only a member on the leader's machine can
    reach it: one whose RPC endpoint is on the leader's address."""
    me = members.get(leader, {})
    raft_host = str(me.get("raft") or "").rpartition(":")[0].strip("[]")
    leader_host = endpoint_host(str(me.get("endpoint") or ""))
    for name in sorted(members):
        m = members[name]
        if not m.get("alive") or m.get("raft") or not m.get("voter_ok"):
            continue
        host = endpoint_host(str(m.get("endpoint") or ""))
        if _loopback(raft_host):
            if host != leader_host:
                continue
            return name, raft_host
        if host and not host.startswith("0.") and host not in ("*", "::"):
            return name, host
    return None


async def replace(rt: Runtime, gone: str) -> bool:
    """Replace voter `gone` (a Raft address) by a member; True when done."""
    state = rt.state
    assert state is not None
    loop = asyncio.get_running_loop()
    members = state.members_copy()
    gone_name = next((n for n, m in members.items() if m.get("raft") == gone), "")
    if gone_name and members[gone_name].get("alive"):
        return False  # (liveness has not declared it dead yet)
    remaining = [a for a in state.raft_config() if a != gone]
    choice = successor(members, rt.cfg.name)
    if choice is None:
        log.info("voter %s is gone, and no member can take its place", gone_name or gone)
        return False
    name, host = choice
    log.info("voter %s is gone: promoting %s", gone_name or gone, name)
    reply = await rt.rpc.call(str(members[name]["endpoint"]), "raft.promote",
                              {"host": host, "voters": remaining, "manifest": state.manifest_text},
                              PROMOTE_TIMEOUT)
    raft, lease = str(reply.get("raft") or ""), str(reply.get("lease") or "")
    if not raft:
        return False
    if gone in state.raft_config():
        await submit(loop, state.removeNodeFromCluster, gone, timeout=STEP_TIMEOUT)
    if raft not in state.raft_config():
        await submit(loop, state.addNodeToCluster, raft, timeout=STEP_TIMEOUT)
    await submit(loop, state.voters_changed, gone_name, name, raft, lease, timeout=STEP_TIMEOUT)
    log.info("%s is a voter (Raft %s), in place of %s", name, raft, gone_name or gone)
    return True
