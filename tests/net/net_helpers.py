"""Shared by the tests of tests/net."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import zmq.asyncio

from onesh.net.keys import ClusterKeys, start_authenticator


async def zmq_session(keys: ClusterKeys, body: Callable[[zmq.asyncio.Context], Awaitable[Any]]) -> Any:
    """Run `body` with a zmq context whose Curve servers admit the cluster
    of `keys` (its ZAP handler running), within 60 s; then tear it down."""
    ctx = zmq.asyncio.Context()
    auth = start_authenticator(ctx, keys)
    try:
        return await asyncio.wait_for(body(ctx), 60)
    finally:
        auth.stop()
        ctx.destroy(linger=0)
