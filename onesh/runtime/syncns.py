"""The cluster namespace for a program that knows nothing of asyncio.

A program running in the onesh context (onesh.runtime.evalctx) calls
`open()` and `os.stat()` synchronously, from any of its threads, maybe
from inside its own event loop.  So the namespace client (the same async
`Namespace` the builtin agents and stage hosts use, writing through the
same durable path: a chunk is acknowledged only once stored on k
replicas) runs on a private asyncio loop in a daemon thread, and each
call waits for its result there.  Made on first use: a program that only
reads stdin never imports zmq.

After a fork the child has no such thread: it makes its own on first use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running in a daemon thread."""

    def __init__(self, name: str = "onesh-ns") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    @property
    def ident(self) -> int | None:
        return self._thread.ident

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return wait(self.submit(coro), timeout)

    def stop(self) -> None:
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5.0)
        if not self._thread.is_alive():
            self.loop.close()


def wait(fut: concurrent.futures.Future[T], timeout: float | None = None) -> T:
    """The future's result; an interrupt (Ctrl-C) while waiting cancels it."""
    try:
        return fut.result(timeout)
    except BaseException:
        fut.cancel()
        raise


class ProgramNamespace:
    """The namespace client of one program process (the cluster is named
    by the stage's environment: ONESH_BOOT, ONESH_SECRET, ONESH_RUNTIME)."""

    def __init__(self, env: Mapping[str, str], on_thread: Callable[[int], None] | None = None) -> None:
        self.boot = [b for b in env.get("ONESH_BOOT", "").split(",") if b]
        self.secret = env["ONESH_SECRET"]
        self.runtime = env.get("ONESH_RUNTIME") or None
        self.thread = LoopThread()
        if on_thread is not None and self.thread.ident is not None:
            on_thread(self.thread.ident)  # (before anything runs on it)
        self.thread_pid = os.getpid()  # the process whose thread this is
        try:
            self.ns, self._ctx, self._auth = self.thread.run(self._open())
        except BaseException:
            self.thread.stop()
            raise

    async def _open(self) -> tuple[Any, Any, Any]:
        import zmq.asyncio

        from onesh.net.keys import ClusterKeys, load_secret, start_authenticator
        from onesh.runtime.nsclient import Namespace

        keys = ClusterKeys.from_secret(load_secret(self.secret))
        ctx = zmq.asyncio.Context()
        # (a named pipe's reader binds Curve servers: they need the ZAP handler)
        auth = start_authenticator(ctx, keys)
        return Namespace(ctx, keys, self.boot, local_runtime=self.runtime), ctx, auth

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.thread.run(coro)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return self.thread.submit(coro)

    def close(self) -> None:
        if os.getpid() != self.thread_pid:
            return  # a forked child: the thread and sockets are the parent's

        async def shut() -> None:
            await self.ns.close()
            self._auth.stop()
            self._ctx.destroy(linger=0)

        try:
            self.thread.run(shut(), timeout=5.0)
        except Exception:  # noqa: BLE001 - exiting anyway; nothing is lost (writers committed first)
            pass
        self.thread.stop()
