"""TLS 1.3 contexts for pipes between hosts, from the cluster secret.

One Ed25519 key is derived from the secret (as the Curve keys are, see
keys.py) and one self-signed certificate made for it; Ed25519 signatures
are deterministic, so every holder of the secret derives the very same
certificate.  Both ends of a connection present it and trust nothing
else: each proves it holds the key (TLS 1.3 CertificateVerify), which
only a holder of the secret can.  Host names are not checked: the
cluster is the identity, as with Curve.

Only TLS 1.3 is accepted; its AEAD suites are AES-GCM (hardware AES on
most machines) and ChaCha20-Poly1305.  The key never touches a file: it
is handed to OpenSSL through an anonymous memory file (memfd), or a 0600
temporary file removed at once where there is none.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
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
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(int(keys.cluster_id, 16) or 1)
            .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, None))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


@functools.lru_cache(maxsize=8)
def tls_context(keys: ClusterKeys, *, server: bool) -> ssl.SSLContext:
    """One per cluster and side for the whole process (a context is made
    once: deriving the certificate costs milliseconds)."""
    cert, key = cluster_pem(keys)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the cluster is the identity (see above)
    ctx.verify_mode = ssl.CERT_REQUIRED  # mutual: a server asks for the client's certificate too
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
