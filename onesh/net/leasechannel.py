"""The lease channel's asyncio driver: UDP endpoints around net.leasewire.

LeaseServer (every voter; only the leader's answers matter) opens each
renewal, checks it for replays and answers with what the handler returns.
LeaseClient (every runtime) sends a renewal and waits, briefly, for the
ack with its sequence number: no ack means "ask again elsewhere", never
an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any, cast

from onesh.aio import within
from onesh.net.leasewire import ReplayGuard, WireError, check_renew, seal, unseal

log = logging.getLogger("onesh.lease")

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class LeaseServer(asyncio.DatagramProtocol):
    def __init__(self, key: bytes, handler: Handler) -> None:
        self.key, self.handler = key, handler
        self.guard = ReplayGuard()
        self.transport: asyncio.DatagramTransport | None = None
        self.rejected = 0

    async def start(self, host: str, port: int) -> str:
        """Bind host:port (port 0, or a taken one: any free port); our address."""
        loop = asyncio.get_running_loop()
        try:
            await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        except OSError:
            await loop.create_datagram_endpoint(lambda: self, local_addr=(host, 0))
        assert self.transport is not None
        bound = self.transport.get_extra_info("sockname")
        return f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (asyncio's selector datagram transport is not declared a DatagramTransport)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            msg = unseal(self.key, data)
            bad = check_renew(msg) if msg["t"] == "renew" else "not a renewal"
            if bad:
                raise WireError(f"bad renewal ({bad})")
        except WireError as e:
            self.rejected += 1
            log.debug("lease datagram from %s dropped: %s", addr, e)
            return
        if not self.guard.fresh(msg, time.time()):
            self.rejected += 1
            return  # a replay, or too old to be true
        reply = self.handler(msg)
        if self.transport is not None:
            self.transport.sendto(seal(self.key, {"t": "ack", "seq": msg["seq"], **reply}), addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class LeaseClient(asyncio.DatagramProtocol):
    def __init__(self, key: bytes) -> None:
        self.key = key
        self.seq = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    async def start(self, family_host: str = "127.0.0.1") -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(family_host, 0))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (asyncio's selector datagram transport is not declared a DatagramTransport)
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            msg = unseal(self.key, data)
        except WireError:
            return
        seq = msg.get("seq")
        fut = self.waiting.pop(seq, None) if msg.get("t") == "ack" and isinstance(seq, int) else None
        if fut is not None and not fut.done():
            fut.set_result(msg)

    async def renew(self, address: str, body: dict[str, Any], timeout: float) -> dict[str, Any] | None:
        """Send a renewal to `address`; its ack, or None if none came in time."""
        if self.transport is None:
            return None
        seq = next(self.seq)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[seq] = fut
        try:
            self.transport.sendto(seal(self.key, {"t": "renew", "seq": seq, "at": time.time(), **body}),
                                  split_address(address))
            return await within(fut, timeout)
        except (TimeoutError, OSError):
            return None
        finally:
            self.waiting.pop(seq, None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        for fut in self.waiting.values():
            with contextlib.suppress(asyncio.InvalidStateError):
                fut.cancel()
