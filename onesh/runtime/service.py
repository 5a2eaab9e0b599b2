"""The embedded cluster as a per-user background service (like a tmux server).

The first shell that needs a cluster, with none chosen, starts the user's
embedded cluster (onesh.runtime.client.ClusterHandle); it outlives that
shell, every later shell attaches to it in milliseconds, and it stops by
itself once it has been idle for a while: no attached shell
(onesh.contexts.attached_shells) and no running stage on any runtime.
`onesh cluster down --data-dir ~/.local/share/onesh/clusters/embedded`
stops it at once.

Settings, in ~/.config/onesh/config.toml (all optional):

    [embedded]
    idle_stop = 600     # seconds idle before it stops (0: never)
    runtimes = 3
    sensors = 2         # simulated sensors /dev/sensor/1..N
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime

log = logging.getLogger("onesh.service")


@dataclass(frozen=True)
class Settings:
    idle_stop: float = 600.0
    runtimes: int = 3
    sensors: int = 2


def settings() -> Settings:
    """The [embedded] table of the user's config.toml (defaults where absent
    or unreadable: a bad config must not keep the shell from working)."""
    import tomllib

    from onesh.contexts import config_dir

    path = os.path.join(config_dir(), "config.toml")
    try:
        with open(path, "rb") as f:
            table = tomllib.load(f).get("embedded", {})
    except FileNotFoundError:
        return Settings()
    except (OSError, tomllib.TOMLDecodeError) as e:
        sys.stderr.write(f"onesh: {path}: {e}; using the defaults\n")
        return Settings()
    base = Settings()

    def number(key: str, default: float, lowest: float) -> float:
        value = table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < lowest:
            sys.stderr.write(f"onesh: {path}: [embedded] {key} must be a number >= {lowest:g}; "
                             f"using {default:g}\n")
            return default
        return float(value)

    return Settings(idle_stop=number("idle_stop", base.idle_stop, 0),
                    runtimes=int(number("runtimes", base.runtimes, 1)),
                    sensors=int(number("sensors", base.sensors, 0)))


async def running_stages(runtime: Runtime) -> int:
    """Segments running anywhere in the cluster (every live runtime asked)."""
    from onesh.net.rpc import RpcError

    snap = await runtime.snapshot()
    endpoints = [m["endpoint"] for m in snap["members"].values() if m.get("alive") and m.get("endpoint")]

    async def one(endpoint: str) -> int:
        try:
            reply = await runtime.rpc.call(endpoint, "stage.which", {"names": []}, 2.0)
        except RpcError:
            return 1  # (a runtime that does not answer may well be busy: not idle)
        return int(reply.get("stages", 0))

    return sum(await asyncio.gather(*(one(ep) for ep in endpoints)))


async def idle_loop(runtime: Runtime) -> None:
    """On the Raft leader's runtime of a cluster started with --idle-stop:
    stop the whole cluster once it has been idle that long."""
    from onesh.contexts import attached_shells

    limit = runtime.cfg.idle_stop
    cluster_dir = os.path.dirname(os.path.abspath(runtime.cfg.data_dir))
    check = max(0.5, min(30.0, limit / 5))
    idle_since = time.monotonic()
    while True:
        await asyncio.sleep(check)
        now = time.monotonic()
        state: Any = runtime.state
        if state is None or not state._isLeader():
            idle_since = now  # (only the leader decides; a new one starts counting)
            continue
        try:
            busy = bool(attached_shells(cluster_dir)) or await running_stages(runtime) > 0
        except Exception as e:  # noqa: BLE001 - when unsure, the cluster is not idle
            log.info("idle check failed: %s", e)
            busy = True
        if busy:
            idle_since = now
        elif now - idle_since >= limit:
            log.info("idle for %.0fs (no attached shell, no running stage): stopping the cluster", now - idle_since)
            with contextlib.suppress(OSError):
                subprocess.Popen([sys.executable, "-m", "onesh", "cluster", "down", "--data-dir", cluster_dir],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                 start_new_session=True)
            return


def install(runtime: Runtime) -> None:
    if runtime.cfg.idle_stop > 0:
        runtime.loops.append(lambda: idle_loop(runtime))
