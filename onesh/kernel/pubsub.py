"""The pubsub kernel agent: the directory of named pipes (topics).

A named pipe (`mkfifo /pipes/x`) is a topic.  Its readers are subscribers
and its writers publishers; the directory only introduces them, and the
data flows over a direct network pipe from each publisher to each
subscriber (never through this agent).  Because the pipe layer is
point-to-point, a subscriber binds one receiver per publisher it sees and
*links* it here; the publisher learns the link and connects.  That gives
`tee`-like fan-out (every reader gets every byte written while it is
attached) and lets several shells write into and read from one pipe.

Entries are soft state with a lease: a reader or writer that stops
watching (its process died, its runtime vanished) is forgotten after
`LEASE` seconds, and after a failover of this agent the live ends
re-register through their watch loop.  So nothing here needs consensus.

`TopicDirectory` is the sans-IO core; `PubSubAgent` answers
`pubsub.<op>` and turns `watch` into a long poll.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onesh.aio import within
from onesh.kernel.agents import hosts, text_field
from onesh.net.rpc import HandlerError

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime

AGENT = "pubsub"
HOST_KEY_MAX = 128
LEASE = 6.0  # seconds an end stays registered without a watch
WATCH_MAX = 5.0  # longest long poll (must stay well under LEASE)
ID_MAX = 200


@dataclass
class End:
    runtime: str
    lease: float
    done: bool = False  # a publisher that closed its stream (sent EOF to its links)
    host: str | None = None  # its samehost.host_key(): a reader on the same host links by Unix socket


@dataclass
class Topic:
    pubs: dict[str, End] = field(default_factory=dict)
    subs: dict[str, End] = field(default_factory=dict)
    links: dict[tuple[str, str], str] = field(default_factory=dict)  # (pub, sub) -> endpoint

    def empty(self) -> bool:
        return not self.pubs and not self.subs


class TopicDirectory:
    """Who publishes and subscribes to which topic, and their links."""

    def __init__(self, lease: float = LEASE) -> None:
        self.topics: dict[str, Topic] = {}
        self.lease = lease
        self.version = 0

    def _bump(self) -> None:
        self.version += 1

    def expire(self, now: float) -> bool:
        """Forget ends whose lease ran out; True if anything changed."""
        changed = False
        for name in list(self.topics):
            t = self.topics[name]
            for ends in (t.pubs, t.subs):
                for eid in [e for e, end in ends.items() if end.lease < now]:
                    del ends[eid]
                    changed = True
            for key in [k for k in t.links if k[0] not in t.pubs or k[1] not in t.subs]:
                del t.links[key]
                changed = True
            if t.empty():
                del self.topics[name]
        if changed:
            self._bump()
        return changed

    def join(self, topic: str, role: str, eid: str, runtime: str, now: float, host: str | None = None) -> None:
        t = self.topics.setdefault(topic, Topic())
        ends = t.pubs if role == "pub" else t.subs
        end = ends.get(eid)
        if end is None:
            ends[eid] = End(runtime, now + self.lease, host=host)
            self._bump()
        else:
            end.lease = now + self.lease

    def leave(self, topic: str, role: str, eid: str) -> None:
        t = self.topics.get(topic)
        if t is None:
            return
        ends = t.pubs if role == "pub" else t.subs
        if ends.pop(eid, None) is not None:
            for key in [k for k in t.links if k[0 if role == "pub" else 1] == eid]:
                del t.links[key]
            if t.empty():
                del self.topics[topic]
            self._bump()

    def finish(self, topic: str, pub: str) -> None:
        """A publisher sent its end of stream (it leaves once the readers acked)."""
        end = self.topics.get(topic, Topic()).pubs.get(pub)
        if end is not None and not end.done:
            end.done = True
            self._bump()

    def link(self, topic: str, pub: str, sub: str, endpoint: str) -> None:
        t = self.topics.get(topic)
        if t is None or pub not in t.pubs or sub not in t.subs:
            raise KeyError(f"{topic}: no such publisher or subscriber")
        if t.links.get((pub, sub)) != endpoint:
            t.links[(pub, sub)] = endpoint
            self._bump()

    def view(self, topic: str, role: str, eid: str) -> dict[str, Any]:
        """What one end needs: a subscriber sees the publishers (and which
        finished), a publisher sees its links and how many readers exist."""
        t = self.topics.get(topic, Topic())
        out: dict[str, Any] = {"version": self.version, "known": eid in (t.pubs if role == "pub" else t.subs)}
        if role == "sub":
            out["pubs"] = {p: end.done for p, end in t.pubs.items()}
            out["hosts"] = {p: end.host for p, end in t.pubs.items() if end.host}
        else:
            out["links"] = {s: ep for (p, s), ep in t.links.items() if p == eid}
            out["subs"] = sorted(t.subs)
        return out

    def listing(self) -> list[dict[str, Any]]:
        return [{"topic": name, "publishers": len(t.pubs), "subscribers": len(t.subs),
                 "runtimes": sorted({e.runtime for e in (*t.pubs.values(), *t.subs.values())})}
                for name, t in sorted(self.topics.items())]


class PubSubAgent:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.directory = TopicDirectory()
        self.changed = asyncio.Condition()

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    async def sweep_loop(self) -> None:
        """Expire dead ends, so a reader waiting for writers to finish and a
        writer waiting for readers both learn about a crash."""
        while True:
            await asyncio.sleep(1.0)
            if self.directory.expire(time.monotonic()):
                await self._notify()

    async def handle(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        if not hosts(self.runtime, AGENT):
            raise HandlerError(f"pubsub agent not hosted on {self.runtime.cfg.name}")
        d = self.directory
        now = time.monotonic()
        if op == "topics":
            d.expire(now)
            return {"topics": d.listing()}
        topic = text_field(body, "topic", AGENT)
        if op == "link":
            try:
                d.link(topic, text_field(body, "pub", AGENT, ID_MAX), text_field(body, "sub", AGENT, ID_MAX),
                       text_field(body, "endpoint", AGENT))
            except KeyError as e:
                raise HandlerError(str(e.args[0])) from None
            await self._notify()
            return {"ok": True}
        role = body.get("role")
        if role not in ("pub", "sub"):
            raise HandlerError("pubsub: role must be 'pub' or 'sub'")
        eid = text_field(body, "id", AGENT, ID_MAX)
        if op == "leave":
            d.leave(topic, role, eid)
            await self._notify()
            return {"ok": True}
        if op == "finish":
            d.finish(topic, eid)
            await self._notify()
            return {"ok": True}
        if op == "watch":
            # Watching is also the lease renewal (and re-registration after
            # a failover of this agent).
            host = body.get("host")
            d.join(topic, role, eid, str(body.get("runtime", "?"))[:ID_MAX], now,
                   host[:HOST_KEY_MAX] if isinstance(host, str) else None)
            seen = body.get("version")
            timeout = min(float(body.get("timeout", 0) or 0), WATCH_MAX)
            if isinstance(seen, int) and seen == d.version and timeout > 0:
                async with self.changed:
                    try:
                        await within(self.changed.wait_for(lambda: d.version != seen), timeout)
                    except TimeoutError:
                        pass
            return d.view(topic, role, eid)
        raise HandlerError(f"pubsub: unknown operation {op!r}")


def install(runtime: Runtime) -> None:
    agent = PubSubAgent(runtime)
    runtime.handlers[AGENT] = agent.handle
    runtime.loops.append(agent.sweep_loop)
