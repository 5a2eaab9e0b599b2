"""Namespace files for builtin agents running in a pipeline stage.

The planner decides which file arguments of a stage are cluster namespace
files and lists their absolute paths in `ONESH_NS_PATHS` (JSON); the
stage's agent (`python -m onesh.coreutils ...`) registers `resolve` so
opening one of those paths streams it from the nearest live replica
instead of the local disk.  Paths not listed fall through to the host.
"""

from __future__ import annotations

import json
import os
import threading
from typing import BinaryIO

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
            asyncio.run(_stream(full, w, ready))
        except BrokenPipeError:
            pass
        except Exception as e:  # noqa: BLE001 - becomes the reader's error message
            errors.append(str(e))
        finally:
            ready.set()
            os.close(w)

    threading.Thread(target=pump, name="ns-read", daemon=True).start()
    ready.wait()
    if errors:
        os.close(r)
        raise FileNotFoundError(2, errors[0], path)
    return os.fdopen(r, "rb")


async def _stream(path: str, fd: int, ready: threading.Event) -> None:
    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret
    from onesh.runtime.nsclient import Namespace

    keys = ClusterKeys.from_secret(load_secret(os.environ["ONESH_SECRET"]))
    ctx = zmq.asyncio.Context()
    boot = [b for b in os.environ.get("ONESH_BOOT", "").split(",") if b]
    ns = Namespace(ctx, keys, boot, local_runtime=os.environ.get("ONESH_RUNTIME"))
    try:
        first = True
        async for chunk in ns.read(path):
            if first:
                ready.set()
                first = False
            view = memoryview(chunk)
            while view:
                n = await asyncio_write(fd, view)
                view = view[n:]
        ready.set()
    finally:
        await ns.close()
        ctx.destroy(linger=0)


async def asyncio_write(fd: int, data: memoryview) -> int:
    # The pipe's reader is this very process's agent: a blocking write in
    # this helper thread is fine (it only waits for the agent to read).
    return os.write(fd, data)
