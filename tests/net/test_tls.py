"""The TLS transport's security choices, each against a real listener on
loopback: TLS 1.3 only, both ends authenticated, the name checked against
the cluster's, no resumption, the key never in a file others can read."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from onesh.net.keys import ClusterKeys, create_secret, load_secret
from onesh.net.pipes import PipeReceiver
from onesh.net.tlscerts import cluster_pem, server_name, tls_context


@pytest.fixture
def keys(tmp_path: Path) -> ClusterKeys:
    create_secret(str(tmp_path / "secret"))
    assert stat.S_IMODE(os.stat(tmp_path / "secret").st_mode) == 0o600
    return ClusterKeys.from_secret(load_secret(str(tmp_path / "secret")))


def _client(keys: ClusterKeys, tmp_path: Path, *, cert: bool = True,
            tls12: bool = False, check_name: bool = True) -> ssl.SSLContext:
    """A client context built by hand, to be what the transport's is not."""
    pem, key = cluster_pem(keys)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = check_name
    ctx.load_verify_locations(cadata=pem.decode())
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        path = tmp_path / "client.pem"
        path.write_bytes(key + pem)
        os.chmod(path, 0o600)
        ctx.load_cert_chain(str(path))
    return ctx


def _run(keys: ClusterKeys, body: Callable[[PipeReceiver, str, int], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        rx = PipeReceiver(None, keys, "p", bind="tls://127.0.0.1:0")
        ep = await rx.start()
        try:
            return await asyncio.wait_for(body(rx, ep.rsplit(":", 2)[1].lstrip("/"), int(ep.rsplit(":", 1)[1])), 30)
        finally:
            await rx.close()

    return asyncio.run(main())


def test_contexts_are_tls13_mutual_and_without_tickets(keys: ClusterKeys) -> None:
    for server in (True, False):
        ctx = tls_context(keys, server=server)
        assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        assert ctx.options & ssl.OP_NO_TICKET
    assert tls_context(keys, server=False).check_hostname
    assert tls_context(keys, server=True).num_tickets == 0


def test_the_transport_client_gets_through_and_its_close_notify_ends_the_connection(keys: ClusterKeys) -> None:
    """(asyncio's client sends close_notify as it closes: the listener once
    took that for "more to come" and spun its loop for ever.)"""

    async def body(rx: PipeReceiver, host: str, port: int) -> str:
        _r, w = await asyncio.open_connection(host, port, ssl=tls_context(keys, server=False),
                                             server_hostname=server_name(keys))
        ssl_obj = w.get_extra_info("ssl_object")
        version = ssl_obj.version()
        w.close()
        await w.wait_closed()
        await asyncio.sleep(0.2)  # the listener's loop must still turn: this sleep ends
        return str(version)

    assert _run(keys, body) == "TLSv1.3"


def test_tls12_is_refused(keys: ClusterKeys, tmp_path: Path) -> None:
    async def body(rx: PipeReceiver, host: str, port: int) -> None:
        with pytest.raises(ssl.SSLError):
            await asyncio.open_connection(host, port, ssl=_client(keys, tmp_path, tls12=True),
                                          server_hostname=server_name(keys))

    _run(keys, body)


def test_a_client_without_the_cluster_certificate_is_dropped(keys: ClusterKeys, tmp_path: Path) -> None:
    """The server demands a certificate: one that shows none gets no byte
    through (in TLS 1.3 the server's refusal comes after the client's
    last handshake message, so the client learns it on its first read)."""

    async def body(rx: PipeReceiver, host: str, port: int) -> None:
        try:
            r, w = await asyncio.open_connection(host, port, ssl=_client(keys, tmp_path, cert=False),
                                                 server_hostname=server_name(keys))
        except (ssl.SSLError, ConnectionError):
            return
        w.write(b"x" * 100)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            got = await r.read(16)
            if not got:
                raise ConnectionError("closed")
        w.close()
        assert rx.peer is None and rx.proto.bytes_out == 0

    _run(keys, body)


def test_the_server_name_is_checked(keys: ClusterKeys, tmp_path: Path) -> None:
    """The client checks the server's certificate names this cluster: the
    right certificate under another name fails OpenSSL's hostname check."""

    async def body(rx: PipeReceiver, host: str, port: int) -> None:
        with pytest.raises(ssl.SSLCertVerificationError, match=r"match|mismatch"):
            await asyncio.open_connection(host, port, ssl=_client(keys, tmp_path),
                                          server_hostname="0000000000000000.onesh.invalid")
        # and with the cluster's name it passes, same certificate, same context
        _r, w = await asyncio.open_connection(host, port, ssl=_client(keys, tmp_path),
                                             server_hostname=server_name(keys))
        w.close()

    _run(keys, body)


def test_the_name_is_the_clusters(keys: ClusterKeys, tmp_path: Path) -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(cluster_pem(keys)[0])
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [f"{keys.cluster_id}.onesh.invalid"]
    create_secret(str(tmp_path / "other"))
    other = ClusterKeys.from_secret(load_secret(str(tmp_path / "other")))
    assert server_name(other) != server_name(keys)
