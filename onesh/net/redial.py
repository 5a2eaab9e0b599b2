"""What the stream transports' ends (tlslink, unixsock) have in common:
each holds at most one connection at a time.

- DialLink: the writer's end that dials its reader (transport.Link).
- BoundLinkEnd: the writer's end of a turned-round pipe, which listens
  and keeps what is sent until its reader dials in (transport.BoundLink).
- DialListener: the reader's end of a turned-round pipe: the writer
  binds, since the reader cannot be reached, and the reader dials it,
  again REDIAL_AFTER after each lost connection, until closed
  (transport.Listener).  A subclass makes one connection attempt
  (`_connect`); the rest is here."""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

from onesh.net.pipe_protocol import Data
from onesh.net.transport import Loop

REDIAL_AFTER = 0.2  # seconds a dialling reader waits before it dials its writer again

log = logging.getLogger("onesh.pipes")


def accept_waiting(listener: socket.socket, what: str) -> Iterator[socket.socket]:
    """The connections waiting on a non-blocking listening socket, until
    none is left (or no fd is: said once, in `what`'s name)."""
    while True:
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if e.errno in (errno.EMFILE, errno.ENFILE):
                log.warning("%s: cannot accept: %s", what, e)
            return
        yield sock


class Conn(Protocol):
    def send(self, header: bytes, body: Data) -> None: ...

    def flush(self) -> bool: ...

    def close(self) -> None: ...


class OneConnection:
    conn: Conn | None
    closing: bool

    def flush(self) -> bool:
        return self.conn is not None and self.conn.flush()


class DialLink(OneConnection):
    """A message sent while there is no connection is dropped: the pipe
    protocol replays it after `reopen()`."""

    def send(self, header: bytes, body: Data) -> None:
        if self.conn is not None and not self.closing:
            self.conn.send(header, body)

    def close(self) -> None:
        self.closing = True
        if self.conn is not None:
            self.conn.close()


class BoundLinkEnd(OneConnection):
    pending: list[tuple[bytes, Data]]  # sent while no reader is connected

    def reopen(self) -> None:
        """Drop the connection (the reader dials again) and what waits for
        it; the listening socket stays (the reader's only way to us)."""
        self.pending.clear()
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class DialListener(OneConnection):
    endpoint = ""  # (nobody dials us)
    conn_type: type = object  # the subclass's connections (send() ignores anything else)

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.conn: Conn | None = None
        self.closing = False
        self._timer: Any = None
        self.on_lost: Callable[[object], None] | None = None  # (not called: it dials again itself)

    def _connect(self) -> Conn | None:
        """One attempt: the new connection, or None when there is none (it
        failed, or closed at once); REDIAL_AFTER later we try again."""
        raise NotImplementedError

    def _dial(self) -> None:
        self._timer = None
        if self.closing:
            return
        conn = self._connect()
        if conn is None:
            self._redial()
            return
        self.conn = conn

    def _closed(self, conn: object) -> None:
        if conn is self.conn:
            self.conn = None
        self._redial()

    def _redial(self) -> None:
        if not self.closing and self._timer is None:
            self._timer = self.loop.call_later(REDIAL_AFTER, self._dial)

    def send(self, conn: object, header: bytes, body: Data) -> None:
        if not self.closing and isinstance(conn, self.conn_type):
            cast(Conn, conn).send(header, body)

    def close(self) -> None:
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.conn is not None:
            self.conn.close()
