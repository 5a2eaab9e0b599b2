"""Request/response over ZeroMQ with CurveZMQ: a thin asyncio driver around
the sans-IO message codec.

Each socket has exactly one owning task that both receives and sends
(replies and requests are queued to it), so no two coroutines ever touch
a socket.  Sockets close with linger 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import zmq
import zmq.asyncio

from onesh.aio import within
from onesh.net.keys import ClusterKeys, secure_client, secure_server
from onesh.net.messages import Correlator, Message, ProtocolError, decode, encode

log = logging.getLogger("onesh.rpc")

Handler = Callable[[str, dict[str, Any], bytes], Awaitable[dict[str, Any]]]


class RpcError(Exception):
    """The server answered with an error."""


class RpcTimeout(RpcError):
    """No answer in time (peer down, unreachable, or not in the cluster)."""


class HandlerError(Exception):
    """Raised by handlers for an expected failure: its text goes back to the caller."""


async def _owner_loop(sock: zmq.asyncio.Socket, outbox: asyncio.Queue[list[bytes]],
                      on_frames: Callable[[list[bytes]], None]) -> None:
    recv: asyncio.Future[list[bytes]] = asyncio.ensure_future(sock.recv_multipart())
    out: asyncio.Future[list[bytes]] = asyncio.ensure_future(outbox.get())
    try:
        while True:
            done, _ = await asyncio.wait({recv, out}, return_when=asyncio.FIRST_COMPLETED)
            if recv in done:
                on_frames(recv.result())
                recv = asyncio.ensure_future(sock.recv_multipart())
            if out in done:
                await sock.send_multipart(out.result())
                out = asyncio.ensure_future(outbox.get())
    finally:
        recv.cancel()
        out.cancel()
        for fut in (recv, out):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await fut


# A dial-out runtime's one connection to its relay (net/relay.py) carries
# every request the cluster makes to it: zmq heartbeats keep a NAT's or a
# firewall's state for it alive, and notice a dead peer in seconds (zmq
# then reconnects by itself) rather than at TCP's hours.
HEARTBEAT_IVL_MS = 5_000
HEARTBEAT_TIMEOUT_MS = 15_000


def keep_alive(sock: zmq.asyncio.Socket) -> None:
    sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)


class RpcServer:
    """Answers requests on its ROUTER socket.  A request arrives either
    straight from a client ([identity, request]) or through a relay that
    this server dialled out to (`connect`: [relay, client identity,
    request]); the reply goes back along the same route."""

    def __init__(self, ctx: zmq.asyncio.Context, bind: str, keys: ClusterKeys, handler: Handler, *,
                 insecure_plaintext: bool = False, keep_alive: bool = False) -> None:
        # insecure_plaintext exists only so benchmarks/net_rpc.py can measure
        # what Curve costs; nothing in onesh proper ever sets it.
        self.insecure_plaintext = insecure_plaintext
        self.ctx = ctx
        self.bind = bind
        self.keys = keys
        self.handler = handler
        self.keep_alive = keep_alive
        self.endpoint = ""
        self.rejected = 0
        # bound the handler tasks a flood of requests can create; beyond it
        # callers get a prompt "busy" error instead of the server growing
        self.max_in_flight = 1024
        self._outbox: asyncio.Queue[list[bytes]] = asyncio.Queue(maxsize=10000)
        self._tasks: set[asyncio.Task[None]] = set()
        self._owner: asyncio.Task[None] | None = None
        self._sock: zmq.asyncio.Socket | None = None

    async def start(self) -> str:
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 2 << 20)
        if not self.insecure_plaintext:
            secure_server(sock, self.keys)
        if self.keep_alive:
            keep_alive(sock)
        if self.bind.endswith(":0"):
            port = sock.bind_to_random_port(self.bind[: self.bind.rindex(":")])
            self.endpoint = f"{self.bind[: self.bind.rindex(':')]}:{port}"
        else:
            sock.bind(self.bind)
            self.endpoint = self.bind
        self._sock = sock
        self._owner = asyncio.create_task(_owner_loop(sock, self._outbox, self._on_frames))
        return self.endpoint

    def connect(self, endpoint: str) -> None:
        """Also take requests from a relay we dial (reverse connectivity:
        the cluster cannot reach our own address).  zmq keeps the
        connection up, reconnecting as needed; the relay is a Curve client
        of ours, checked by our ZAP handler like any other."""
        assert self._sock is not None, "start() first"
        self._sock.connect(endpoint)

    def disconnect(self, endpoint: str) -> None:
        if self._sock is not None:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disconnect(endpoint)

    def _reply(self, route: list[bytes], msg: Message) -> None:
        try:
            self._outbox.put_nowait([*route, encode(msg)])
        except ProtocolError as e:
            self._outbox.put_nowait([*route, encode(Message("err", msg.id, msg.method, {"error": e.reason}))])
        except asyncio.QueueFull:
            log.warning("reply dropped: outbox full")

    def _on_frames(self, frames: list[bytes]) -> None:
        if not 2 <= len(frames) <= 3:
            self.rejected += 1
            log.warning("rejected message: %d frames", len(frames))
            return
        ident, data = frames[:-1], frames[-1]
        try:
            msg = decode(data)
        except ProtocolError as e:
            self.rejected += 1
            log.warning("rejected message: %s", e.reason)
            if e.msg_id is not None:
                self._reply(ident, Message("err", e.msg_id, "", {"error": f"rejected: {e.reason}"}))
            return
        if msg.kind != "req":
            self.rejected += 1
            log.warning("rejected message: unexpected kind %s", msg.kind)
            return
        if len(self._tasks) >= self.max_in_flight:
            self.rejected += 1
            self._reply(ident, Message("err", msg.id, msg.method, {"error": "server busy"}))
            return
        task = asyncio.create_task(self._handle(ident, msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, ident: list[bytes], msg: Message) -> None:
        try:
            result = await self.handler(msg.method, msg.body, ident[-1])
            self._reply(ident, Message("rep", msg.id, msg.method, result))
        except HandlerError as e:
            self._reply(ident, Message("err", msg.id, msg.method, {"error": str(e)}))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.exception("handler for %s failed", msg.method)
            self._reply(ident, Message("err", msg.id, msg.method, {"error": f"internal error: {type(e).__name__}"}))

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._owner is not None:
            self._owner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._owner
        if self._sock is not None:
            self._sock.close(linger=0)


class RpcClient:
    def __init__(self, ctx: zmq.asyncio.Context, endpoint: str, keys: ClusterKeys, *,
                 insecure_plaintext: bool = False) -> None:
        self.endpoint = endpoint
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 2 << 20)
        if not insecure_plaintext:  # benchmark-only switch, see RpcServer
            secure_client(sock, keys)
        sock.connect(endpoint)
        self._sock = sock
        self._corr = Correlator()
        self._waiters: dict[int, asyncio.Future[Message]] = {}
        self._outbox: asyncio.Queue[list[bytes]] = asyncio.Queue(maxsize=10000)
        self._owner = asyncio.create_task(_owner_loop(sock, self._outbox, self._on_frames))

    def _on_frames(self, frames: list[bytes]) -> None:
        if len(frames) != 1:
            return
        try:
            msg = decode(frames[0])
        except ProtocolError as e:
            log.warning("bad reply from %s: %s", self.endpoint, e.reason)
            return
        if self._corr.accept(msg):
            fut = self._waiters.pop(msg.id, None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def call(self, method: str, body: dict[str, Any] | None = None, timeout: float = 1.0) -> dict[str, Any]:
        msg = self._corr.request(method, body or {})
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiters[msg.id] = fut
        try:
            await self._outbox.put([encode(msg)])
            reply = await within(fut, timeout)
        except ProtocolError as e:  # our own request is unsendable (too large)
            raise RpcError(f"{method}: {e.reason}") from None
        except TimeoutError:
            raise RpcTimeout(f"{method}: no answer from {self.endpoint} within {timeout:g}s") from None
        finally:
            self._waiters.pop(msg.id, None)
            self._corr.forget(msg.id)
        if reply.kind == "err":
            raise RpcError(str(reply.body.get("error", "error")))
        return reply.body

    async def close(self) -> None:
        self._owner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._owner
        # A call still waiting (another task shares this client) fails as
        # a call, not with a CancelledError its task never asked for.
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(RpcError(f"connection to {self.endpoint} closed"))
        self._sock.close(linger=0)


class RpcClients:
    """Long-lived clients, one per endpoint (one Curve handshake each).  A
    client whose call fails with `drop_on` is closed and forgotten: the
    peer may be gone, and its socket must not keep queueing for it."""

    def __init__(self, ctx: zmq.asyncio.Context, keys: ClusterKeys, *,
                 drop_on: type[RpcError] = RpcError) -> None:
        self.ctx, self.keys, self.drop_on = ctx, keys, drop_on
        self.clients: dict[str, RpcClient] = {}

    async def call(self, endpoint: str, method: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        client = self.clients.get(endpoint)
        if client is None:
            client = self.clients[endpoint] = RpcClient(self.ctx, endpoint, self.keys)
        try:
            return await client.call(method, body, timeout)
        except self.drop_on:
            if self.clients.get(endpoint) is client:
                del self.clients[endpoint]
                await client.close()
            raise

    async def forget(self, endpoint: str) -> None:
        """Close the connection to `endpoint` (a peer that is gone)."""
        client = self.clients.pop(endpoint, None)
        if client is not None:
            await client.close()

    async def close(self) -> None:
        clients, self.clients = self.clients, {}
        for c in clients.values():
            await c.close()


async def call_once(ctx: zmq.asyncio.Context, endpoint: str, keys: ClusterKeys, method: str,
                    body: dict[str, Any] | None = None, timeout: float = 1.0) -> dict[str, Any]:
    client = RpcClient(ctx, endpoint, keys)
    try:
        return await client.call(method, body, timeout)
    finally:
        await client.close()


def endpoint_host(endpoint: str) -> str:
    """HOST of tcp://HOST:PORT (brackets of an IPv6 address removed)."""
    return endpoint.split("://", 1)[-1].rsplit(":", 1)[0].strip("[]")
