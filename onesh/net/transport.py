"""How a network pipe's messages travel: one interface, one implementation
per transport, and the one place that picks a transport.

A transport moves messages (a header and a body, `onesh.net.pipe_wire`)
and calls back on the ones it receives.  It knows nothing of sequence
numbers, acks, credit or replay: that is the pipe protocol's, above it
(`pipe_protocol`, driven by `pipes`).  A transport may lose messages when
its connection breaks; the protocol replays them.

    scheme    implementation            used for
    unix://   net/unixsock.py           two ends on one host, same user and
                                        mount namespace (samehost.host_key):
                                        a packet socket in a private directory,
                                        the kernel authenticates, no crypto
    tls://    net/tlslink.py            between hosts (the default): TLS 1.3,
                                        AES-GCM, mutual certificates derived
                                        from the cluster secret (net/tlscerts.py)
    tcp://    net/zmqlink.py            between hosts with ONESH_PIPE_TRANSPORT=zmq:
                                        ZeroMQ + CurveZMQ

The receiving end *listens* (`listen`: any number of connections, each
known by an opaque handle; a reply goes to one) and the sending end
*dials* (`dial`: one connection, opened again with `reopen`).

A pipe into a runtime the cluster cannot reach (`--dial-out`: NAT, a
firewall) is *turned round*: only who connects changes.  The writer's
link binds (`dial_in`: a `BoundLink`, whose `.endpoint` the reader is
given) and the reader's listener connects to it (`listen_out`, dialling
again whenever its connection is lost).  Everything above the connection
stays as it is: the messages, the handshake's roles (the reader is the
TLS or Curve server, the writer the client), which end replies to which.
Every transport offers it, though the shell turns round only pipes
between hosts (tls://, tcp://): nothing comes between two ends on one
host.

Transports are driven by a loop with asyncio's reader/writer interface
(`Loop`, asyncio's loop today; any loop with those calls will do, so a
blocking driver can use them too).  They never block: a message
the kernel cannot take yet waits in a backlog, in order, until the
socket is writable again (the protocol's credit bounds that backlog).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from onesh.net.pipe_protocol import Data

if TYPE_CHECKING:
    from onesh.net.keys import ClusterKeys

IPC_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep clear of it
BETWEEN_HOSTS = ("tls", "zmq")  # values of ONESH_PIPE_TRANSPORT; the first is the default


class Loop(Protocol):
    """What a transport asks of the loop that drives it (asyncio's names)."""

    def add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> None: ...

    def remove_reader(self, fd: int) -> bool: ...

    def add_writer(self, fd: int, callback: Callable[..., object], *args: Any) -> None: ...

    def remove_writer(self, fd: int) -> bool: ...

    def call_soon(self, callback: Callable[..., object], *args: Any) -> Any: ...

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Any: ...

    def time(self) -> float: ...


# A link calls on_message(header, body) for each message received, a
# listener on_message(conn, header, body); both call after_batch() once
# after each burst (the receiver acknowledges once per burst).
LinkCallback = Callable[[Data, Data], None]
ListenerCallback = Callable[[object, Data, Data], None]


class Link(Protocol):
    """The sending end's connection to a receiver."""

    @property
    def broken(self) -> bool:
        """The connection is lost (or never came up): `reopen` it."""

    @property
    def refused(self) -> bool:
        """The last connect found nothing listening: the reader closed its
        end (or died).  Never true where that cannot be told (zmq)."""

    def send(self, header: bytes, body: Data) -> None:
        """Queue one message; dropped while broken (the protocol replays)."""

    def reopen(self) -> None:
        """Drop the connection and open a fresh one."""

    def flush(self) -> bool:
        """Hand what waits to the kernel; True if something still waits."""

    def close(self) -> None: ...


class BoundLink(Link, Protocol):
    """A writer's link that listens (a turned-round pipe): its reader dials
    `endpoint`.  While no reader is connected, what is sent waits for it
    (in order; `reopen` drops it and the connection, and the reader dials
    again); `refused` is never true: a reader that never comes is told by
    the protocol's silence (pipe_ends.GIVE_UP_AFTER)."""

    endpoint: str


class Listener(Protocol):
    """The receiving end: accepts connections from its writers."""

    endpoint: str
    # Told when a connection ends (its writer closed it or died); a
    # ZeroMQ listener is never told (zmq hides its connections).
    on_lost: Callable[[object], None] | None

    def send(self, conn: object, header: bytes, body: Data) -> None:
        """To one connection (dropped if it is gone)."""

    def flush(self) -> bool: ...

    def close(self) -> None: ...


@dataclass
class Credentials:
    """What the transports between hosts need besides an address: the
    cluster keys (TLS certificates and Curve keys derive from them) and,
    for ZeroMQ only, the process's Context (a listener's needs a ZAP
    authenticator running on it: net.keys.start_authenticator)."""

    keys: ClusterKeys
    zmq_ctx: Any = None

    def zmq(self) -> Any:
        if self.zmq_ctx is None:
            raise RuntimeError("a ZeroMQ pipe needs the process's zmq Context")
        return self.zmq_ctx


def scheme(endpoint: str) -> str:
    return endpoint.split("://", 1)[0]


def listen(bind: str, creds: Credentials, on_message: ListenerCallback, after_batch: Callable[[], None],
           loop: Loop) -> Listener:
    """Bind `bind` (unix://PATH, tls://HOST:PORT, tcp://HOST:PORT; port 0:
    any) and accept writers; the bound address is `.endpoint`."""
    kind = scheme(bind)
    if kind == "unix":
        from onesh.net.unixsock import UnixListener

        return UnixListener(bind, on_message, after_batch, loop)
    if kind == "tls":
        from onesh.net.tlslink import TlsListener

        return TlsListener(bind, creds.keys, on_message, after_batch, loop)
    if kind == "tcp":
        from onesh.net.zmqlink import ZmqListener

        return ZmqListener(bind, creds, on_message, after_batch, loop)
    raise ValueError(f"no pipe transport for {bind!r}")


def dial(endpoint: str, creds: Credentials, on_message: LinkCallback, loop: Loop) -> Link:
    kind = scheme(endpoint)
    if kind == "unix":
        from onesh.net.unixsock import UnixLink

        return UnixLink(endpoint, on_message, loop)
    if kind == "tls":
        from onesh.net.tlslink import TlsLink

        return TlsLink(endpoint, creds.keys, on_message, loop)
    if kind == "tcp":
        from onesh.net.zmqlink import ZmqLink

        return ZmqLink(endpoint, creds, on_message, loop)
    raise ValueError(f"no pipe transport for {endpoint!r}")


def listen_out(endpoint: str, creds: Credentials, on_message: ListenerCallback, after_batch: Callable[[], None],
               loop: Loop) -> Listener:
    """A reader's listener that dials its writer's bound `endpoint` (a
    turned-round pipe: we cannot be reached) and dials it again when the
    connection is lost; its own `.endpoint` is empty (nobody dials us)."""
    kind = scheme(endpoint)
    if kind == "unix":
        from onesh.net.unixsock import UnixDialListener

        return UnixDialListener(endpoint, on_message, after_batch, loop)
    if kind == "tls":
        from onesh.net.tlslink import TlsDialListener

        return TlsDialListener(endpoint, creds.keys, on_message, after_batch, loop)
    if kind == "tcp":
        from onesh.net.zmqlink import ZmqListener

        return ZmqListener(endpoint, creds, on_message, after_batch, loop, connect=True)
    raise ValueError(f"no pipe transport for {endpoint!r}")


def dial_in(bind: str, creds: Credentials, on_message: LinkCallback, loop: Loop) -> BoundLink:
    """A writer's link that binds `bind` (unix://PATH, tls://HOST:PORT,
    tcp://HOST:PORT; port 0: any) and waits for its reader to dial in (a turned-round pipe)."""
    kind = scheme(bind)
    if kind == "unix":
        from onesh.net.unixsock import UnixBoundLink

        return UnixBoundLink(bind, on_message, loop)
    if kind == "tls":
        from onesh.net.tlslink import TlsBoundLink

        return TlsBoundLink(bind, creds.keys, on_message, loop)
    if kind == "tcp":
        from onesh.net.zmqlink import ZmqLink

        return ZmqLink(bind, creds, on_message, loop, bind=True)
    raise ValueError(f"no pipe transport for {bind!r}")


def between_hosts(wanted: str | None = None) -> str:
    """The transport of pipes that cross hosts: `wanted` if it names one
    (the shell that wires a job picks for all its pipes, so a job's
    stages agree whatever their runtimes' environments say), else
    $ONESH_PIPE_TRANSPORT, else the default."""
    if wanted is None:
        wanted = os.environ.get("ONESH_PIPE_TRANSPORT", BETWEEN_HOSTS[0])
    return wanted if wanted in BETWEEN_HOSTS else BETWEEN_HOSTS[0]


def pipe_bind(tcp_host: str, same_host: bool, transport: str | None = None) -> str:
    """Where a pipe receiver binds: a fresh socket file in this user's
    private directory when its writer is on this host (and the directory
    is usable), else an ephemeral port on `tcp_host` with the transport
    between hosts (`between_hosts(transport)`)."""
    if same_host:
        from onesh.net.samehost import ipc_dir

        d = ipc_dir()
        if d is not None:
            path = os.path.join(d, f"p{secrets.token_hex(8)}")
            if len(path) <= IPC_PATH_MAX:
                return f"unix://{path}"
    host = f"[{tcp_host}]" if ":" in tcp_host and not tcp_host.startswith("[") else tcp_host
    return f"{'tls' if between_hosts(transport) == 'tls' else 'tcp'}://{host}:0"
