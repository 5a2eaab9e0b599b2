"""A blocking, single-threaded loop for code that is not asyncio.

A builtin agent is synchronous code (`run(argv, io) -> int`) that reads
and writes its network pipes itself (onesh.net.netio).  Its pipes'
transports are driven by this loop, which has the part of asyncio's loop
interface they use (add_reader, remove_reader, add_writer, remove_writer,
call_soon, time): the agent runs it, one round at a time, only while it
waits for input, for credit, or for an end of stream to be acknowledged.
"""

from __future__ import annotations

import selectors
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Callback = tuple[Callable[..., object], tuple[Any, ...]]


class PollLoop:
    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._readers: dict[int, Callback] = {}
        self._writers: dict[int, Callback] = {}
        self._soon: deque[Callback] = deque()

    def time(self) -> float:
        return time.monotonic()  # (what asyncio's loop.time() is)

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        self._soon.append((callback, args))

    def add_reader(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        self._readers[fd] = (callback, args)
        self._update(fd)

    def remove_reader(self, fd: int) -> bool:
        found = self._readers.pop(fd, None) is not None
        self._update(fd)
        return found

    def add_writer(self, fd: int, callback: Callable[..., object], *args: Any) -> None:
        self._writers[fd] = (callback, args)
        self._update(fd)

    def remove_writer(self, fd: int) -> bool:
        found = self._writers.pop(fd, None) is not None
        self._update(fd)
        return found

    def _update(self, fd: int) -> None:
        events = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if fd in self._writers else 0)
        try:
            key = self._selector.get_key(fd)
        except KeyError:
            if events:
                self._selector.register(fd, events)
            return
        if not events:
            self._selector.unregister(fd)
        elif key.events != events:
            self._selector.modify(fd, events)

    def run_once(self, timeout: float | None) -> None:
        """Wait up to `timeout` seconds (None: for ever) for a socket to be
        ready, run its callbacks, then the callbacks queued before."""
        if self._soon:
            timeout = 0
        ready = self._selector.select(timeout)
        for key, mask in ready:
            fd = key.fd
            if mask & selectors.EVENT_READ and fd in self._readers:
                cb, args = self._readers[fd]
                cb(*args)
            if mask & selectors.EVENT_WRITE and fd in self._writers:
                cb, args = self._writers[fd]
                cb(*args)
        for _ in range(len(self._soon)):
            cb, args = self._soon.popleft()
            cb(*args)

    def close(self) -> None:
        self._selector.close()
