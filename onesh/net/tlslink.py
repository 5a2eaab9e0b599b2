"""TLS 1.3 over TCP, the default transport of network pipes between hosts.

Why not ZeroMQ + Curve, as for the rest of the cluster's traffic: a pipe
is bulk data, and Curve (libsodium's XSalsa20-Poly1305, run in zmq's one
I/O thread per socket) moves a third of what the same socket does in
plaintext, while TLS 1.3's AES-GCM runs on the CPU's AES instructions in
the process that owns the socket, at nearly plaintext speed
(benchmarks/pipe_throughput.py prints the three side by side).  The
certificates, mutual and derived from the cluster secret, are in
tlscerts.py: standard TLS, nothing home-made.

A message is its 52-byte header (which says how long the body is) and its
body, back to back in the stream.  TLS runs on memory buffers (an
`ssl.SSLObject` between two `MemoryBIO`s), not on the socket: the socket
is read in big chunks (one system call for many records, where OpenSSL on
a socket makes two per 16 KiB record), and the records are decrypted
message by message, a body straight into a buffer of its own that becomes
the frame's data.  On the way out, a message's records go to the kernel
in one send.

The socket is the loop's to watch: non-blocking connect, handshake, reads
and writes all go on from readiness callbacks; what TLS decrypted but a
callback did not take yet (it yields after RECV_BATCH messages) makes it
schedule itself again, since the socket will not say so.

A turned-round pipe (its reader cannot be reached: transport.listen_out,
transport.dial_in) swaps who connects and nothing else: the writer's
`TlsBoundLink` listens and is still the TLS client, the reader's
`TlsDialListener` connects and is still the server (the certificates are
mutual either way).  The writer takes the newest connection whose
handshake passed as its reader's (a stranger at its port never displaces
the reader); the reader dials again, REDIAL_AFTER later (onesh.net.redial), whenever its
connection is lost.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from collections import deque
from collections.abc import Callable
from typing import cast

from onesh.net.keys import ClusterKeys
from onesh.net.pipe_protocol import Data
from onesh.net.pipe_wire import HEADER_SIZE, WireError, body_length
from onesh.net.redial import BoundLinkEnd, DialLink, DialListener, accept_waiting
from onesh.net.tlscerts import peer_is_cluster, server_name, tls_context
from onesh.net.transport import LinkCallback, ListenerCallback, Loop

log = logging.getLogger("onesh.pipes")

RECV_BATCH = 64  # messages a callback takes before it yields a loop round
READ_CHUNK = 256 * 1024  # bytes of ciphertext read from the socket at once
READ_ROUNDS = 4  # reads a callback makes before it decrypts what it has
CONNECTING, HANDSHAKE, OPEN, CLOSED = range(4)
# Seconds a connection has to connect and pass its handshake.  A peer
# that never finishes one (a port scanner, a stalled or hostile client)
# would otherwise keep its socket, and a slot of the listener's, until the
# pipe closes.  A TLS 1.3 handshake with Ed25519 takes milliseconds even
# on a small board: this only has to outlast a congested link.
HANDSHAKE_TIMEOUT = 10.0


def address_of(endpoint: str) -> tuple[str, int]:
    """tls://HOST:PORT (HOST may be [v6]) → (host, port)."""
    rest = endpoint.split("://", 1)[1]
    host, _, port = rest.rpartition(":")
    return host.strip("[]"), int(port)


class _Conn:
    """One TLS connection: reads messages into `on_message(self, header,
    body)`, writes them with a backlog while the kernel cannot take them
    (order kept)."""

    def __init__(self, sock: socket.socket, keys: ClusterKeys, *, server: bool, loop: Loop,
                 on_message: Callable[[_Conn, Data, Data], None], on_batch: Callable[[], None],
                 on_close: Callable[[_Conn], None], connecting: bool = False,
                 on_open: Callable[[_Conn], None] | None = None) -> None:
        self.sock, self.server, self.loop = sock, server, loop
        self.on_message, self.on_batch, self.on_close = on_message, on_batch, on_close
        self.on_open = on_open  # the handshake passed
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.keys = keys
        self.tls = tls_context(keys, server=server).wrap_bio(
            self._in, self._out, server_side=server, server_hostname=None if server else server_name(keys))
        self.early: list[tuple[bytes, Data]] = []  # sent before the handshake finished
        self.wbuf: deque[memoryview] = deque()  # ciphertext the kernel has not taken yet
        self.state = CONNECTING
        self.refused = False
        self._fd = sock.fileno()
        self._writing = False  # the loop watches for writability
        self._scratch = memoryview(bytearray(READ_CHUNK))
        self._header = bytearray(HEADER_SIZE)
        self._hpos = 0
        self._body: bytearray | None = None
        self._bpos = 0
        loop.add_reader(self._fd, self._readable)
        self._deadline = loop.call_later(HANDSHAKE_TIMEOUT, self._too_slow)
        if connecting:
            self._want_write()
        else:
            self.state = HANDSHAKE
            self._handshake()

    # ------------------------------------------------------------ set-up
    def _connected(self) -> None:
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.refused = err == errno.ECONNREFUSED
            log.debug("pipe tls: connect: %s", errno.errorcode.get(err, err))
            self.close()
            return
        self.state = HANDSHAKE
        self._handshake()

    def _too_slow(self) -> None:
        if self.state in (CONNECTING, HANDSHAKE):
            log.log(logging.WARNING if self.server else logging.DEBUG,
                    "pipe tls: no handshake within %gs; closing the connection", HANDSHAKE_TIMEOUT)
            self.close()

    def _handshake(self) -> None:
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._send_out()
            return
        except ssl.SSLEOFError as e:  # the peer went (a writer that relinked at once)
            log.debug("pipe tls: handshake cut short: %s", e)
            self.close()
            return
        except (OSError, ValueError) as e:  # (ssl.SSLError is an OSError: a stranger's certificate)
            log.log(logging.WARNING if self.server else logging.DEBUG, "pipe tls: handshake failed: %s", e)
            self._send_out()  # (the alert, best effort)
            self.close()
            return
        if not peer_is_cluster(self.tls, self.keys):  # (cannot happen unless OpenSSL erred: see tlscerts)
            log.warning("pipe tls: a peer passed the handshake with a certificate not the cluster's")
            self.close()
            return
        self.state = OPEN
        self._deadline.cancel()
        if self.on_open is not None:
            self.on_open(self)
        early, self.early = self.early, []
        for header, body in early:
            self.send(header, body)
        self._send_out()
        if self.state == OPEN and self._in.pending:
            self.loop.call_soon(self._readable)  # (application data came with the last flight)

    # ----------------------------------------------------------- writing
    def send(self, header: bytes, body: Data) -> None:
        if self.state == CLOSED:
            return
        if self.state != OPEN:
            self.early.append((header, body))
            return
        try:
            self.tls.write(header)
            if body:
                self.tls.write(body)
        except (OSError, ValueError):
            self.close()
            return
        self._send_out()

    def _send_out(self) -> None:
        """Hand the records TLS made to the kernel (what it cannot take yet
        waits, in order, until the socket is writable)."""
        if self._out.pending:
            self.wbuf.append(memoryview(self._out.read()))
        while self.wbuf:
            chunk = self.wbuf[0]
            try:
                n = self.sock.send(chunk)
            except BlockingIOError:
                self._want_write()
                return
            except OSError:
                self.close()
                return
            if n < len(chunk):
                self.wbuf[0] = chunk[n:]
                continue
            self.wbuf.popleft()
        self._no_write()

    def _want_write(self) -> None:
        if not self._writing and self.state != CLOSED:
            self._writing = True
            self.loop.add_writer(self._fd, self._writable)

    def _no_write(self) -> None:
        if self._writing:
            self._writing = False
            self.loop.remove_writer(self._fd)

    def _writable(self) -> None:
        if self.state == CONNECTING:
            self._no_write()
            self._connected()
        else:
            self._send_out()

    def flush(self) -> bool:
        if self.state != CLOSED and self.wbuf:
            self._send_out()
        return (bool(self.wbuf) or bool(self.early)) and self.state != CLOSED

    # ----------------------------------------------------------- reading
    def _readable(self) -> None:
        if self.state in (CONNECTING, CLOSED):
            return
        # What the kernel holds, in big reads (a few system calls for many
        # records), into TLS's buffer ...
        for _ in range(READ_ROUNDS):
            try:
                n = self.sock.recv_into(self._scratch)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.close()
                return
            if not n:
                self.close()  # the peer closed
                return
            self._in.write(self._scratch[:n])
            if n < READ_CHUNK:
                break
        if self.state == HANDSHAKE:
            self._handshake()
            if self.state != OPEN:
                return
        # ... then out of it, decrypted, message by message: a header, then
        # its body straight into a buffer of its own (the frame's data).
        tls = self.tls
        got = 0
        while got < RECV_BATCH and self.state == OPEN:
            try:
                if self._body is None:
                    self._hpos += _read_into(tls, memoryview(self._header)[self._hpos:])
                    if self._hpos < HEADER_SIZE:
                        continue
                    self._body = bytearray(body_length(self._header))
                    self._bpos = 0
                elif self._bpos < len(self._body):
                    self._bpos += _read_into(tls, memoryview(self._body)[self._bpos:])
            except ssl.SSLWantReadError:
                break
            except (ssl.SSLZeroReturnError, EOFError):
                self.close()  # the peer closed (close_notify)
                break
            except WireError as e:
                log.warning("pipe tls: dropped a peer: %s", e)
                self.close()
                break
            except (OSError, ValueError):
                self.close()
                break
            if self._body is not None and self._bpos == len(self._body):
                header, body = bytes(self._header), memoryview(self._body).toreadonly()
                self._hpos, self._body = 0, None
                got += 1
                try:
                    self.on_message(self, header, body)
                except Exception:  # a bug must not stop the socket for good
                    log.exception("pipe tls: handling a message failed")
        if self._out.pending and self.state == OPEN:
            self._send_out()  # (TLS may answer what it read: a key update)
        if self.state == OPEN and got >= RECV_BATCH:
            self.loop.call_soon(self._readable)  # more is decrypted already: the fd will not say so
        if got:
            self.on_batch()

    def close(self) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self._deadline.cancel()
        self._no_write()
        self.loop.remove_reader(self._fd)
        self.sock.close()
        self.wbuf.clear()
        self.early.clear()
        self.on_close(self)


def _read_into(tls: ssl.SSLObject, view: memoryview) -> int:
    """Decrypt up to len(view) bytes into view (SSLObject.read with a
    buffer gives a count).  The peer's close_notify is not an exception
    here but a count of 0 (CPython turns SSL_ERROR_ZERO_RETURN into an
    empty read): taken for "more to come", it spun the loop for ever."""
    n = cast(int, tls.read(len(view), view))
    if not n and view:
        raise EOFError("close_notify")
    return n


def _stream_socket(family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a line goes out now, not after 40 ms
    return sock


def _listening(bind: str) -> tuple[socket.socket, str]:
    """A non-blocking socket listening on tls://HOST:PORT, and its endpoint."""
    host, port = address_of(bind)
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = _stream_socket(info[0])
    try:
        sock.bind(info[4])
        sock.listen(16)
    except OSError:
        sock.close()
        raise
    shown = f"[{host}]" if ":" in host else host
    return sock, f"tls://{shown}:{sock.getsockname()[1]}"


def _accepted(listener: socket.socket) -> list[socket.socket]:
    """The connections waiting on a listening socket, made ready for a _Conn."""
    socks = []
    for sock in accept_waiting(listener, "pipe tls"):
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(sock)
    return socks


def _dial(address: tuple[str, int]) -> tuple[socket.socket | None, bool, bool]:
    """Start a non-blocking connect: (the socket or None, connecting, refused)."""
    try:
        info = socket.getaddrinfo(*address, type=socket.SOCK_STREAM)[0]
        sock = _stream_socket(info[0])
    except OSError as e:
        log.debug("pipe tls: %s: %s", address, e)
        return None, False, False
    err = sock.connect_ex(info[4])
    if err not in (0, errno.EINPROGRESS):
        sock.close()
        log.debug("pipe tls: connect: %s", errno.errorcode.get(err, err))
        return None, False, err == errno.ECONNREFUSED
    return sock, err != 0, False


class TlsListener:
    def __init__(self, bind: str, keys: ClusterKeys, on_message: ListenerCallback,
                 after_batch: Callable[[], None], loop: Loop) -> None:
        self.keys, self.on_message, self.after_batch, self.loop = keys, on_message, after_batch, loop
        self.listener, self.endpoint = _listening(bind)
        self.conns: set[_Conn] = set()
        self.closing = False
        self.on_lost: Callable[[object], None] | None = None
        loop.add_reader(self.listener.fileno(), self._accept)

    def _accept(self) -> None:
        for sock in _accepted(self.listener):
            conn = _Conn(sock, self.keys, server=True, loop=self.loop, on_message=self.on_message,
                         on_batch=self.after_batch, on_close=self._closed)
            if conn.state != CLOSED:  # (a handshake can fail at once)
                self.conns.add(conn)

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
        for conn in list(self.conns):
            conn.close()


class TlsLink(DialLink):
    def __init__(self, endpoint: str, keys: ClusterKeys, on_message: LinkCallback, loop: Loop) -> None:
        self.address = address_of(endpoint)
        self.keys, self.on_message, self.loop = keys, on_message, loop
        self.conn: _Conn | None = None
        self.closing = False
        self.refused = False  # the last connect found nobody listening: the reader is gone
        self.reopen()

    @property
    def broken(self) -> bool:
        return self.conn is None or self.conn.state == CLOSED

    def reopen(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        sock, connecting, self.refused = _dial(self.address)
        if sock is None:
            return
        self.conn = _Conn(sock, self.keys, server=False, loop=self.loop, on_message=self._on_message,
                          on_batch=_nothing, on_close=self._closed, connecting=connecting)

    def _on_message(self, conn: _Conn, header: Data, body: Data) -> None:
        self.on_message(header, body)

    def _closed(self, conn: _Conn) -> None:
        if conn.refused:
            self.refused = True


class TlsBoundLink(BoundLinkEnd):
    """The writer's end of a turned-round pipe: it listens, its reader
    dials in (transport.BoundLink).  Still the TLS client."""

    refused = False  # (nothing to be refused: a reader that never dials is told by silence)

    def __init__(self, bind: str, keys: ClusterKeys, on_message: LinkCallback, loop: Loop) -> None:
        self.keys, self.on_message, self.loop = keys, on_message, loop
        self.listener, self.endpoint = _listening(bind)
        self.conn: _Conn | None = None  # the reader's: the newest connection whose handshake passed
        self.dialled: set[_Conn] = set()  # connections still in their handshake
        self.pending: list[tuple[bytes, Data]] = []  # sent while no reader is connected
        self.closing = False
        loop.add_reader(self.listener.fileno(), self._accept)

    @property
    def broken(self) -> bool:
        return self.conn is None or self.conn.state == CLOSED

    def _accept(self) -> None:
        for sock in _accepted(self.listener):
            conn = _Conn(sock, self.keys, server=False, loop=self.loop, on_message=self._on_message,
                         on_batch=_nothing, on_close=self.dialled.discard, on_open=self._opened)
            if conn.state == HANDSHAKE:
                self.dialled.add(conn)

    def _opened(self, conn: _Conn) -> None:
        # Only now (the peer holds the cluster's certificate) does it
        # become the reader's connection; an older one is a connection the
        # reader gave up on.
        self.dialled.discard(conn)
        if self.conn is not None and self.conn is not conn:
            self.conn.close()
        self.conn = conn
        pending, self.pending = self.pending, []
        for header, body in pending:
            conn.send(header, body)

    def _on_message(self, conn: _Conn, header: Data, body: Data) -> None:
        if conn is self.conn:
            self.on_message(header, body)

    def send(self, header: bytes, body: Data) -> None:
        if self.closing:
            return
        if self.broken:
            # No reader yet (or it is dialling again): it gets these first.
            # Bounded by the protocol's credit; reopen() drops them, as the
            # protocol says hello and replays after it.
            self.pending.append((header, body))
            return
        assert self.conn is not None
        self.conn.send(header, body)

    def close(self) -> None:
        self.closing = True
        self.pending.clear()
        self.loop.remove_reader(self.listener.fileno())
        self.listener.close()
        for conn in [*self.dialled, *([self.conn] if self.conn is not None else [])]:
            conn.close()


class TlsDialListener(DialListener):
    """The reader's end of a turned-round pipe (onesh.net.redial): it dials
    its writer's bound endpoint.  Still the TLS server."""

    conn_type = _Conn

    def __init__(self, endpoint: str, keys: ClusterKeys, on_message: ListenerCallback,
                 after_batch: Callable[[], None], loop: Loop) -> None:
        super().__init__(loop)
        self.address = address_of(endpoint)
        self.keys, self.on_message, self.after_batch = keys, on_message, after_batch
        self._dial()

    def _connect(self) -> _Conn | None:
        sock, connecting, _ = _dial(self.address)
        if sock is None:
            return None
        conn = _Conn(sock, self.keys, server=True, loop=self.loop, on_message=self.on_message,
                     on_batch=self.after_batch, on_close=self._closed, connecting=connecting)
        return conn if conn.state != CLOSED else None


def _nothing(*_: object) -> None:
    pass
