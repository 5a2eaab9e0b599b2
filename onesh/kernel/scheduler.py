"""The scheduler kernel agent: which runtime runs each stage of a pipeline.

Placement is a pure function (`place_stages`) so it is testable without a
cluster; the agent around it gathers the facts it needs (members, their
liveness and tags, which external commands each runtime has, how many
stages each runs) and answers `scheduler.place`.

Order of preference for a stage (docs/architecture.md, "How a pipeline's data flows"):
1. locality: a stage that reads a device runs on the device's runtime; one
   that reads a namespace file runs on a runtime holding a replica;
2. explicit pins: `@node` or `@tag=value`;
3. load: an unconstrained stage stays next to its neighbour (so the pipe
   between them is a plain OS pipe), else goes to the least busy runtime.
External commands only go where they exist; builtin agents (cat, grep, ...)
exist everywhere; a Python or Node.js program goes only to a runtime whose
membership record lists that interpreter (`interpreters`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime


class PlacementError(Exception):
    def __init__(self, msg: str, down: str = "") -> None:
        super().__init__(msg)
        self.down = down  # the runtime that is down, when that is why


@dataclass
class StageNeeds:
    """What the planner knows about one stage."""

    label: str  # the stage's text, for messages
    command: str = ""  # external command that must exist there ("" = runs anywhere)
    devices: list[tuple[str, str]] = field(default_factory=list)  # (path, owner runtime)
    files: list[tuple[str, list[str]]] = field(default_factory=list)  # (path, replica runtimes)
    pin_node: str = ""
    pin_tag: tuple[str, str] | None = None
    interpreter: str = ""  # "python3" | "node": a program run as an agent ("" = none needed)

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> StageNeeds:
        tag = d.get("pin_tag")
        return cls(label=str(d.get("label", "")), command=str(d.get("command", "")),
                   devices=[(str(p), str(o)) for p, o in d.get("devices", [])],
                   files=[(str(p), [str(r) for r in reps]) for p, reps in d.get("files", [])],
                   pin_node=str(d.get("pin_node", "")),
                   pin_tag=(str(tag[0]), str(tag[1])) if tag else None,
                   interpreter=str(d.get("interpreter", "")))

    def to_wire(self) -> dict[str, Any]:
        return {"label": self.label, "command": self.command, "devices": [list(d) for d in self.devices],
                "files": [[p, list(r)] for p, r in self.files], "pin_node": self.pin_node,
                "pin_tag": list(self.pin_tag) if self.pin_tag else None, "interpreter": self.interpreter}

    @property
    def needed(self) -> str:
        """What a runtime must have for this stage ("" = nothing)."""
        return self.command or self.interpreter


@dataclass
class RuntimeFacts:
    name: str
    alive: bool
    tags: dict[str, str]
    load: float = 0.0
    stages: int = 0
    commands: frozenset[str] | None = None  # None: unknown (assume only builtin agents)
    interpreters: dict[str, str] | None = None  # name → version; None: unknown (assume python3 only)


def place_stages(stages: list[StageNeeds], runtimes: dict[str, RuntimeFacts],
                 home: str) -> list[tuple[str, str]]:
    """(runtime, why) for every stage.  `home` is the runtime the shell is
    attached to: the tie-breaker, so unconstrained work stays close."""
    live = {n: f for n, f in runtimes.items() if f.alive}
    if not live:
        raise PlacementError("no live runtime in the cluster")

    def can_run(stage: StageNeeds, rt: str) -> bool:
        if stage.interpreter:
            have = live[rt].interpreters
            return stage.interpreter in have if have is not None else stage.interpreter == "python3"
        if not stage.command:
            return True
        cmds = live[rt].commands
        return cmds is not None and stage.command in cmds

    def need_alive(rt: str, what: str) -> None:
        if rt not in runtimes:
            raise PlacementError(f"{what}: no runtime named {rt!r}")
        if rt not in live:
            raise PlacementError(f"{what}: runtime {rt} is down", down=rt)

    result: list[tuple[str, str] | None] = [None] * len(stages)
    for k, st in enumerate(stages):
        if st.devices:
            path, owner = st.devices[0]
            need_alive(owner, path)
            for other, o2 in st.devices[1:]:
                if o2 != owner:
                    raise PlacementError(f"{st.label}: reads {path} (on {owner}) and {other} (on {o2}); "
                                         "split it into two stages")
            if st.pin_node and st.pin_node != owner:
                raise PlacementError(f"{st.label}: pinned to @{st.pin_node} but {path} is on {owner}")
            result[k] = (owner, f"reads {path}, a device on {owner}")
        elif st.files and st.files[0][1]:  # (a named pipe has no replicas: it is read anywhere)
            path, replicas = st.files[0]
            holders = [r for r in replicas if r in live]
            usable = [r for r in holders if can_run(st, r)]
            if not holders or (not usable and not st.interpreter):
                raise PlacementError(f"{path}: no live runtime holds a replica")
            if st.pin_node or not usable:
                pass  # the pin (or the interpreter) wins below: the file is then read over the network
            else:
                best = home if home in usable else min(usable, key=lambda r: (live[r].stages, live[r].load, r))
                result[k] = (best, f"reads {path}, stored on {best}")
        if result[k] is None and st.pin_node:
            # No can_run check: a pinned command that is missing there fails
            # there, with status 127 and the runtime's name in the message.
            need_alive(st.pin_node, f"@{st.pin_node}")
            result[k] = (st.pin_node, f"pinned with @{st.pin_node}")
        elif result[k] is None and st.pin_tag:
            key, val = st.pin_tag
            tagged = [n for n, f in live.items() if f.tags.get(key) == val and can_run(st, n)]
            if not tagged:
                raise PlacementError(f"@{key}={val}: no live runtime with that tag"
                                     + (f" has {st.needed}" if st.needed else ""))
            best = min(tagged, key=lambda r: (live[r].stages, live[r].load, r != home, r))
            result[k] = (best, f"pinned with @{key}={val}")

    # Unconstrained stages: next to a placed neighbour (OS pipe between
    # them), sweeping forwards then backwards; otherwise the least busy.
    def sweep(order: range) -> None:
        for k in order:
            if result[k] is not None:
                continue
            for nb in (k - 1, k + 1) if order.step > 0 else (k + 1, k - 1):
                if 0 <= nb < len(stages) and result[nb] is not None:
                    rt = result[nb][0]  # type: ignore[index]
                    if can_run(stages[k], rt):
                        result[k] = (rt, f"next to its {'input' if nb < k else 'output'} on {rt}")
                        break

    sweep(range(len(stages)))
    sweep(range(len(stages) - 1, -1, -1))
    sweep(range(len(stages)))
    # (the stages that can run only somewhere go first: the others follow them)
    for k in sorted(range(len(stages)), key=lambda k: not stages[k].needed):
        st = stages[k]
        if result[k] is None:
            cands = [n for n in live if can_run(st, n)]
            if not cands:
                if st.interpreter:
                    raise PlacementError(f"{st.label}: no live runtime has {st.interpreter} "
                                         f"(a {st.interpreter} program runs only where it is installed)")
                raise PlacementError(f"{st.command}: command not found on any live runtime")
            best = min(cands, key=lambda r: (r != home, live[r].stages, live[r].load, r))
            why = "the shell's runtime" if best == home else "least busy runtime"
            result[k] = (best, f"{why} ({best})" + (f", has {st.needed}" if st.needed else ""))
            sweep(range(len(stages)))
    return [r for r in result if r is not None]


class SchedulerAgent:
    """Answers `scheduler.place` on the runtime that hosts the scheduler."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.peers: Any = None  # RpcClients: one connection per runtime, kept between placements

    async def close(self) -> None:
        if self.peers is not None:
            await self.peers.close()

    async def handle(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        from onesh.net.rpc import HandlerError

        if not any(a.name == "scheduler" for a in self.runtime.agents.values()):
            raise HandlerError(f"scheduler agent not hosted on {self.runtime.cfg.name}")
        if op != "place":
            raise HandlerError(f"scheduler: unknown operation {op!r}")
        raw = body.get("stages")
        if not isinstance(raw, list) or not raw:
            raise HandlerError("scheduler.place: stages must be a non-empty list")
        stages = [StageNeeds.from_wire(d) for d in raw if isinstance(d, dict)]
        home = str(body.get("home", ""))
        # Every stage pinned (@r2) or bound to a device decides itself: no
        # runtime need be asked what it has or runs.
        fixed = all(s.pin_node or s.devices for s in stages)
        facts = await self.facts({s.command for s in stages if s.command}, asking=not fixed)
        try:
            placed = place_stages(stages, facts, home)
        except PlacementError as e:
            # ("down": the shell may have heard it is up again before us)
            return {"error": str(e), "down": e.down} if e.down else {"error": str(e)}
        return {"placement": [list(p) for p in placed], "by": self.runtime.cfg.name}

    async def facts(self, commands: set[str], *, asking: bool = True) -> dict[str, RuntimeFacts]:
        """What each runtime is and has; `asking`: also which of `commands`
        each live one has, and how many stages it runs (stage.which)."""
        snap = await self.runtime.snapshot()
        out: dict[str, RuntimeFacts] = {}
        for name, m in snap["members"].items():
            have = m.get("interpreters")
            out[name] = RuntimeFacts(name, bool(m.get("alive")), dict(m.get("tags", {})), float(m.get("load", 0.0)),
                                     interpreters=dict(have) if isinstance(have, dict) else None)
        if not asking:
            return out
        live = [n for n, f in out.items() if f.alive]
        from onesh.net.rpc import RpcClients, RpcError, RpcTimeout

        if self.peers is None:
            # (every placement asks every live runtime: a Curve handshake
            # each time was most of a placement's cost)
            self.peers = RpcClients(self.runtime.ctx, self.runtime.keys, drop_on=RpcTimeout)
        for endpoint in set(self.peers.clients) - {snap["members"][n].get("endpoint", "") for n in live}:
            await self.peers.forget(endpoint)  # (a runtime that left or died)

        async def ask(name: str) -> None:
            endpoint = snap["members"][name].get("endpoint", "")
            try:
                reply = await self.peers.call(endpoint, "stage.which", {"names": sorted(commands)}, 1.0)
            except RpcError:
                return
            found = frozenset(str(c) for c in reply.get("found", []))
            out[name].commands = found
            out[name].stages = int(reply.get("stages", 0))

        await asyncio.gather(*(ask(n) for n in live))
        return out


def install(runtime: Runtime) -> None:
    agent = SchedulerAgent(runtime)
    runtime.handlers["scheduler"] = agent.handle
    runtime.on_shutdown.append(agent.close)
