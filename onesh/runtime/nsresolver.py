"""Namespace files for builtin agents running in a pipeline stage.

The planner decides which file arguments of a stage are cluster namespace
files and lists their absolute paths in `ONESH_NS_PATHS` (JSON); the
stage's agent (`python -m onesh.coreutils ...`) registers `resolve` so
opening one of those paths streams it from the nearest live replica (or,
for a named pipe, from its writers) instead of the local disk.  Named
pipes are also listed in `ONESH_NS_PIPES`: opening one of those for
writing (`tee /pipes/x`) publishes to its readers (`publish`).  Files a
stage writes by name (`tee FILE`) are listed in `ONESH_NS_OUTPUTS`: they
are written into the namespace (`write`).  Paths not listed fall through
to the host.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator
from typing import Any, BinaryIO, cast

ENV = "ONESH_NS_PATHS"
PIPES_ENV = "ONESH_NS_PIPES"
OUTPUTS_ENV = "ONESH_NS_OUTPUTS"


def listed(env: str = ENV) -> frozenset[str]:
    try:
        paths = json.loads(os.environ.get(env, "[]"))
    except ValueError:
        return frozenset()
    return frozenset(p for p in paths if isinstance(p, str))


def resolve(path: str) -> BinaryIO | None:
    full = _absolute(path)
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


def publish(path: str, append: bool = False, at: int | None = None) -> BinaryIO | None:
    """A writer into named pipe `path`: what the agent writes goes to every
    reader of the pipe (a helper thread runs the publisher).  (`at`: a
    pipe has no position; such a stage is never restarted.)"""
    full = _absolute(path)
    if full not in listed(PIPES_ENV) or at is not None:
        return None
    r, w = os.pipe()

    def pump() -> None:
        import asyncio

        try:
            asyncio.run(_publish(full, r))
        except Exception as e:  # noqa: BLE001 - the agent's own write then fails with EPIPE
            os.write(2, f"onesh: {path}: {e}\n".encode())
        finally:
            os.close(r)  # the agent's next write gets EPIPE, as with a FIFO nobody reads

    from onesh.coreutils.files import register_finisher

    thread = threading.Thread(target=pump, name="ns-publish", daemon=True)
    writer = os.fdopen(w, "wb")
    _publishing.append((thread, writer))
    register_finisher(_finish_publishing)
    thread.start()
    return writer


def write(path: str, append: bool = False, at: int | None = None) -> BinaryIO | None:
    """A namespace file written by the agent (`tee FILE` in a stage on
    the cluster): cut into chunks each stored on k runtimes as it is
    written, committed on a flush at most once a second, on `commit()`
    (tee's checkpoints) and on close (runtime/nsfiles.Writer).  `at`: go
    on from byte `at`, what lies past it cut off (tee's successor)."""
    full = _absolute(path)
    if full not in listed(OUTPUTS_ENV):
        return None
    from onesh.runtime.nsfiles import Writer

    return cast(BinaryIO, Writer(_program_namespace(), full, append, at, parents=True))


_pns: list[Any] = []  # the agent's namespace client for the files it writes (made on first use)


def _program_namespace() -> Any:
    if not _pns:
        from onesh.coreutils.files import register_finisher
        from onesh.runtime.syncns import ProgramNamespace

        _pns.append(ProgramNamespace(os.environ))
        register_finisher(_close_program_namespace)  # (after the tool closed its files: they committed)
    return _pns[0]


def _close_program_namespace() -> None:
    while _pns:
        _pns.pop().close()


async def _publish(path: str, fd: int) -> None:

    from onesh.runtime.namedpipes import Publisher

    async with _namespace() as ns:
        try:
            async with Publisher(ns, path) as pub:
                await pub.pump(fd)
        except BrokenPipeError:
            pass  # every reader left


@contextlib.asynccontextmanager
async def _namespace() -> AsyncIterator[Any]:
    """The cluster namespace from inside a stage's agent (its environment
    names the cluster), on a private zmq context with a ZAP handler (a
    named pipe's reader binds Curve servers)."""
    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret, start_authenticator
    from onesh.runtime.nsclient import Namespace

    keys = ClusterKeys.from_secret(load_secret(os.environ["ONESH_SECRET"]))
    ctx = zmq.asyncio.Context()
    auth = start_authenticator(ctx, keys)
    boot = [b for b in os.environ.get("ONESH_BOOT", "").split(",") if b]
    ns = Namespace(ctx, keys, boot, local_runtime=os.environ.get("ONESH_RUNTIME"))
    try:
        yield ns
    finally:
        await ns.close()
        auth.stop()
        ctx.destroy(linger=0)


# Named pipes being written: when the tool is done (onesh.coreutils.files
# finish(), before interpreter shutdown stops zmq's helpers) the agent's
# ends are closed and the publishers deliver, and have acknowledged,
# everything.  A Ctrl-C there (no reader ever came) ends the wait.
_publishing: list[tuple[threading.Thread, BinaryIO]] = []


def _finish_publishing() -> None:
    while _publishing:
        thread, writer = _publishing.pop(0)
        with contextlib.suppress(OSError, ValueError):
            writer.close()
        thread.join()


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

    async with _namespace() as ns:
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


def _absolute(path: str) -> str:
    """`path` against the shell's logical working directory (which may be
    a namespace directory this host does not have), else our own."""
    base = os.environ.get("ONESH_PWD") or os.getcwd()
    return os.path.normpath(os.path.join(base, path))
