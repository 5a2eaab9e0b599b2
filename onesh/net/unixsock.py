"""The same-host transport of network pipes: Unix SOCK_SEQPACKET sockets
driven straight by the loop, no ZeroMQ, no crypto.

Why not zmq's ipc://: every zmq message crosses to zmq's I/O thread and
back (two more thread wake-ups per hop); a packet socket is one system call
and one wake-up of the peer.  Measured on loopback, one line there and back
between two asyncio processes: about 90 µs against about 235 µs.

One packet is one pipe message: its fixed-size header, then its body
(sendmsg gathers the two: the data is not joined; the reader splits the
packet it got into two views, no copy).

`UnixListener` (the receiver: listens, any number of connections; a reply
goes to one) and `UnixLink` (the sender: one connection, opened again
when it breaks) implement `onesh.net.transport`.  Peers are admitted only
if they run as our uid (SO_PEERCRED), on top of the 0700 directory the
socket lives in (see samehost.py).

A writer whose input is a regular file sends the file itself with its
hello (SCM_RIGHTS; `UnixLink.send_fds`), and then frames that say where
in the file their data is (pipe_protocol.FileSpan): the reader reads the
file, and the writer never touches the bytes.  A connection keeps the
last file that came with it (`_Conn.file`, closed with the connection).

A turned-round pipe (transport.dial_in, transport.listen_out: the writer
listens, the reader dials) is `UnixBoundLink` and `UnixDialListener`.
The shell never wires one on one host (nothing stands between two ends
there: no firewall, no NAT), but every transport offers both directions,
so the pipe ends need not care which transport they run on.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import struct
from collections import deque
from collections.abc import Callable
from typing import Any

from onesh.net.pipe_protocol import Data
from onesh.net.pipe_wire import BODY_MAX, HEADER_SIZE
from onesh.net.redial import BoundLinkEnd, DialLink, DialListener, accept_waiting
from onesh.net.transport import LinkCallback, ListenerCallback, Loop

log = logging.getLogger("onesh.pipes")

SOCK_BUFFER = 1 << 20  # bytes of packets the kernel holds per direction
RECV_BATCH = 64  # packets a callback takes before it yields a loop round
MAX_PACKET = HEADER_SIZE + BODY_MAX
MSG_TRUNC = int(socket.MSG_TRUNC)  # (an int: socket's enum costs a Python call per `&`, per packet)
# Room for one fd (a writer's input file) beside a packet; a packet that
# brings more has them closed by the kernel (MSG_CTRUNC).  The fd we get
# is close-on-exec: a program the reader starts does not inherit it.
FD_SPACE = socket.CMSG_SPACE(struct.calcsize("i"))
RECV_FLAGS = int(getattr(socket, "MSG_CMSG_CLOEXEC", 0))


def path_of(endpoint: str) -> str:
    return endpoint[len("unix://"):]


def _tune(sock: socket.socket) -> None:
    sock.setblocking(False)
    for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, opt, SOCK_BUFFER)


def _wmem_max() -> str:
    try:
        with open("/proc/sys/net/core/wmem_max") as f:
            return f.read().strip()
    except OSError:
        return "unknown"


def _same_uid(sock: socket.socket) -> bool:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return bool(uid == os.getuid())


class _Conn:
    """One connected packet socket: reads into `on_packet`, writes with a
    backlog only while the kernel buffer is full (order kept)."""

    def __init__(self, sock: socket.socket, loop: Loop, on_packet: Callable[[_Conn, Data, Data], None],
                 on_batch: Callable[[], None], on_close: Callable[[_Conn], None], *,
                 takes_fds: bool = False) -> None:
        self.sock, self.loop = sock, loop
        self.on_packet, self.on_batch, self.on_close = on_packet, on_batch, on_close
        self.backlog: deque[tuple[list[Data], int]] = deque()  # (header and body, an fd to pass or -1)
        self.closed = False
        self.file = -1  # the last fd a packet brought (a writer's input file), ours to close
        self._takes_fds = takes_fds  # (a writer's side never gets one: no room asked for)
        self._fd = sock.fileno()
        loop.add_reader(self._fd, self._readable)

    def send(self, header: bytes, body: Data, fd: int = -1) -> None:
        """Send a message; `fd` (>= 0) goes with it (SCM_RIGHTS), a
        duplicate for the peer: ours stays open."""
        if self.closed:
            return
        if not self.backlog:
            try:
                self._sendmsg([header, body], fd)
                return
            except BlockingIOError:
                self.loop.add_writer(self._fd, self._writable)
            except OSError as e:
                self._failed(e)
                return
        self.backlog.append(([header, body], fd))

    def _sendmsg(self, parts: list[Data], fd: int) -> None:
        if fd < 0:
            self.sock.sendmsg(parts)
        else:
            self.sock.sendmsg(parts, [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])

    def _failed(self, e: OSError) -> None:
        if e.errno == errno.EMSGSIZE:
            # (a packet is one frame: the kernel's socket buffer must hold
            # one, and net.core.wmem_max caps what we may ask for)
            log.error("pipe socket: the kernel refuses a %d-byte packet (net.core.wmem_max is %s; "
                      "it must be at least %d)", MAX_PACKET, _wmem_max(), MAX_PACKET // 2 + 1024)
        self.close()

    def _writable(self) -> None:
        while self.backlog:
            try:
                self._sendmsg(*self.backlog[0])
            except BlockingIOError:
                return
            except OSError as e:
                self._failed(e)
                return
            self.backlog.popleft()
        self.loop.remove_writer(self._fd)

    def _readable(self) -> None:
        got = 0
        fd_space = FD_SPACE if self._takes_fds else 0
        while got < RECV_BATCH and not self.closed:
            try:
                packet, anc, flags, _ = self.sock.recvmsg(MAX_PACKET, fd_space, RECV_FLAGS)
            except BlockingIOError:
                break
            except OSError:
                self.close()
                break
            if anc:
                self._took(anc)  # (ours to close, whatever the packet)
            if not packet:  # the peer closed
                self.close()
                break
            if flags & MSG_TRUNC or len(packet) < HEADER_SIZE:
                # Bigger than any pipe message, or not one: a broken or
                # hostile peer; drop the connection (as zmq's MAXMSGSIZE).
                log.warning("pipe socket: dropped a peer that sent a malformed packet")
                self.close()
                break
            got += 1
            view = memoryview(packet)
            try:
                self.on_packet(self, view[:HEADER_SIZE], view[HEADER_SIZE:])
            except Exception:  # a bug must not stop the socket for good
                log.exception("pipe socket: handling a message failed")
        if got:
            self.on_batch()

    def _took(self, anc: list[tuple[int, int, bytes]]) -> None:
        """Keep the fd a packet brought (the newest replaces the one before)."""
        for level, kind, data in anc:
            if level != socket.SOL_SOCKET or kind != socket.SCM_RIGHTS:
                continue
            for (fd,) in struct.iter_unpack("i", data[:len(data) - len(data) % 4]):
                if self.file >= 0:
                    os.close(self.file)
                self.file = fd

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.loop.remove_reader(self._fd)
        if self.backlog:
            self.loop.remove_writer(self._fd)
        self.sock.close()
        if self.file >= 0:
            os.close(self.file)
            self.file = -1
        self.on_close(self)

    def flush(self) -> bool:
        """Try to hand the backlog to the kernel; whether anything is left."""
        if self.backlog and not self.closed:
            self._writable()
        return bool(self.backlog) and not self.closed


def _listening(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        sock.bind(path)
        sock.listen(16)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _accepted(listener: socket.socket) -> list[socket.socket]:
    """The connections waiting on a listening socket from our uid, tuned."""
    socks = []
    for sock in accept_waiting(listener, "pipe socket"):
        if not _same_uid(sock):
            sock.close()
            continue
        _tune(sock)
        socks.append(sock)
    return socks


def _dial(path: str) -> tuple[socket.socket | None, bool]:
    """Connect to path: (the socket or None, refused: nobody listens there)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    _tune(sock)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        log.debug("pipe socket: connect %s: %s", path, e)
        return None, e.errno in (errno.ECONNREFUSED, errno.ENOENT)
    return sock, False


class UnixListener:
    """The receiving end: binds the path, accepts every connection from
    our uid; `on_message(conn, header, body)`; `send(conn, ...)` answers
    that connection (dropped if it is gone, as by a zmq ROUTER)."""

    def __init__(self, bind: str, on_message: ListenerCallback, after_batch: Callable[[], None],
                 loop: Loop) -> None:
        self.endpoint = bind
        self.path = path_of(bind)
        self.on_message, self.after_batch, self.loop = on_message, after_batch, loop
        self.conns: set[_Conn] = set()
        self.listener = _listening(self.path)
        loop.add_reader(self.listener.fileno(), self._accept)
        self.closing = False
        self.on_lost: Callable[[object], None] | None = None

    def _accept(self) -> None:
        for sock in _accepted(self.listener):
            self.conns.add(_Conn(sock, self.loop, self.on_message, self.after_batch, self._closed, takes_fds=True))

    def _closed(self, conn: _Conn) -> None:
        self.conns.discard(conn)
        if self.on_lost is not None and not self.closing:
            self.on_lost(conn)

    def send(self, conn: object, header: bytes, body: Data) -> None:
        if not self.closing and isinstance(conn, _Conn):
            conn.send(header, body)

    def flush(self) -> bool:
        return any([c.flush() for c in list(self.conns)])

    def close(self) -> None:
        self.closing = True
        self.loop.remove_reader(self.listener.fileno())
        self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        for conn in list(self.conns):
            conn.close()


class UnixLink(DialLink):
    """The sending end: one connection to the path.  A message sent while
    it is broken (the reader's socket gone or not accepting) is dropped,
    like one zmq loses with its peer: the pipe protocol replays it after
    `reopen()`, which the sender's resend timer calls."""

    def __init__(self, endpoint: str, on_message: LinkCallback, loop: Loop) -> None:
        self.path, self.on_message, self.loop = path_of(endpoint), on_message, loop
        self.conn: _Conn | None = None
        self.closing = False
        self.refused = False  # the last connect found nobody listening: the reader is gone
        self.reopen()

    passes_fds = True  # (send_fds: its reader is on this host)

    @property
    def broken(self) -> bool:
        return self.conn is None or self.conn.closed

    def send_fds(self, header: bytes, body: Data, fd: int) -> None:
        """Send a message with a duplicate of `fd` for the reader."""
        if self.conn is not None and not self.closing:
            self.conn.send(header, body, fd)

    def reopen(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        sock, self.refused = _dial(self.path)
        if sock is not None:
            self.conn = _Conn(sock, self.loop, self._on_packet, _nothing, _nothing)

    def _on_packet(self, conn: _Conn, header: Data, body: Data) -> None:
        self.on_message(header, body)


class UnixBoundLink(BoundLinkEnd):
    """The writer's end of a turned-round pipe: it listens on the path and
    its reader dials in (transport.BoundLink); the newest connection from
    our uid is the reader's.  What is sent while none is up waits for it."""

    refused = False  # (a reader that never dials is told by silence)

    def __init__(self, bind: str, on_message: LinkCallback, loop: Loop) -> None:
        self.endpoint, self.path = bind, path_of(bind)
        self.on_message, self.loop = on_message, loop
        self.conn: _Conn | None = None
        self.pending: list[tuple[bytes, Data]] = []  # sent while no reader is connected
        self.closing = False
        self.listener = _listening(self.path)
        loop.add_reader(self.listener.fileno(), self._accept)

    @property
    def broken(self) -> bool:
        return self.conn is None or self.conn.closed

    def _accept(self) -> None:
        for sock in _accepted(self.listener):
            if self.conn is not None:
                self.conn.close()  # the reader gave that one up: it dialled again
            self.conn = _Conn(sock, self.loop, self._on_packet, _nothing, _nothing)
            pending, self.pending = self.pending, []
            for header, body in pending:
                self.conn.send(header, body)

    def _on_packet(self, conn: _Conn, header: Data, body: Data) -> None:
        if conn is self.conn:
            self.on_message(header, body)

    def send(self, header: bytes, body: Data) -> None:
        if self.closing:
            return
        if self.conn is None or self.conn.closed:
            self.pending.append((header, body))  # (bounded by credit; reopen() drops it)
            return
        self.conn.send(header, body)

    def close(self) -> None:
        self.closing = True
        self.pending.clear()
        self.loop.remove_reader(self.listener.fileno())
        self.listener.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        if self.conn is not None:
            self.conn.close()


class UnixDialListener(DialListener):
    """The reader's end of a turned-round pipe (onesh.net.redial): it dials
    its writer's path."""

    conn_type = _Conn

    def __init__(self, endpoint: str, on_message: ListenerCallback, after_batch: Callable[[], None],
                 loop: Loop) -> None:
        super().__init__(loop)
        self.path = path_of(endpoint)
        self.on_message, self.after_batch = on_message, after_batch
        self._dial()

    def _connect(self) -> _Conn | None:
        sock, _ = _dial(self.path)
        if sock is not None and not _same_uid(sock):  # (a stranger's socket at the path)
            sock.close()
            sock = None
        if sock is None:
            return None
        return _Conn(sock, self.loop, self.on_message, self.after_batch, self._closed)


def _nothing(*_: Any) -> None:
    pass
