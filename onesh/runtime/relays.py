"""Relays for dial-out runtimes: `relay.*` requests (net/relay.py says how
one works).

    relay.open   {name} → {front, back}: the relay of runtime `name`
                 (the same one again while it exists: a device that
                 reconnects, or asks again to check, keeps its endpoint)
    relay.close  {name}: the device leaves

A runtime that dials out itself relays nobody: the cluster cannot reach it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from onesh.net.relay import Relay
from onesh.net.rpc import HandlerError

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime

log = logging.getLogger("onesh.relays")

MAX_RELAYS = 256  # dial-out devices one runtime relays for


class Relays:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.relays: dict[str, Relay] = {}

    async def handle(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name or len(name) > 128:
            raise HandlerError(f"relay.{op}: name must be a runtime name")
        if op == "open":
            return self.open(name)
        if op == "close":
            relay = self.relays.pop(name, None)
            if relay is not None:
                await relay.close()
                log.info("closed the relay of %s", name)
            return {"closed": relay is not None}
        raise HandlerError(f"unknown method 'relay.{op}'")

    def open(self, name: str) -> dict[str, Any]:
        from onesh.net.rpc import endpoint_host

        if self.runtime.cfg.dial_out:
            raise HandlerError(f"{self.runtime.cfg.name} dials out itself: it cannot relay")
        relay = self.relays.get(name)
        if relay is None:
            if len(self.relays) >= MAX_RELAYS:
                raise HandlerError(f"{self.runtime.cfg.name} already relays for {MAX_RELAYS} runtimes")
            relay = Relay(self.runtime.ctx, self.runtime.keys, endpoint_host(self.runtime.endpoint))
            relay.start()
            self.relays[name] = relay
            log.info("relaying for %s at %s (it connects to %s)", name, relay.front_endpoint,
                     relay.back_endpoint)
        return {"front": relay.front_endpoint, "back": relay.back_endpoint, "relay": self.runtime.cfg.name}

    async def close(self) -> None:
        relays, self.relays = self.relays, {}
        for relay in relays.values():
            await relay.close()


def install(runtime: Runtime) -> None:
    relays = Relays(runtime)
    runtime.handlers["relay"] = relays.handle
    runtime.on_shutdown.append(relays.close)
