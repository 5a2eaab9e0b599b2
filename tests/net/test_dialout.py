"""Reverse connectivity over real zmq sockets on loopback: requests to a
server that only dials out, through a relay (net/relay.py), and pipes
whose reader dials its writer (the roles of the connection turned round)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import zmq
import zmq.asyncio
from net_helpers import zmq_session

from onesh.engine.distributed import Job, start_order
from onesh.errors import OneshError
from onesh.net.keys import ClusterKeys
from onesh.net.pipe_protocol import PipeError
from onesh.net.pipes import PipeReceiver, PipeSender
from onesh.net.relay import Relay
from onesh.net.rpc import RpcError, RpcServer, call_once

KEYS = ClusterKeys.from_secret(bytes(range(32)))
OTHER = ClusterKeys.from_secret(bytes(32))


def test_requests_reach_a_server_through_the_relay_it_dialled() -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        async def handler(method: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
            return {"method": method, "body": body}

        relay = Relay(ctx, KEYS, "127.0.0.1")
        front, back = relay.start()
        # The device: a server that nobody dials ("listens" on its own
        # loopback port only), connected out to the relay.
        device = RpcServer(ctx, "tcp://127.0.0.1:0", KEYS, handler, keep_alive=True)
        await device.start()
        device.connect(back)
        try:
            replies = await asyncio.gather(*(call_once(ctx, front, KEYS, "echo", {"n": i}, 5.0) for i in range(20)))
            assert [r["body"]["n"] for r in replies] == list(range(20))
            assert relay.forwarded == 40  # 20 requests in, 20 replies out
            # A stranger (other keys) is refused at the relay's door.
            try:
                await call_once(ctx, front, OTHER, "echo", {}, 0.5)
            except RpcError:
                pass
            else:
                raise AssertionError("a client without the cluster's keys was answered")
        finally:
            await device.close()
            await relay.close()

    asyncio.run(zmq_session(KEYS, body))


def test_a_relay_whose_device_is_not_connected_times_out_and_goes_on() -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        async def handler(method: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
            return {"ok": True}

        relay = Relay(ctx, KEYS, "127.0.0.1")
        front, back = relay.start()
        try:
            await call_once(ctx, front, KEYS, "echo", {}, 0.3)
        except RpcError:
            pass
        else:
            raise AssertionError("answered without a device")
        device = RpcServer(ctx, "tcp://127.0.0.1:0", KEYS, handler)
        await device.start()
        device.connect(back)
        try:
            for _ in range(20):  # (the device's connection comes up)
                try:
                    assert (await call_once(ctx, front, KEYS, "echo", {}, 0.5))["ok"]
                    break
                except RpcError:
                    continue
            else:
                raise AssertionError("the relay never reached the device")
        finally:
            await device.close()
            await relay.close()

    asyncio.run(zmq_session(KEYS, body))


def _bind(scheme: str, tmp_path: Path) -> str:
    """Where a writer of a turned-round pipe listens, per transport."""
    return f"unix://{tmp_path}/p" if scheme == "unix" else f"{scheme}://127.0.0.1:0"


@pytest.mark.parametrize("scheme", ["tls", "tcp", "unix"])
def test_a_pipe_whose_reader_dials_its_writer_delivers_every_byte_once(scheme: str, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 777)

    async def body(ctx: zmq.asyncio.Context) -> None:
        tx = PipeSender(ctx, KEYS, "job/1/in", bind=_bind(scheme, tmp_path))
        ep = await tx.start()
        if scheme == "unix":
            assert ep == f"unix://{tmp_path}/p"
        else:
            assert ep.startswith(f"{scheme}://127.0.0.1:") and not ep.endswith(":0")
        rx = PipeReceiver(ctx, KEYS, "job/1/in", connect=ep)
        assert await rx.start() == ""
        got = bytearray()

        async def reader() -> None:
            while chunk := await rx.read():
                got.extend(chunk)

        task = asyncio.create_task(reader())
        for i in range(0, len(data), 100_000):
            await tx.write(data[i:i + 100_000])
            if i == 1_000_000:
                await tx.reconnect()  # a relink: the bound end says hello again and replays
        await tx.close()
        await task
        await rx.close()
        assert bytes(got) == data
        # The reader dials a second connection after the relink; zmq's
        # bound socket is kept, one connection throughout.
        assert tx.reconnects == 1 and rx.links == (1 if scheme == "tcp" else 2)

    asyncio.run(zmq_session(KEYS, body))


@pytest.mark.parametrize("scheme", ["tls", "tcp", "unix"])
def test_a_writer_whose_reader_never_dials_in_is_told_it_is_gone(scheme: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from onesh.net import pipe_ends

    monkeypatch.setattr(pipe_ends, "GIVE_UP_AFTER", 1.0)

    async def body(ctx: zmq.asyncio.Context) -> None:
        tx = PipeSender(ctx, KEYS, "job/1/in", bind=_bind(scheme, tmp_path))
        await tx.start()
        with pytest.raises(PipeError, match="unreachable"):
            for _ in range(100):
                await asyncio.wait_for(tx.write(b"x" * 65536), 5)
        await tx.abort("test over")

    asyncio.run(zmq_session(KEYS, body))


def test_a_stranger_at_a_bound_writer_gets_nothing_and_the_reader_gets_everything() -> None:
    async def body(ctx: zmq.asyncio.Context) -> None:
        tx = PipeSender(ctx, KEYS, "job/1/in", bind="tls://127.0.0.1:0")
        ep = await tx.start()
        stranger = PipeReceiver(ctx, OTHER, "job/1/in", connect=ep)  # other keys: its handshake fails
        await stranger.start()
        await asyncio.sleep(0.3)
        rx = PipeReceiver(ctx, KEYS, "job/1/in", connect=ep)
        await rx.start()
        await tx.write(b"hello\n")
        await tx.close(timeout=10)
        assert await rx.read() == b"hello\n"
        assert await rx.read() == b""
        assert stranger.links == 0
        await rx.close()
        await stranger.close()

    asyncio.run(zmq_session(KEYS, body))


def test_start_order_binds_before_it_dials() -> None:
    assert start_order([False, False, False]) == [2, 1, 0]  # readers bind: last to first
    assert start_order([False, True, False]) == [2, 0, 1]  # 1 dials out: 0 binds its output first
    assert start_order([False, False, True]) == [1, 2, 0]
    assert start_order([True]) == [0]


def test_which_pipes_the_reader_dials() -> None:
    members = {"r1": {"host_key": "A"}, "edge1": {"host_key": "B", "reachable": False},
               "edge2": {"host_key": "C", "reachable": False}, "old": {"host_key": "D"}}  # (no field: reachable)

    def dials(segments: list[str], i: int, here: str | None = "Z") -> bool:
        job = SimpleNamespace(snap={"members": members}, segments=[(rt, [k]) for k, rt in enumerate(segments)])
        keys = [members[rt]["host_key"] for rt in segments]
        return bool(Job.reader_dials(job, i, keys, here))  # type: ignore[arg-type]

    assert dials(["r1", "edge1"], 1)  # a reachable writer binds, the device dials
    assert not dials(["edge1", "r1"], 1)  # the reachable reader binds, as ever
    assert not dials(["old", "r1"], 1)
    assert dials(["edge1"], 0)  # the shell feeds the device: the shell binds
    assert not dials(["edge1"], 0, here="B")  # the shell on the device itself: a Unix socket
    with pytest.raises(OneshError, match="edge1 and edge2 both dial out"):
        dials(["edge1", "edge2"], 1)
