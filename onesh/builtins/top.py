"""`top --cluster`: a live, full-screen view of the cluster.

    top --cluster                  full screen, refreshed every second; q quits
    top --cluster -b [-n N] [-d S] N plain snapshots S seconds apart (scripts)
    top ARGS...                    the system's top (as `ps` is the system's)

It shows the runtimes (CPU, memory, load, role, kernel agents), every
running stage with its bytes/s and lines/s in and out and whether it is
blocked on credit (waiting for a slower stage downstream: backpressure),
and the Raft leader.  Rates are differences between two samples, so even
a single snapshot (-b -n 1) samples twice, one delay apart.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from onesh.builtins.api import IO

USAGE = "top --cluster [-b] [-n N] [-d SECS]"


@dataclass
class Sample:
    at: float
    snap: dict[str, Any]
    info: dict[str, dict[str, Any]] = field(default_factory=dict)  # runtime → runtime.info
    rows: list[dict[str, Any]] = field(default_factory=list)  # every segment (stage.list)


async def take(boot: list[str], secret: str) -> Sample:
    """One look at the cluster: its status, then every live runtime at once."""
    from onesh.net.rpc import RpcError
    from onesh.runtime.client import _call

    snap = await _call(boot, secret, "cluster.status")
    sample = Sample(time.monotonic(), snap)
    live = {n: m["endpoint"] for n, m in snap["members"].items() if m.get("alive")}

    async def one(name: str, endpoint: str) -> None:
        try:
            info, stages = await asyncio.gather(_call([endpoint], secret, "runtime.info", {}, 1.5),
                                                _call([endpoint], secret, "stage.list", {}, 1.5))
        except (RpcError, Exception):  # noqa: BLE001 - one runtime's silence is shown, not fatal
            sample.info[name] = {"unreachable": True}
            return
        sample.info[name] = info
        sample.rows += [dict(r, runtime=name) for r in stages.get("rows", []) if r.get("state") != "done"]

    await asyncio.gather(*(one(n, ep) for n, ep in sorted(live.items())))
    return sample


def _rate(new: Any, old: Any, seconds: float) -> float | None:
    if not isinstance(new, int | float) or not isinstance(old, int | float) or seconds <= 0:
        return None
    return max(0.0, (new - old) / seconds)


def _bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return "-"


def _count(n: float | None) -> str:
    if n is None:
        return "-"
    return f"{n:.0f}" if n < 10_000 else f"{n / 1000:.1f}k"


def render(new: Sample, old: Sample | None) -> str:
    """The view as plain text (the full screen shows the same)."""
    from onesh.tables import format_table

    snap = new.snap
    members = snap["members"]
    leader = next((n for n, m in members.items() if m.get("raft") and m.get("raft") == snap.get("leader")), None)
    alive = sum(1 for m in members.values() if m.get("alive"))
    hosted: dict[str, list[str]] = {}
    for slot, host in sorted(snap["assign"].items()):
        hosted.setdefault(host, []).append(slot)
    dt = new.at - old.at if old is not None else 0.0
    head = (f"onesh cluster: {alive}/{len(members)} runtimes alive, leader {leader or 'none'}, "
            f"{len(snap['assign'])} kernel agents, {len(new.rows)} stages running   "
            f"{time.strftime('%H:%M:%S')}")
    runtimes = [["RUNTIME", "ROLE", "ALIVE", "CPU", "RSS", "LOAD", "LEASE", "KERNEL AGENTS"]]
    for name, m in sorted(members.items()):
        info = new.info.get(name, {})
        before = old.info.get(name, {}) if old is not None else {}
        cpu = _rate(info.get("cpu"), before.get("cpu"), dt)
        role = "leader" if name == leader else "voter" if m.get("raft") else "member"
        age = m.get("lease_age")
        runtimes.append([name, role, "yes" if m.get("alive") else "NO",
                         "?" if info.get("unreachable") else "-" if cpu is None else f"{cpu * 100:.1f}%",
                         _bytes(info.get("rss")) if info.get("rss") else "-",
                         f"{info['load']:.2f}" if isinstance(info.get("load"), int | float) else "-",
                         f"{age:.1f}s" if isinstance(age, int | float) else "-",
                         ",".join(hosted.get(name, [])) or "-"])
    previous = {(r["runtime"], r["job"], r["segment"]): r for r in (old.rows if old is not None else [])}
    stages = [["JOB", "SEG", "RUNTIME", "STATE", "IN/s", "LINES/s", "OUT/s", "LINES/s", "BLOCKED", "COMMAND"]]
    for r in sorted(new.rows, key=lambda r: (str(r["job"]), int(r["segment"]))):
        p = previous.get((r["runtime"], r["job"], r["segment"]), {})
        stages.append([str(r["job"]), str(r["segment"]), r["runtime"], str(r.get("state")),
                       _bytes(_rate(r.get("bytes_in"), p.get("bytes_in"), dt)),
                       _count(_rate(r.get("lines_in"), p.get("lines_in"), dt)),
                       _bytes(_rate(r.get("bytes_out"), p.get("bytes_out"), dt)),
                       _count(_rate(r.get("lines_out"), p.get("lines_out"), dt)),
                       "yes" if r.get("blocked") else "-", " | ".join(s.strip() for s in r.get("stages", []))])
    out = [head, "", format_table(runtimes), ""]
    out.append(format_table(stages) if len(stages) > 1 else "no stage running")
    return "\n".join(out) + "\n"


def top(argv: list[str], io: IO) -> int:
    shell = io.shell
    if "--cluster" not in argv[1:] and "-C" not in argv[1:]:
        return shell.run_argv(argv, skip_functions=True, skip_builtins=True)
    batch, count, delay = False, None, 1.0
    args = [a for a in argv[1:] if a not in ("--cluster", "-C")]
    k = 0
    try:
        while k < len(args):
            a = args[k]
            if a == "-b":
                batch = True
            elif a in ("-n", "-d") and k + 1 < len(args):
                k += 1
                if a == "-n":
                    count = int(args[k])
                else:
                    delay = float(args[k])
                if (count is not None and count < 1) or delay <= 0:
                    raise ValueError
            else:
                raise ValueError
            k += 1
    except ValueError:
        io.error("top", f"usage: {USAGE}")
        return 2
    from onesh.builtins.cluster import cluster_client

    client = cluster_client(io, "top")
    if client is None:
        return 1
    import os

    if batch or not os.isatty(1):
        return _batch(io, client.boot, client.secret, count or 1, delay)
    return _screen(io, client.boot, client.secret, count, delay)


def _batch(io: IO, boot: list[str], secret: str, count: int, delay: float) -> int:
    from onesh.aio import run_sync
    from onesh.runtime.localcluster import ClusterError

    async def go() -> None:
        old = await take(boot, secret)
        for n in range(count):
            await asyncio.sleep(delay)
            new = await take(boot, secret)
            io.out(("\n" if n else "") + render(new, old))
            old = new

    try:
        run_sync(go())
    except ClusterError as e:
        io.error("top", e.message)
        return 1
    return 0


def _screen(io: IO, boot: list[str], secret: str, count: int | None, delay: float) -> int:
    """Full screen until q (or Ctrl-C, or `count` refreshes)."""
    from prompt_toolkit.application import Application
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.layout import Layout, Window
    from prompt_toolkit.layout.controls import FormattedTextControl

    from onesh.aio import run_sync

    text = ["onesh: looking at the cluster..."]
    keys = KeyBindings()

    @keys.add("q")
    @keys.add("c-c")
    def _quit(event: Any) -> None:
        event.app.exit()

    app: Application[None] = Application(layout=Layout(Window(FormattedTextControl(lambda: text[0]))),
                                         key_bindings=keys, full_screen=True)

    async def refresh() -> None:
        old = None
        shown = 0
        while count is None or shown < count:
            try:
                new = await take(boot, secret)
                text[0] = render(new, old) + "\n(q quits)"
                old = new
            except Exception as e:  # noqa: BLE001 - shown, then tried again
                text[0] = f"onesh: the cluster does not answer: {e}\n(q quits)"
            app.invalidate()
            shown += 1
            await asyncio.sleep(delay)
        app.exit()

    async def run() -> None:
        task = asyncio.ensure_future(refresh())
        try:
            await app.run_async()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    run_sync(run())
    return 0
