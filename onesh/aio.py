"""Run a coroutine to completion from synchronous shell code.

The engine is synchronous; cluster work is asyncio.  From `onesh -c` there
is no running loop and `asyncio.run` does.  The REPL, though, runs each
command synchronously from inside its own (then idle) prompt_toolkit loop,
where `asyncio.run` refuses to start: there we run a private loop in the
same thread (signal handlers need the main thread) and restore the REPL
loop, and its signal wake-up fd, afterwards.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    try:
        outer = asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    from asyncio import events

    main = threading.current_thread() is threading.main_thread()
    wakeup = signal.set_wakeup_fd(-1) if main else -1
    if main:
        signal.set_wakeup_fd(wakeup)
    events._set_running_loop(None)
    try:
        return asyncio.run(coro)
    finally:
        events._set_running_loop(outer)
        if main:
            signal.set_wakeup_fd(wakeup)


async def within(aw: Awaitable[T], timeout: float | None) -> T:
    """`asyncio.wait_for` without its Python 3.11 flaw: a cancellation that
    arrives just as the awaitable finishes is never swallowed (wait_for
    could lose it, and a loop around it then never stopped: a task
    group waiting for it hung forever)."""
    async with asyncio.timeout(timeout):
        return await aw
