"""Reverse connectivity: the RPC relay for a runtime the cluster cannot dial.

A device behind NAT or a firewall (`onesh runtime --dial-out`) can open
connections but not accept them.  It asks a runtime it can reach
(`relay.open`) for a relay, which binds two sockets on that runtime's
address:

    front  ROUTER, Curve server  the device's advertised endpoint: every
                                 cluster client calls the device here
    back   DEALER, Curve client  the device's RPC server (a ROUTER, Curve
                                 server) *connects* to it, outbound

and forwards whole messages between them, unchanged:

    client ─[req]→ front: [client id, req] → back → device: [relay id, client id, req]
    device: [relay id, client id, rep] → back: [client id, rep] → front ─[rep]→ client

Nothing is decoded here (the device's server checks every request, as it
does for direct ones), so the relay adds no schema of its own.  Both
links are CurveZMQ with the cluster keys: the front admits only the
cluster's client key (the process's ZAP handler), and on the back link
the device is the Curve server, so the relay checks the device's server
key and the device's ZAP handler checks ours.

Only control RPCs go through a relay; pipes stay direct (the reachable end
binds, the dial-out end connects: engine/distributed.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import zmq
import zmq.asyncio

from onesh.net.keys import ClusterKeys, secure_client, secure_server
from onesh.net.messages import MAX_MESSAGE

log = logging.getLogger("onesh.relay")

# Requests waiting for a device that is not connected (or slow): beyond
# this they are dropped and their callers time out, as with any peer that
# does not answer.  Never a blocking send: one absent device must not stall
# the relay's loop.
QUEUE = 1000


class Relay:
    """The two sockets of one dial-out device and the task that owns both."""

    def __init__(self, ctx: zmq.asyncio.Context, keys: ClusterKeys, host: str) -> None:
        self.ctx, self.keys, self.host = ctx, keys, host
        self.front_endpoint = ""
        self.back_endpoint = ""
        self.forwarded = 0
        self.dropped = 0
        self._front: zmq.asyncio.Socket | None = None
        self._back: zmq.asyncio.Socket | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> tuple[str, str]:
        from onesh.net.rpc import keep_alive

        host = f"[{self.host}]" if ":" in self.host else self.host
        front = self.ctx.socket(zmq.ROUTER)
        back = self.ctx.socket(zmq.DEALER)
        for sock in (front, back):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE + 4096)
            sock.setsockopt(zmq.SNDHWM, QUEUE)
        secure_server(front, self.keys)
        secure_client(back, self.keys)
        keep_alive(back)
        try:
            front_port = front.bind_to_random_port(f"tcp://{host}")
            back_port = back.bind_to_random_port(f"tcp://{host}")
        except zmq.ZMQError:
            front.close(linger=0)
            back.close(linger=0)
            raise
        self._front, self._back = front, back
        self.front_endpoint = f"tcp://{host}:{front_port}"
        self.back_endpoint = f"tcp://{host}:{back_port}"
        self._task = asyncio.create_task(self._forward(front, back))
        return self.front_endpoint, self.back_endpoint

    async def _forward(self, front: zmq.asyncio.Socket, back: zmq.asyncio.Socket) -> None:
        recv = {asyncio.ensure_future(front.recv_multipart()): front,
                asyncio.ensure_future(back.recv_multipart()): back}
        try:
            while True:
                done, _ = await asyncio.wait(recv, return_when=asyncio.FIRST_COMPLETED)
                for fut in done:
                    src = recv.pop(fut)
                    dst = back if src is front else front
                    try:
                        # (a ROUTER drops a reply to a client that left: fine)
                        await dst.send_multipart(fut.result(), flags=zmq.NOBLOCK)
                        self.forwarded += 1
                    except zmq.Again:
                        self.dropped += 1
                    recv[asyncio.ensure_future(src.recv_multipart())] = src
        finally:
            for fut in recv:
                fut.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await fut

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sock in (self._front, self._back):
            if sock is not None:
                sock.close(linger=0)
        self._front = self._back = None
