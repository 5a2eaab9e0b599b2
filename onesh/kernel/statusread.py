"""Reading the cluster status from several runtimes at once.

Any voter can answer `cluster.status`, but a follower only knows what the
leader has told it so far: right after a change (a runtime joined, an
agent moved) it may still show the state before it.  So a reader asks
several runtimes at once and keeps the answer furthest along the Raft log
(the highest commit index).  An answer from the leader itself is the
furthest there is and ends the wait (unless another answer is further: a
leader deposed while it was cut off, that has not heard of it yet);
otherwise the others get a short grace period after the first answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

from onesh.net.rpc import RpcError

GRACE = 0.05  # seconds to wait for a fresher answer after the first


def _commit(snap: dict[str, Any]) -> int:
    raft = snap.get("raft") or {}
    commit = raft.get("commit")
    return commit if isinstance(commit, int) else -1


def _from_leader(snap: dict[str, Any]) -> bool:
    raft = snap.get("raft") or {}
    return snap.get("leader") is not None and snap.get("leader") == raft.get("self")


async def freshest(answers: Iterable[Awaitable[dict[str, Any]]], grace: float = GRACE) -> dict[str, Any]:
    """The freshest of these status answers; RpcError if none came."""
    loop = asyncio.get_running_loop()
    pending = {asyncio.ensure_future(a) for a in answers}
    everyone = set(pending)
    best: dict[str, Any] | None = None
    last: Exception | None = None
    deadline: float | None = None
    try:
        while pending:
            wait = None if deadline is None else max(0.0, deadline - loop.time())
            done, pending = await asyncio.wait(pending, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            if not done:
                break  # the grace ran out
            for fut in done:
                try:
                    snap = fut.result()
                except RpcError as e:
                    last = e
                    continue
                if best is None or _commit(snap) > _commit(best):
                    best = snap
                if _from_leader(snap) and _commit(snap) >= _commit(best):
                    return snap  # (a "leader" behind another answer was deposed unawares)
                if deadline is None:
                    deadline = loop.time() + grace
    finally:
        for fut in pending:
            fut.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for fut in everyone:  # (answers that came with the one returned: their errors are read too)
            if fut.done() and not fut.cancelled():
                fut.exception()
    if best is None:
        raise last if last is not None else RpcError("no runtime to ask")
    return best


def leader_problem(snap: dict[str, Any]) -> str | None:
    """Why this view has no Raft leader, in words; None when it has one.
    Without a leader nothing can change and a view may be out of date.

    A view from a voter cut off from a majority says which runtime it came
    from ("no leader reachable: r3 is cut off from 2 of 3 voters (r1,
    r2)"): from there, voters that died and voters behind a partition look
    the same, and on the other side of a partition the cluster may well
    have a leader; only none can be reached from here."""
    if snap.get("leader") is not None:
        return None
    raft = snap.get("raft") or {}
    partners = raft.get("partners") or {}
    names = {str(m.get("raft")): n for n, m in (snap.get("members") or {}).items() if m.get("raft")}
    voters = len(partners) + 1
    down = sorted(names.get(addr, addr) for addr, up in partners.items() if not up)
    if not down:
        return "cluster has no leader yet (an election is under way)"
    if quorum_lost(snap):
        me = names.get(str(raft.get("self")), str(raft.get("self")))
        return f"no leader reachable: {me} is cut off from {len(down)} of {voters} voters ({', '.join(down)})"
    return f"cluster has no leader: {len(down)} of {voters} voters unreachable ({', '.join(down)})"


def quorum_lost(snap: dict[str, Any]) -> bool:
    """Does this view come from a voter cut off from a majority?  Then no
    reachable runtime has a leader (a reader keeps the freshest view it
    can get), and waiting for one will not help soon."""
    return (snap.get("raft") or {}).get("has_quorum") is False


def voter_unreachable(snap: dict[str, Any], runtime: str) -> bool:
    """Does the voter that gave this view see voter `runtime` disconnected?
    (False when it cannot tell: `runtime` is not a voter, or is itself.)"""
    addr = (snap.get("members") or {}).get(runtime, {}).get("raft")
    return (snap.get("raft") or {}).get("partners", {}).get(addr) is False
