"""Awaiting a Raft commit from asyncio.

Apart from membership.py (the replicated state, a pysyncobj SyncObj) so
that a member runtime, which is not a Raft node and only catches
CommitError from the commands it sends a voter, never imports pysyncobj:
it costs every member a few MB it would not use (pysyncobj itself, pickle,
ctypes, gzip, and cryptography's Fernet)."""

from __future__ import annotations

import asyncio
from typing import Any

from onesh.aio import within


class CommitError(Exception):
    pass


async def submit(loop: asyncio.AbstractEventLoop, method: Any, *args: Any, timeout: float = 2.0) -> Any:
    """Run a replicated method and await its commit from asyncio (pysyncobj
    calls back on its own thread)."""
    fut: asyncio.Future[Any] = loop.create_future()

    def done(result: Any, error: int) -> None:
        def settle() -> None:
            if fut.done():
                return
            if error == 0:  # FAIL_REASON.SUCCESS
                fut.set_result(result)
            else:
                fut.set_exception(CommitError(f"raft commit failed (reason {error})"))

        loop.call_soon_threadsafe(settle)

    method(*args, callback=done)
    return await within(fut, timeout)
