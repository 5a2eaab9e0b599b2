"""Noticing that a runtime running part of a distributed job is gone.

Two signs, whichever comes first: membership declares the runtime dead
(or shows it restarted: another pid or start time), or a `stage.wait` on
it goes unanswered.  Either is then confirmed by asking the runtime itself
(`runtime.info`): a runtime that answers as the same incarnation is only
slow (a loaded machine, a liveness blip) and its stages are still running,
so the job goes on.  A confirmed loss is final for the job: the shell ends
it (Job.give_up), and the stages that runtime may still run stop on their
own when no shell asks about them any more (runtime.stages.LEASE).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, Protocol

WATCH_EVERY = 0.5  # seconds between membership checks while a job runs
CONFIRM_TIMEOUT = 0.3  # a live runtime answers runtime.info well within this


class _Caller(Protocol):
    async def call(self, endpoint: str, method: str, body: dict[str, Any] | None = None,
                   timeout: float = 2.0) -> dict[str, Any]: ...

    async def status(self) -> dict[str, Any]: ...


def identity(member: Mapping[str, Any]) -> tuple[Any, Any]:
    """What tells one run of a runtime from the next."""
    return member.get("pid"), member.get("started")


class RuntimeWatch:
    def __init__(self, sc: _Caller, members: Mapping[str, Mapping[str, Any]], runtimes: set[str]) -> None:
        self.sc = sc
        self.known = {rt: identity(members.get(rt, {})) for rt in runtimes}
        self.endpoints = {rt: str(members.get(rt, {}).get("endpoint", "")) for rt in runtimes}
        self.lost: dict[str, str] = {}  # runtime → why
        self.changed = asyncio.Event()

    def add(self, runtime: str, member: Mapping[str, Any]) -> None:
        """Watch one more runtime (a lost stage's successor runs there)."""
        if runtime not in self.known:
            self.known[runtime] = identity(member)
            self.endpoints[runtime] = str(member.get("endpoint", ""))

    def declare(self, runtime: str, why: str) -> None:
        if runtime not in self.lost:
            self.lost[runtime] = why
            self.changed.set()

    async def confirm(self, runtime: str, why: str) -> bool:
        """Is `runtime` really gone (`why` is the sign seen)?  Declares it lost if so."""
        from onesh.net.rpc import RpcError

        if runtime in self.lost:
            return True
        try:
            info = await self.sc.call(self.endpoints[runtime], "runtime.info", {}, CONFIRM_TIMEOUT)
        except RpcError:
            self.declare(runtime, why)
            return True
        if identity(info) != self.known[runtime]:
            self.declare(runtime, "it restarted, without the job's stages")
            return True
        return False

    async def membership_loop(self) -> None:
        """Watch membership for the job's runtimes (until cancelled)."""
        from onesh.engine.planner import PlanError

        while True:
            await asyncio.sleep(WATCH_EVERY)
            try:
                snap = await self.sc.status()
            except PlanError:
                continue  # no quorum to ask: stage.wait still notices a silent runtime
            for rt, known in self.known.items():
                if rt in self.lost:
                    continue
                m = snap["members"].get(rt)
                if m is None:
                    why = "it left the cluster"
                elif not m.get("alive"):
                    why = "the cluster declared it dead"
                elif identity(m) != known:
                    why = "it restarted, without the job's stages"
                else:
                    continue
                await self.confirm(rt, why)
