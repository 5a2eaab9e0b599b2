"""Cluster builtins: nodes, uptime."""

from __future__ import annotations

import time
from typing import Any

from onesh.builtins.api import IO
from onesh.parser.errors import OneshError


def _status(io: IO, name: str) -> dict[str, Any] | None:
    get = getattr(io.shell, "cluster", None)
    if get is None:
        io.error(name, "no cluster available in this shell")
        return None
    try:
        return dict(get().status())
    except OneshError as e:
        io.error(name, e.message)
        return None


def nodes(argv: list[str], io: IO) -> int:
    snap = _status(io, "nodes")
    if snap is None:
        return 1
    from onesh.runtime.commands import _table

    hosted: dict[str, list[str]] = {}
    for slot, host in sorted(snap["assign"].items()):
        hosted.setdefault(host, []).append(slot)
    rows = [["NAME", "ADDRESS", "TAGS", "LOAD", "AGENTS", "ALIVE"]]
    for name, m in sorted(snap["members"].items()):
        tags = ",".join(f"{k}={v}" for k, v in sorted(m.get("tags", {}).items())) or "-"
        rows.append([name, m.get("endpoint", "?"), tags, f"{m.get('load', 0):.2f}",
                     ",".join(hosted.get(name, [])) or "-", "yes" if m.get("alive") else "no"])
    io.out(_table(rows) + "\n")
    return 0


def uptime(argv: list[str], io: IO) -> int:
    snap = _status(io, "uptime")
    if snap is None:
        return 1
    members = snap["members"]
    alive = [m for m in members.values() if m.get("alive")]
    oldest = min((m.get("started", time.time()) for m in members.values()), default=time.time())
    up = int(time.time() - oldest)
    h, rem = divmod(up, 3600)
    mins, secs = divmod(rem, 60)
    loads = [m.get("load", 0.0) for m in alive]
    avg = sum(loads) / len(loads) if loads else 0.0
    io.out(f"up {h}:{mins:02d}:{secs:02d}, {len(alive)}/{len(members)} runtimes alive, "
           f"{len(snap['assign'])} kernel agents placed, leader {snap.get('leader') or 'none'}, "
           f"load average {avg:.2f}\n")
    return 0
