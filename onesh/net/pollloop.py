"""A blocking, single-threaded loop for code that is not asyncio.

A builtin agent is synchronous code (`run(argv, io) -> int`) that reads
and writes its network pipes itself (onesh.net.netio).  Its pipes'
transports are driven by this loop, which has the part of asyncio's loop
interface they use (add_reader, remove_reader, add_writer, remove_writer,
call_soon, call_later, time): the agent runs it, one round at a time, only
while it waits for input, for credit, or for an end of stream to be
acknowledged.
"""

from __future__ import annotations

import heapq
import itertools
import selectors
import time
from collections import deque
from collections.abc import Callable
from typing import Any

Callback = tuple[Callable[..., object], tuple[Any, ...]]


class Timer:
    """What call_later returns (asyncio's TimerHandle, the part used)."""

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]) -> None:
        self.when, self.callback, self.args = when, callback, args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class PollLoop:
    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._readers: dict[int, Callback] = {}
        self._writers: dict[int, Callback] = {}
        self._soon: deque[Callback] = deque()
        self._timers: list[tuple[float, int, Timer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return time.monotonic()  # (what asyncio's loop.time() is)

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        self._soon.append((callback, args))

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> Timer:
        timer = Timer(self.time() + delay, callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

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
        ready, run its callbacks, then the callbacks queued before this
        round.  Those its socket callbacks queue wait for the next round:
        a receiver's ack (queued as a burst of frames arrives) then leaves
        after the agent has handed the frames on, not before, as on
        asyncio's loop where the woken reader runs first."""
        queued = len(self._soon)
        if queued:
            timeout = 0
        while self._timers and self._timers[0][2].cancelled:
            heapq.heappop(self._timers)
        if self._timers:
            due = max(0.0, self._timers[0][0] - self.time())
            timeout = due if timeout is None else min(timeout, due)
        ready = self._selector.select(timeout)
        for key, mask in ready:
            fd = key.fd
            if mask & selectors.EVENT_READ and fd in self._readers:
                cb, args = self._readers[fd]
                cb(*args)
            if mask & selectors.EVENT_WRITE and fd in self._writers:
                cb, args = self._writers[fd]
                cb(*args)
        for _ in range(queued):
            cb, args = self._soon.popleft()
            cb(*args)
        now = self.time()
        while self._timers and self._timers[0][0] <= now:
            timer = heapq.heappop(self._timers)[2]
            if not timer.cancelled:
                timer.callback(*timer.args)

    def close(self) -> None:
        self._selector.close()
