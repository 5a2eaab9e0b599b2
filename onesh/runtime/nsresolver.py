"""Namespace files for builtin agents running in a pipeline stage.

The planner decides which file arguments of a stage are cluster namespace
files and lists their absolute paths in `ONESH_NS_PATHS` (JSON); the
stage's agent (`python -m onesh.coreutils ...`) registers `resolve` so
opening one of those paths streams it from the nearest live replica
instead of the local disk.  Paths not listed fall through to the host.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
from typing import Any, BinaryIO

ENV = "ONESH_NS_PATHS"


def listed() -> frozenset[str]:
    try:
        paths = json.loads(os.environ.get(ENV, "[]"))
    except ValueError:
        return frozenset()
    return frozenset(p for p in paths if isinstance(p, str))


def resolve(path: str) -> BinaryIO | None:
    full = os.path.normpath(os.path.join(os.getcwd(), path))
    if full not in listed():
        return None
    r, w = os.pipe()
    errors: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        import asyncio

        try:
            asyncio.run(_stream(full, w, ready, threading.current_thread()))
        except BrokenPipeError:
            pass
        except Exception as e:  # noqa: BLE001 - becomes the reader's error message
            errors.append(str(e))
        finally:
            ready.set()
            os.close(w)

    thread = threading.Thread(target=pump, name="ns-read", daemon=True)
    thread.start()
    ready.wait()
    if errors:
        os.close(r)
        raise FileNotFoundError(2, errors[0], path)
    return os.fdopen(r, "rb")


# Streams still running when the agent exits (`head` stops reading early):
# cancelling them lets a named pipe's writer hear "reader gone" at once
# instead of after its give-up timeout.
_running: dict[threading.Thread, tuple[Any, Any]] = {}


def _stop_streams() -> None:
    for thread, (loop, task) in list(_running.items()):
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(task.cancel)
        thread.join(1.0)


atexit.register(_stop_streams)


async def _stream(path: str, fd: int, ready: threading.Event, thread: threading.Thread) -> None:
    import asyncio

    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret, start_authenticator
    from onesh.runtime.nsclient import Namespace

    keys = ClusterKeys.from_secret(load_secret(os.environ["ONESH_SECRET"]))
    ctx = zmq.asyncio.Context()
    auth = start_authenticator(ctx, keys)  # a named pipe's reader binds Curve servers
    boot = [b for b in os.environ.get("ONESH_BOOT", "").split(",") if b]
    ns = Namespace(ctx, keys, boot, local_runtime=os.environ.get("ONESH_RUNTIME"))
    _running[thread] = (asyncio.get_running_loop(), asyncio.current_task())
    try:
        async with contextlib.aclosing(ns.read(path)) as chunks:
            async for chunk in chunks:
                ready.set()
                view = memoryview(chunk)
                while view:
                    n = await asyncio_write(fd, view)
                    view = view[n:]
        ready.set()
    except asyncio.CancelledError:
        pass  # the agent is exiting
    finally:
        _running.pop(thread, None)
        await ns.close()
        auth.stop()
        ctx.destroy(linger=0)


async def asyncio_write(fd: int, data: memoryview) -> int:
    """Write without blocking the helper's loop: when the agent stops
    reading (head is done) the loop must still see the cancel from
    `_stop_streams`, so that a named pipe's writer hears "reader gone"."""
    import asyncio

    os.set_blocking(fd, False)
    while True:
        try:
            return os.write(fd, data)
        except BlockingIOError:
            loop = asyncio.get_running_loop()
            ready = loop.create_future()
            loop.add_writer(fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_writer(fd)


def _wake(fut: Any) -> None:
    if not fut.done():
        fut.set_result(None)
