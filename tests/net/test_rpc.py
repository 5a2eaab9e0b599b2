"""RPC over real loopback ZeroMQ sockets with CurveZMQ and ZAP."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio

from onesh.net.keys import ClusterKeys, SecretError, create_secret, load_secret, start_authenticator
from onesh.net.rpc import HandlerError, RpcClient, RpcError, RpcServer, RpcTimeout, call_once

KEYS = ClusterKeys.from_secret(bytes(range(32)))
OTHER = ClusterKeys.from_secret(bytes(32))


def run(coro_fn: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro_fn())  # type: ignore[arg-type]


class Server:
    def __init__(self) -> None:
        self.ctx = zmq.asyncio.Context()
        self.auth = start_authenticator(self.ctx, KEYS)
        self.server = RpcServer(self.ctx, "tcp://127.0.0.1:0", KEYS, self.handler)
        self.endpoint = ""

    async def handler(self, method: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        if method == "echo":
            return {"body": body}
        if method == "sleep":
            await asyncio.sleep(body["s"])
            return {"slept": body["s"]}
        if method == "fail":
            raise HandlerError("nope")
        if method == "bug":
            raise ValueError("bug")
        raise HandlerError(f"unknown method {method!r}")

    async def __aenter__(self) -> Server:
        self.endpoint = await self.server.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()
        self.auth.stop()
        self.ctx.destroy(linger=0)


def test_secret_file_mode_and_derivation(tmp_path: Path) -> None:
    path = str(tmp_path / "s" / "secret")
    raw = create_secret(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret(path) == raw
    assert ClusterKeys.from_secret(raw) == ClusterKeys.from_secret(raw)
    assert ClusterKeys.from_secret(raw).raft_password != ClusterKeys.from_secret(bytes(32)).raft_password
    os.chmod(path, 0o644)
    with pytest.raises(SecretError, match="readable by others"):
        load_secret(path)
    with pytest.raises(FileExistsError):
        create_secret(path)


def test_roundtrip_concurrency_and_errors() -> None:
    async def main() -> None:
        async with Server() as s:
            client = RpcClient(s.ctx, s.endpoint, KEYS)
            try:
                assert await client.call("echo", {"x": [1, "a"]}) == {"body": {"x": [1, "a"]}}
                # concurrent calls complete out of order and are matched by id
                results = await asyncio.gather(*(client.call("sleep", {"s": d}) for d in (0.2, 0.05, 0.1)))
                assert [r["slept"] for r in results] == [0.2, 0.05, 0.1]
                with pytest.raises(RpcError, match="nope"):
                    await client.call("fail")
                with pytest.raises(RpcError, match="internal error"):
                    await client.call("bug")
                with pytest.raises(RpcTimeout):
                    await client.call("sleep", {"s": 1.0}, timeout=0.2)
                assert (await client.call("echo", {}))["body"] == {}
            finally:
                await client.close()

    run(main)


def test_wrong_keys_get_nothing() -> None:
    async def main() -> None:
        async with Server() as s:
            with pytest.raises(RpcTimeout):
                await call_once(s.ctx, s.endpoint, OTHER, "echo", {}, timeout=0.5)
            # a plain (no CURVE) client cannot even complete the handshake
            plain = s.ctx.socket(zmq.DEALER)
            plain.setsockopt(zmq.LINGER, 0)
            plain.connect(s.endpoint)
            await plain.send(b"\x80")
            assert not await plain.poll(500)
            plain.close()
            # and the real client still works
            assert await call_once(s.ctx, s.endpoint, KEYS, "echo", {"ok": 1}) == {"body": {"ok": 1}}

    run(main)


def test_garbage_is_rejected_and_server_keeps_serving() -> None:
    async def main() -> None:
        async with Server() as s:
            from onesh.net.keys import secure_client

            raw = s.ctx.socket(zmq.DEALER)
            raw.setsockopt(zmq.LINGER, 0)
            secure_client(raw, KEYS)
            raw.connect(s.endpoint)
            import msgpack

            bad = [b"not msgpack \xff", msgpack.packb([1, 2]), msgpack.packb({"v": 7, "t": "req", "id": 5, "m": "x", "b": {}}),
                   msgpack.packb({"v": 1, "t": "rep", "id": 6, "m": "x", "b": {}})]
            for frame in bad:
                await raw.send(frame)
            await raw.send_multipart([b"a", b"b"])
            # the version error carried an id, so it is answered with an err
            reply = await asyncio.wait_for(raw.recv(), 2)
            assert b"unsupported protocol version" in reply
            raw.close()
            assert await call_once(s.ctx, s.endpoint, KEYS, "echo", {}) == {"body": {}}
            assert s.server.rejected >= 4

    run(main)



def test_zap_admits_only_the_cluster_client_key() -> None:
    """A peer that learned the server's public key but holds its own client
    keypair passes Curve's crypto yet is refused by ZAP."""

    async def main() -> None:
        async with Server() as s:
            stranger = zmq.curve_keypair()
            sock = s.ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.CURVE_SERVERKEY, KEYS.server_public)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, stranger[0])
            sock.setsockopt(zmq.CURVE_SECRETKEY, stranger[1])
            sock.connect(s.endpoint)
            from onesh.net.messages import Message, encode

            await sock.send(encode(Message("req", 1, "echo", {})))
            assert not await sock.poll(500)
            sock.close()
            assert s.server.rejected == 0  # never even reached the server's decoder

    run(main)


def test_oversized_request_is_refused_and_busy_server_says_so() -> None:
    async def main() -> None:
        async with Server() as s:
            client = RpcClient(s.ctx, s.endpoint, KEYS)
            try:
                with pytest.raises(RpcError, match="too large"):
                    await client.call("echo", {"blob": b"x" * (2 << 20)})
                # the server's own limit, for a peer that does not check
                import msgpack

                from onesh.net.keys import secure_client

                raw = s.ctx.socket(zmq.DEALER)
                raw.setsockopt(zmq.LINGER, 0)
                secure_client(raw, KEYS)
                raw.connect(s.endpoint)
                await raw.send(msgpack.packb({"v": 1, "t": "req", "id": 9, "m": "echo", "b": {"x": b"y" * (1 << 20)}}))
                for _ in range(100):
                    if s.server.rejected >= 1:
                        break
                    await asyncio.sleep(0.02)
                assert s.server.rejected == 1
                await raw.send(b"z" * (3 << 20))  # beyond the socket's MAXMSGSIZE: zmq drops the peer
                await asyncio.sleep(0.2)
                raw.close()
                s.server.max_in_flight = 2
                results = await asyncio.gather(*(client.call("sleep", {"s": 0.2}) for _ in range(4)),
                                               return_exceptions=True)
                busy = [r for r in results if isinstance(r, RpcError)]
                assert len(busy) == 2 and all("server busy" in str(b) for b in busy)
                s.server.max_in_flight = 1024
                assert await client.call("echo", {"ok": True}) == {"body": {"ok": True}}
            finally:
                await client.close()

    run(main)
