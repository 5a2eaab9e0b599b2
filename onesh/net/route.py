"""Which of this machine's addresses a peer can dial back."""

from __future__ import annotations

import socket


def source_address(peer: str) -> str:
    """The local address the kernel would send from to reach `peer` (no
    packet is sent: connecting a UDP socket only picks the route).  For a
    cluster on a LAN that is this machine's LAN address, which the
    cluster's devices can reach; loopback if there is no route."""
    family = socket.AF_INET6 if ":" in peer else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((peer, 9))
            return str(s.getsockname()[0])
    except OSError:
        return "::1" if family == socket.AF_INET6 else "127.0.0.1"
