"""ZeroMQ + CurveZMQ, a transport of network pipes between hosts
(ONESH_PIPE_TRANSPORT=zmq; TLS is the default, see transport.py).

The receiver binds a ROUTER (a Curve server: the process runs the ZAP
authenticator on its Context, admitting only the cluster's client key),
the sender connects a DEALER with the cluster's client keys.  A message is
two zmq parts, the header and the body.  zmq reconnects a DEALER by
itself and loses what was queued for a peer that restarted: the pipe
protocol replays it.

A turned-round pipe (transport.listen_out, transport.dial_in) swaps only
bind and connect: the reader's ROUTER connects (still the Curve server),
the writer's DEALER binds (still the client), as zmq lets either end of
a connection bind; zmq redials for the ROUTER as it does for a DEALER.

Flow control is the protocol's credit: no high-water mark is ever
reached (they are off: a message is never dropped for one), and a part
bigger than any message is refused by zmq before it is buffered
(MAXMSGSIZE).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, cast

import zmq

from onesh.net.keys import secure_client, secure_server
from onesh.net.pipe_protocol import Data
from onesh.net.pipe_wire import BODY_MAX, HEADER_SIZE
from onesh.net.transport import Credentials, LinkCallback, ListenerCallback, Loop

log = logging.getLogger("onesh.pipes")

WIRE_SLACK = 1024  # bytes a zmq part may exceed its payload limit by on the wire
RECV_BATCH = 64  # messages a socket's handler takes before it yields a loop round


class Owner:
    """One socket and everything done with it, driven by the loop.

    The loop watches the socket's fd and calls `_on_event`, which takes
    every message that has arrived (up to RECV_BATCH per call, then it
    yields a round), hands each to `on_parts`, then calls `after_batch`
    once.  `send()` hands a message to zmq at once (non-blocking; with no
    high-water mark zmq takes it): no task, no future, no extra loop round
    per message — the latency of a line.  Only if zmq refuses (EAGAIN)
    does a message wait in `backlog` (every later one behind it, so the
    order is kept) until the socket is writable again.

    zmq's fd is edge-triggered and any send or recv may consume its wake-
    up, so after each of ours we look at the socket's EVENTS ourselves.
    Close it (close the pipe) before destroying the Context: the loop
    watches its fd until then."""

    def __init__(self, sock: zmq.Socket[Any], loop: Loop, on_parts: Callable[[list[zmq.Frame]], None],
                 after_batch: Callable[[], None] | None = None) -> None:
        self.raw = sock
        self.loop = loop
        self.on_parts = on_parts
        self.after_batch = after_batch  # called once per burst of received messages
        self.backlog: deque[list[Any]] = deque()
        self.closing = False
        self._closed = False  # the socket is closed: never touch `raw` again
        self._due = False  # _on_event is scheduled
        self._fd = cast(int, self.raw.get(zmq.FD))
        loop.add_reader(self._fd, self._on_event)
        self._wake()

    def send(self, parts: list[Any]) -> None:
        if self.closing:
            return
        if not self.backlog:
            try:
                # copy=True: a 64 KiB memcpy into zmq's message costs less
                # than pyzmq's zero-copy, whose every free wakes its gc
                # thread for the GIL (measured: +8-15% through a stage).
                self.raw.send_multipart(parts, flags=zmq.NOBLOCK, copy=True)
            except zmq.Again:
                pass
            else:
                self._recheck()
                return
        self.backlog.append(parts)
        self._recheck()

    def _recheck(self) -> None:
        events = cast(int, self.raw.get(zmq.EVENTS))
        if events & zmq.POLLIN or (self.backlog and events & zmq.POLLOUT):
            self._wake()

    def _wake(self) -> None:
        if not self._due:
            self._due = True
            self.loop.call_soon(self._on_event)

    def _on_event(self) -> None:
        self._due = False
        if self._closed:
            return
        got = 0
        while True:
            events = cast(int, self.raw.get(zmq.EVENTS))
            while self.backlog and events & zmq.POLLOUT:
                try:
                    self.raw.send_multipart(self.backlog[0], flags=zmq.NOBLOCK, copy=True)
                except zmq.Again:
                    break
                self.backlog.popleft()
                events = cast(int, self.raw.get(zmq.EVENTS))
            if not events & zmq.POLLIN:
                break
            if got == RECV_BATCH:
                self._wake()  # more: let the others run a round first
                break
            try:
                frames = self.raw.recv_multipart(flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            got += 1
            try:
                self.on_parts(frames)
            except Exception:  # a bug must not stop the socket for good
                log.exception("pipe socket: handling a message failed")
        if got and self.after_batch is not None:
            self.after_batch()

    def flush(self) -> bool:
        """Give zmq what is still in the backlog; whether anything is left
        (an ack just before closing matters: without it the writer would
        wait for ever)."""
        if self.backlog and not self._closed:
            self._on_event()
        return bool(self.backlog) and not self._closed

    def close(self) -> None:
        self.closing = True
        if not self._closed:
            self._closed = True
            self.loop.remove_reader(self._fd)
            self.raw.close(linger=0)


def _socket(creds: Credentials, kind: int, max_part: int) -> zmq.Socket[Any]:
    # A plain socket even on an asyncio Context: the Owner drives it.
    sock: zmq.Socket[Any] = zmq.Socket(creds.zmq(), kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, 0)  # bounded by credit, never by a drop
    sock.setsockopt(zmq.RCVHWM, 0)
    sock.setsockopt(zmq.MAXMSGSIZE, max_part + WIRE_SLACK)
    return sock


def _parts(frames: list[zmq.Frame]) -> tuple[memoryview, memoryview] | None:
    if len(frames) != 2:
        return None
    return frames[0].buffer, frames[1].buffer


class ZmqListener:
    def __init__(self, bind: str, creds: Credentials, on_message: ListenerCallback,
                 after_batch: Callable[[], None], loop: Loop, *, connect: bool = False) -> None:
        """Bind `bind`; or, `connect`, dial it (a turned-round pipe: `bind`
        is then the writer's endpoint, and ours is empty)."""
        self.on_message = on_message
        self.on_lost: Callable[[object], None] | None = None  # (never called: zmq hides its connections)
        sock = _socket(creds, zmq.ROUTER, BODY_MAX)
        if bind.startswith("tcp://["):
            sock.setsockopt(zmq.IPV6, 1)
        secure_server(sock, creds.keys)
        try:
            if connect:
                sock.connect(bind)
            else:
                sock.bind(bind)
        except zmq.ZMQError:
            sock.close(linger=0)
            raise
        if connect:
            self.endpoint = ""  # (nobody dials us)
        else:
            last = sock.getsockopt(zmq.LAST_ENDPOINT)
            self.endpoint = last.decode() if isinstance(last, bytes) else str(last)
        self.owner = Owner(sock, loop, self._on_parts, after_batch)

    def _on_parts(self, frames: list[zmq.Frame]) -> None:
        parts = _parts(frames[1:])
        if parts is None:
            log.warning("pipe socket: dropped a message of %d parts", len(frames) - 1)
            return
        self.on_message(frames[0].bytes, *parts)

    def send(self, conn: object, header: bytes, body: Data) -> None:
        if isinstance(conn, bytes):
            self.owner.send([conn, header, body])

    def flush(self) -> bool:
        return self.owner.flush()

    def close(self) -> None:
        self.owner.close()


class ZmqLink:
    refused = False  # zmq reconnects by itself: nothing says the reader is gone

    def __init__(self, endpoint: str, creds: Credentials, on_message: LinkCallback, loop: Loop, *,
                 bind: bool = False) -> None:
        """Connect to `endpoint`; or, `bind`, bind it and report the bound
        address as `.endpoint` (a turned-round pipe: the reader dials us)."""
        self.endpoint, self.creds, self.on_message, self.loop = endpoint, creds, on_message, loop
        self.bind = bind
        self.owner: Owner | None = None
        self.reopen()

    @property
    def broken(self) -> bool:
        return self.owner is None  # (zmq reconnects a live socket by itself)

    def reopen(self) -> None:
        if self.owner is not None:
            if self.bind:
                # A bound end keeps its socket: its port is the reader's
                # only way to us (and zmq frees it only some time after a
                # close); the reader's zmq redials by itself, and the hello
                # and replay that follow this call go out on it.
                return
            self.owner.close()
        sock = _socket(self.creds, zmq.DEALER, HEADER_SIZE)  # acks only: headers
        if self.endpoint.startswith("tcp://["):
            sock.setsockopt(zmq.IPV6, 1)
        secure_client(sock, self.creds.keys)
        if self.bind:
            # Until the reader dials in, zmq refuses our messages (a DEALER
            # with no peer): they wait, in order, in the owner's backlog.
            try:
                sock.bind(self.endpoint)
            except zmq.ZMQError:
                sock.close(linger=0)
                raise
            last = sock.getsockopt(zmq.LAST_ENDPOINT)
            self.endpoint = last.decode() if isinstance(last, bytes) else str(last)
        else:
            sock.connect(self.endpoint)
        self.owner = Owner(sock, self.loop, self._on_parts)

    def _on_parts(self, frames: list[zmq.Frame]) -> None:
        parts = _parts(frames)
        if parts is None:
            log.warning("pipe socket: dropped a message of %d parts", len(frames))
            return
        self.on_message(*parts)

    def send(self, header: bytes, body: Data) -> None:
        if self.owner is not None:
            self.owner.send([header, body])

    def flush(self) -> bool:
        return self.owner is not None and self.owner.flush()

    def close(self) -> None:
        if self.owner is not None:
            self.owner.close()
            self.owner = None
