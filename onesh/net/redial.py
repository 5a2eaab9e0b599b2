"""The reader's end of a turned-round pipe over a stream transport
(tlslink, unixsock): the writer binds, since the reader cannot be
reached, and the reader dials it, again REDIAL_AFTER after each lost
connection, until closed (transport.Listener).  A subclass makes one
connection attempt (`_connect`); the rest is here."""

from __future__ import annotations

from typing import Any, Protocol, cast

from onesh.net.pipe_protocol import Data
from onesh.net.transport import Loop

REDIAL_AFTER = 0.2  # seconds a dialling reader waits before it dials its writer again


class Conn(Protocol):
    def send(self, header: bytes, body: Data) -> None: ...

    def flush(self) -> bool: ...

    def close(self) -> None: ...


class DialListener:
    endpoint = ""  # (nobody dials us)
    conn_type: type = object  # the subclass's connections (send() ignores anything else)

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        self.conn: Conn | None = None
        self.closing = False
        self._timer: Any = None

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

    def flush(self) -> bool:
        return self.conn is not None and self.conn.flush()

    def close(self) -> None:
        self.closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.conn is not None:
            self.conn.close()
