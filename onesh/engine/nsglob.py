"""Pathname expansion and completion listings on the cluster namespace.

Who may contact the cluster for a glob (`pathnames`):

- a pattern whose literal directory prefix is under a namespace root
  (`/net`, `/pipes`, `/dev/<kind>` for a kind this host lacks; see
  clusterpaths.under_namespace_root) expands against the namespace only.
  Like a command naming such a path, it may start the embedded cluster;
- with a cluster attached, an absolute pattern with no local match is
  tried in the namespace too (`/home/me/*.log` written by a pipeline);
- nothing else: a purely local glob never reaches the cluster side of this
  module (zmq, the namespace client are imported inside functions).

Tab completion (`Listings`) only ever asks a cluster the shell is already
attached to, with a short timeout and a few seconds of cache; see
onesh.repl.completer.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from onesh.engine import pattern
from onesh.engine.clusterpaths import under_namespace_root

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter
    from onesh.runtime.nsclient import Namespace

# (name, kind) of one directory row; kind is the namespace's: dir, file,
# device, pipe, socket.
Entry = tuple[str, str]
T = TypeVar("T")

GLOB_PATIENCE = 3.0  # how long a glob waits for a moving fs agent
LIST_AT_ONCE = 8  # directory listings in flight per glob


def literal_dir(pat: str) -> str:
    """The directory a pattern's first glob character is in, unescaped:
    `/dev/sensor/*` → `/dev/sensor`, `/net/r*/tmp` → `/net`."""
    segs = pat.split("/")
    lead: list[str] = []
    for s in segs[:-1]:
        if pattern.has_glob(s):
            break
        lead.append(pattern.unescape(s))
    return "/".join(lead) or "/"


def pathnames(interp: Interpreter, pat: str, *, dotglob: bool) -> list[str]:
    """Pathname expansion of an absolute escaped pattern, locally or in the
    cluster namespace (see the module docstring); [] when nothing matches."""
    if interp.cluster is None or interp.in_stage:
        return pattern.glob(pat, dotglob=dotglob)
    if not under_namespace_root(literal_dir(pat)):
        found = pattern.glob(pat, dotglob=dotglob)
        if found or not interp.cluster_attached():
            return found
    try:
        client = interp.cluster()
        from onesh.aio import run_sync

        return run_sync(_in_session(client.boot, client.secret, GLOB_PATIENCE,
                                    lambda ns: glob(ns, pat, dotglob=dotglob)))
    except Exception:  # noqa: BLE001 - an unreachable cluster matches nothing, like an unreadable directory
        return []


async def glob(ns: Namespace, pat: str, *, dotglob: bool = False) -> list[str]:
    """Pathname expansion of an absolute escaped pattern against the
    namespace: one level at a time, each level's directories listed at
    once.  Sorted like the local glob; [] when nothing matches."""
    import asyncio

    segments = [s for s in pat.split("/") if s]
    level: list[tuple[str, str]] = [("/", "dir")]  # (path, kind); "" kind: not known yet
    gate = asyncio.Semaphore(LIST_AT_ONCE)

    async def rows(d: str) -> list[Entry]:
        async with gate:
            return await list_dir(ns, d)

    async def kind_of(p: str) -> str | None:
        async with gate:
            try:
                entry = await ns.stat(p)
            except OSError as e:
                if e.errno == errno.EHOSTUNREACH:
                    raise
                return None
        return str(entry.get("kind", "file")) if entry else None

    for idx, seg in enumerate(segments):
        last = idx == len(segments) - 1
        if not pattern.has_glob(seg):
            paths = [_join(base, pattern.unescape(seg)) for base, _ in level]
            if last:
                kinds = await asyncio.gather(*(kind_of(p) for p in paths))
                level = [(p, k) for p, k in zip(paths, kinds, strict=True) if k is not None]
            else:
                level = [(p, "") for p in paths]  # checked when listed or stat'ed
        else:
            rx = pattern.compile_pattern(seg)
            show_dots = dotglob or seg.startswith((".", "\\."))
            bases = [base for base, kind in level if kind in ("dir", "")]
            listed = await asyncio.gather(*(rows(base) for base in bases))
            level = [(_join(base, name), what)
                     for base, entries in zip(bases, listed, strict=True)
                     for name, what in entries
                     if (show_dots or not name.startswith(".")) and rx.match(name)
                     and (last or what == "dir")]
        if not level:
            return []
    found = [p for p, _ in level]
    if pat.endswith("/"):
        found = [p + "/" for p, kind in level if kind == "dir"]
    return sorted(found)


async def list_dir(ns: Namespace, path: str) -> list[Entry]:
    """The rows of one namespace directory; [] when it is missing, not a
    directory or unreadable.  OSError(EHOSTUNREACH) when the cluster does
    not answer."""
    try:
        entries = await ns.listdir(path)
    except OSError as e:
        if e.errno == errno.EHOSTUNREACH:
            raise
        return []
    out: list[Entry] = []
    for row in entries:
        name = str(row.get("name") or "")
        where = row.get("path")
        # Listing a file gives the file itself: not a child.
        if not name or "/" in name or (where is not None and where != _join(path, name)):
            continue
        out.append((name, str(row.get("kind", "file"))))
    return out


class Listings:
    """Namespace directory listings for Tab completion: each waits at most
    `timeout` seconds and is remembered for `ttl` seconds.  A cluster that
    did not answer in time is not asked again for `ttl` seconds either, so
    a hung cluster costs one short wait, not one per key press."""

    def __init__(self, *, ttl: float = 3.0, timeout: float = 0.5, size: int = 64) -> None:
        self.ttl = ttl
        self.timeout = timeout
        self.size = size
        self._rows: dict[tuple[tuple[str, ...], str], tuple[float, list[Entry]]] = {}
        self._down: dict[tuple[str, ...], float] = {}  # cluster (boot) → when it failed

    def cached(self, boot: list[str], path: str) -> tuple[bool, list[Entry] | None]:
        """(known, rows): rows None while the cluster is considered down."""
        now = time.monotonic()
        if now - self._down.get(tuple(boot), -self.ttl) < self.ttl:
            return True, None
        hit = self._rows.get((tuple(boot), path))
        if hit is not None and now - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    async def get(self, boot: list[str], secret: str, path: str) -> list[Entry] | None:
        """The directory's rows; None when the cluster did not answer in time."""
        from onesh.aio import within

        known, rows = self.cached(boot, path)
        if known:
            return rows
        try:
            rows = await within(
                _in_session(boot, secret, self.timeout, lambda ns: list_dir(ns, path)), self.timeout)
        except Exception:  # noqa: BLE001 - completion stays silent about the cluster
            self._down[tuple(boot)] = time.monotonic()
            return None
        if len(self._rows) >= self.size:
            del self._rows[min(self._rows, key=lambda k: self._rows[k][0])]
        self._rows[(tuple(boot), path)] = (time.monotonic(), rows)
        return rows

    def get_sync(self, boot: list[str], secret: str, path: str) -> list[Entry] | None:
        known, rows = self.cached(boot, path)
        if known:
            return rows
        from onesh.aio import run_sync

        return run_sync(self.get(boot, secret, path))


async def _in_session(boot: list[str], secret: str, patience: float,
                      fn: Callable[[Namespace], Awaitable[T]]) -> T:
    """Run `fn` with a namespace client on a private zmq context (no pipe
    receivers, so no authenticator: lighter than shellcluster.ShellCluster)."""
    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret
    from onesh.runtime.nsclient import Namespace

    keys = ClusterKeys.from_secret(load_secret(secret))
    ctx = zmq.asyncio.Context()
    try:
        async with Namespace(ctx, keys, boot, failover=patience) as ns:
            return await fn(ns)
    finally:
        ctx.destroy(linger=0)


def _join(base: str, name: str) -> str:
    return base + name if base.endswith("/") else base + "/" + name
