"""Kernel agents and user services as run by a runtime.

Each of the five kernel agents (pubsub, scheduler, session, fs, storage)
is started by the runtime that consensus assigns it to and answers
`<agent>.ping` / `<agent>.status` on that runtime's endpoint.  Their real
work (namespace, storage, placement, pipes, sessions) builds on this.
Services from the init manifest are child processes, restarted when they
exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

from onesh.aio import within
from onesh.net.rpc import HandlerError


def agent_host(snap: dict[str, Any], agent: str, *, alive: bool = False) -> str | None:
    """The runtime hosting kernel agent `agent` in a cluster snapshot (its
    first slot; with `alive`, the first one on a live member)."""
    for slot, host in sorted(snap["assign"].items()):
        if slot.split("#")[0] == agent and (not alive or snap["members"].get(host, {}).get("alive")):
            return str(host)
    return None


def hosts(runtime: Any, agent: str) -> bool:
    """Does this runtime run (a replica of) kernel agent `agent` right now?"""
    return any(a.name == agent for a in runtime.agents.values())


def text_field(body: dict[str, Any], key: str, agent: str, limit: int = 4096) -> str:
    """A required, bounded string in a request body."""
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise HandlerError(f"{agent}: {key} must be a non-empty string")
    return value


class KernelAgent:
    def __init__(self, name: str, slot: str, runtime: str) -> None:
        self.name = name
        self.slot = slot
        self.runtime = runtime
        self.started = time.time()
        self.requests = 0

    def handle(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        if op == "ping":
            return {"agent": self.name, "slot": self.slot, "runtime": self.runtime,
                    "uptime": time.time() - self.started}
        if op == "status":
            return {"agent": self.name, "slot": self.slot, "runtime": self.runtime,
                    "started": self.started, "requests": self.requests}
        raise HandlerError(f"{self.name}: unknown operation {op!r}")


class Service:
    """A manifest service: a child process kept running while assigned here."""

    def __init__(self, slot: str, command: tuple[str, ...], data_dir: str,
                 on_exit: Callable[[], None] | None = None) -> None:
        self.slot = slot
        self.command = command
        self.log_path = os.path.join(data_dir, f"service-{slot.replace('#', '-')}.log")
        self.proc: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self.on_exit = on_exit  # told when the process ends (the runtime then restarts it)
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        except OSError as e:
            log.write(f"onesh: cannot start {self.command[0]}: {e.strerror}\n".encode())
            self.proc = None
        finally:
            log.close()
        if self.proc is not None and self.on_exit is not None:
            self._watch = asyncio.get_running_loop().create_task(self._tell_exit(self.proc, self.on_exit))

    @staticmethod
    async def _tell_exit(proc: asyncio.subprocess.Process, on_exit: Callable[[], None]) -> None:
        await proc.wait()
        on_exit()

    async def restart_if_exited(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            return
        if self.restarts > 5:
            return  # crash loop: leave it down, the log says why
        self.restarts += 1
        await self.start()

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
            self._watch = None
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            await within(proc.wait(), 3.0)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
