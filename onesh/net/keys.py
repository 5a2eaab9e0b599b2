"""Cluster secret and the keys derived from it.

One 32-byte secret (a hex file, mode 0600) is the root of trust: CurveZMQ
server and client keypairs, the Raft password, the lease channel's key and
the seed of the pipes' TLS key (net/tlscerts.py) are derived from it with
BLAKE2b under distinct personalisation strings, so a peer without the secret
can neither complete a Curve or TLS handshake nor speak to the Raft port.
"""

from __future__ import annotations

import os
import stat

# Importing hashlib, hmac or secrets loads _hashlib, which maps OpenSSL's
# libcrypto (about 3.5 MB of RSS) into every runtime, for nothing at idle:
# a runtime loads it only when it hashes data (kernel.storage).  So:
# hashlib.blake2b is _blake2.blake2b (hashlib never uses OpenSSL's), and
# _operator._compare_digest is hmac.compare_digest in a Python without
# OpenSSL (with it, hmac takes OpenSSL's CRYPTO_memcmp): both constant-time.
from _blake2 import blake2b
from _operator import _compare_digest as compare_digest
from dataclasses import dataclass
from typing import Any

from onesh.errors import OneshError


class SecretError(OneshError):
    status = 1


def create_secret(path: str) -> bytes:
    """Write a fresh secret; refuses to overwrite an existing one."""
    raw = os.urandom(32)  # (what secrets.token_bytes is)
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, raw.hex().encode() + b"\n")
    finally:
        os.close(fd)
    return raw


def load_secret(path: str) -> bytes:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise SecretError(f"{path}: cluster secret not found") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise SecretError(f"{path}: cluster secret is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
                          f"run: chmod 600 {path}")
    with open(path, "rb") as f:
        text = f.read().strip()
    try:
        raw = bytes.fromhex(text.decode())
    except ValueError:
        raise SecretError(f"{path}: not a cluster secret (expected 64 hex digits)") from None
    if len(raw) != 32:
        raise SecretError(f"{path}: not a cluster secret (expected 64 hex digits)")
    return raw


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return blake2b(secret, digest_size=32, person=purpose.ljust(16, b"\0")[:16]).digest()


@dataclass(frozen=True)
class ClusterKeys:
    server_public: bytes
    server_secret: bytes
    client_public: bytes
    client_secret: bytes
    raft_password: str
    cluster_id: str
    lease_key: bytes = b""  # AES-256-GCM key of the lease datagrams (net.leasewire)
    tls_seed: bytes = b""  # the Ed25519 private key of the pipes' TLS certificate (net.tlscerts)

    @classmethod
    def from_secret(cls, secret: bytes) -> ClusterKeys:
        import zmq
        from zmq.utils import z85

        ss = z85.encode(_derive(secret, b"onesh-curve-srv"))
        cs = z85.encode(_derive(secret, b"onesh-curve-cli"))
        return cls(
            server_public=zmq.curve_public(ss),
            server_secret=ss,
            client_public=zmq.curve_public(cs),
            client_secret=cs,
            raft_password=_derive(secret, b"onesh-raft").hex(),
            cluster_id=_derive(secret, b"onesh-cluster-id").hex()[:16],
            lease_key=_derive(secret, b"onesh-lease"),
            tls_seed=_derive(secret, b"onesh-pipe-tls"),
        )


def secure_server(sock: Any, keys: ClusterKeys) -> None:
    import zmq

    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.server_secret)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.server_public)


def secure_client(sock: Any, keys: ClusterKeys) -> None:
    import zmq

    sock.setsockopt(zmq.CURVE_SERVERKEY, keys.server_public)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, keys.client_public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, keys.client_secret)


class _AllowClusterKey:
    """ZAP credentials provider admitting only the cluster's client key."""

    def __init__(self, keys: ClusterKeys) -> None:
        self.allowed = keys.client_public

    def callback(self, domain: str, key: bytes) -> bool:
        return compare_digest(key, self.allowed)


def start_authenticator(ctx: Any, keys: ClusterKeys) -> Any:
    """Start the ZAP handler for this process's Context; call .stop() at exit."""
    from zmq.auth.asyncio import AsyncioAuthenticator

    auth = AsyncioAuthenticator(ctx)
    auth.start()
    auth.configure_curve_callback("*", credentials_provider=_AllowClusterKey(keys))
    return auth
