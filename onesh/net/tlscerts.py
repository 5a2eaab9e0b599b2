"""TLS 1.3 contexts for pipes between hosts, from the cluster secret.

One Ed25519 key is derived from the secret (as the Curve keys are, see
keys.py) and one self-signed certificate made for it; Ed25519 signatures
are deterministic, so every holder of the secret derives the very same
certificate.  Both ends of a connection present it and trust nothing
else: each proves it holds the key (TLS 1.3 CertificateVerify), which
only a holder of the secret can.

The identity checked is the cluster's, not a host's (a runtime has no
name of its own that a certificate could vouch for; every member holds
the same secret, as with Curve).  It is checked the standard ways: the
client verifies the server's certificate chain *and* its name (the
certificate's subjectAltName is `server_name(keys)`, derived from the
cluster id: OpenSSL's hostname check), the server verifies the client's
chain; then each end compares the certificate its peer presented with
the cluster's, byte for byte (`peer_is_cluster`), so nothing but this
one certificate is ever accepted.

Only TLS 1.3 is accepted; its AEAD suites are AES-GCM (hardware AES on
most machines) and ChaCha20-Poly1305.  No session tickets: every
connection is a full handshake with both certificates (pipes connect a
few times per job; resumption would save nothing worth a second path).
The key never touches a file: it is handed to OpenSSL through an
anonymous memory file (memfd), or a 0600 temporary file removed at once
where there is none.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import hmac
import os
import ssl
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from onesh.net.keys import ClusterKeys


def cluster_pem(keys: ClusterKeys) -> tuple[bytes, bytes]:
    """(certificate, private key), PEM, derived from the cluster's keys."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.x509.oid import NameOID

    if len(keys.tls_seed) != 32:
        raise ValueError("cluster keys without a TLS seed")
    key = Ed25519PrivateKey.from_private_bytes(keys.tls_seed)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"onesh cluster {keys.cluster_id}")])
    alt = x509.SubjectAlternativeName([x509.DNSName(server_name(keys))])
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(int(keys.cluster_id, 16) or 1)
            .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(alt, critical=False)
            .sign(key, None))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def server_name(keys: ClusterKeys) -> str:
    """The name a client checks the server's certificate for (never
    resolved: `.invalid` is reserved for that, RFC 2606)."""
    return f"{keys.cluster_id}.onesh.invalid"


@functools.lru_cache(maxsize=8)
def cluster_der(keys: ClusterKeys) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    return x509.load_pem_x509_certificate(cluster_pem(keys)[0]).public_bytes(serialization.Encoding.DER)


def peer_is_cluster(tls: ssl.SSLObject, keys: ClusterKeys) -> bool:
    """After the handshake: the peer presented the cluster's certificate
    itself (OpenSSL checked it chains to it and that the peer holds its
    key; this leaves no other certificate that could pass)."""
    der = tls.getpeercert(binary_form=True)
    return der is not None and hmac.compare_digest(der, cluster_der(keys))


@functools.lru_cache(maxsize=8)
def tls_context(keys: ClusterKeys, *, server: bool) -> ssl.SSLContext:
    """One per cluster and side for the whole process (a context is made
    once: deriving the certificate costs milliseconds)."""
    cert, key = cluster_pem(keys)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual: a server asks for the client's certificate too
    if not server:
        ctx.check_hostname = True  # against server_name(keys), given to wrap_bio
    ctx.options |= ssl.OP_NO_TICKET
    if server:
        ctx.num_tickets = 0  # (TLS 1.3 sends tickets unless told not to)
    ctx.load_verify_locations(cadata=cert.decode())
    with _private_file(key + cert) as path:
        ctx.load_cert_chain(path)
    return ctx


@contextlib.contextmanager
def _private_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can read `data` from, gone when the block ends."""
    memfd = getattr(os, "memfd_create", None)
    if memfd is not None and os.path.isdir("/proc/self/fd"):
        fd = memfd("onesh-tls", getattr(os, "MFD_CLOEXEC", 0))
        try:
            os.write(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    fd, path = tempfile.mkstemp(prefix="onesh-tls-")  # (mode 0600)
    try:
        os.write(fd, data)
        os.close(fd)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
