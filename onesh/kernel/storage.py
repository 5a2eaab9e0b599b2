"""Storage: every runtime is a chunk server; the storage kernel agent
places new chunks and repairs lost replicas.

- `chunk.put/get/has/stats` (every runtime): content-addressed chunks
  (sha256, at most CHUNK bytes) under `<data-dir>/chunks/ab/cdef...`.
  `put` verifies the hash, writes a temporary file, fsyncs it, renames it
  into place and fsyncs the directory before it answers: a write is
  acknowledged only when stored.
- `storage.place` (where the storage agent runs): k live runtimes for each
  new chunk: the writer's own runtime first, then the least loaded (bytes
  stored according to the index, plus what it placed since).
- Repair (a loop on the runtime hosting the storage agent): a chunk whose
  replicas include dead runtimes and has fewer than k live ones is copied
  (chunk.get → chunk.put) to another live runtime and the index updated
  (`replicas`), a bounded number of chunks per tick.
- Collection (the same runtime, every ONESH_CHUNK_GC_PERIOD seconds):
  chunks no file refers to (removed or overwritten files, replaced small
  tails, abandoned writes) and not stored for ONESH_CHUNK_GC_AGE seconds
  (default an hour) are removed from every live runtime (`chunk.list_old`,
  `chunk.drop`, which re-checks the age: a chunk stored again stays).

k is ONESH_REPLICAS (default 2), capped by the number of live runtimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from onesh.aio import within
from onesh.kernel.agents import hosts
from onesh.kernel.fs import chunk_table, index_read, submit_op
from onesh.net.rpc import HandlerError, RpcClients, RpcError

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime

log = logging.getLogger("onesh.storage")

AGENT = "storage"
# The largest chunk that fits one control message (onesh.net.messages
# MAX_MESSAGE is 1 MiB) together with its envelope.
CHUNK = 960 * 1024
REPAIR_PERIOD = 0.5  # while some runtime is dead
REPAIR_IDLE = 10.0  # otherwise, besides every change of the replicated state
REPAIR_BUDGET = 32  # chunks copied per tick at most
REPAIR_PARALLEL = 4
REPAIR_GRACE = 2.0  # a runtime must stay dead this long before its chunks are copied
USAGE_TTL = 2.0
# Chunks no file refers to (removed files, replaced tails, abandoned
# writes) are collected once this old; writers commit well within it.
GC_AGE = 3600.0
GC_PERIOD = 300.0


def replicas_wanted() -> int:
    try:
        return max(1, int(os.environ.get("ONESH_REPLICAS", "2")))
    except ValueError:
        return 2


def _sha256(data: bytes) -> Any:
    # (hashlib maps OpenSSL's libcrypto: imported when a chunk is first
    # hashed, not by every idle runtime; see net.keys)
    import hashlib

    return hashlib.sha256(data)


def rank(sha: str, runtimes: list[str]) -> list[str]:
    """Rendezvous hashing: a stable preference order of runtimes for a chunk."""
    return sorted(runtimes, key=lambda r: _sha256(f"{sha}/{r}".encode()).digest())


def valid_sha(sha: Any) -> bool:
    return isinstance(sha, str) and len(sha) == 64 and all(c in "0123456789abcdef" for c in sha)


class ChunkStore:
    def __init__(self, root: str) -> None:
        self.root = root
        self._seq = itertools.count()
        # put's "already stored" check and drop's "still old" check exclude each other
        self.lock = threading.Lock()

    def path(self, sha: str) -> str:
        if not valid_sha(sha):
            raise HandlerError(f"bad chunk id {sha!r}")
        return os.path.join(self.root, sha[:2], sha[2:])

    def has(self, sha: str) -> bool:
        return os.path.exists(self.path(sha))

    def put(self, sha: str, data: bytes) -> None:
        if _sha256(data).hexdigest() != sha:
            raise HandlerError("chunk.put: content does not match its sha256")
        final = self.path(sha)
        with self.lock, contextlib.suppress(OSError):
            if os.path.getsize(final) == len(data):
                os.utime(final)  # stored again: young, so the collector keeps it
                return  # content-addressed: already stored
        os.makedirs(os.path.dirname(final), mode=0o700, exist_ok=True)
        tmp = f"{final}.{os.getpid()}.{next(self._seq)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)
        os.replace(tmp, final)
        dfd = os.open(os.path.dirname(final), os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def get(self, sha: str) -> bytes:
        try:
            with open(self.path(sha), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise HandlerError(f"chunk {sha[:12]} not stored here") from None
        if _sha256(data).hexdigest() != sha:
            raise HandlerError(f"chunk {sha[:12]} is corrupt here")
        return data

    def list_old(self, age: float, after: str = "", limit: int = 4096) -> list[str]:
        """Chunks not stored (nor stored again) for `age` seconds, in order, after `after`."""
        cutoff = time.time() - age
        out: list[str] = []
        with contextlib.suppress(FileNotFoundError):
            for sub in sorted(os.listdir(self.root)):
                if len(sub) != 2 or sub < after[:2]:
                    continue
                for name in sorted(os.listdir(os.path.join(self.root, sub))):
                    sha = sub + name
                    if sha <= after or not valid_sha(sha):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        if os.stat(os.path.join(self.root, sub, name)).st_mtime < cutoff:
                            out.append(sha)
                            if len(out) >= limit:
                                return out
        return out

    def drop(self, shas: list[str], age: float) -> int:
        """Remove these chunks if they are still older than `age` seconds."""
        cutoff = time.time() - age
        dropped = 0
        for sha in shas:
            path = self.path(sha)
            with self.lock, contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                    dropped += 1
        return dropped

    def stats(self) -> dict[str, int]:
        count = size = 0
        with contextlib.suppress(FileNotFoundError):
            for sub in os.scandir(self.root):
                if not sub.is_dir():
                    continue
                for f in os.scandir(sub.path):
                    if not f.name.endswith(".tmp"):
                        count += 1
                        size += f.stat().st_size
        return {"chunks": count, "bytes": size}


class Storage:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = ChunkStore(os.path.join(runtime.cfg.data_dir, "chunks"))
        self.peers = RpcClients(runtime.ctx, runtime.keys)  # long-lived: one Curve handshake per peer
        self.repaired = 0
        self.collected = 0
        self.lost: set[str] = set()
        self._usage: dict[str, int] = {}
        self._usage_at = -USAGE_TTL
        self._dead_since: dict[str, float] = {}
        self._clean: tuple[Any, ...] | None = None  # (index version, members) of the last clean scan

    # ------------------------------------------------------------- chunks
    async def chunk(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        sha = body.get("sha", "")
        if op == "put":
            data = body.get("data")
            if not isinstance(data, bytes) or len(data) > CHUNK:
                raise HandlerError(f"chunk.put: data must be bytes, at most {CHUNK}")
            await asyncio.to_thread(self.store.put, str(sha), data)
            return {"stored": sha, "runtime": self.runtime.cfg.name}
        if op == "get":
            return {"data": await asyncio.to_thread(self.store.get, str(sha))}
        if op == "has":
            return {"has": self.store.has(str(sha))}
        if op == "stats":
            return dict(await asyncio.to_thread(self.store.stats), runtime=self.runtime.cfg.name)
        if op in ("list_old", "drop"):
            age = body.get("age")
            if not isinstance(age, int | float) or age < 0:
                raise HandlerError(f"chunk.{op}: age must be a non-negative number of seconds")
            if op == "list_old":
                after = body.get("after", "")
                return {"shas": await asyncio.to_thread(self.store.list_old, float(age),
                                                        after if isinstance(after, str) else "")}
            shas = body.get("shas")
            if not isinstance(shas, list) or not all(valid_sha(x) for x in shas):
                raise HandlerError("chunk.drop: shas must be a list of chunk ids")
            return {"dropped": await asyncio.to_thread(self.store.drop, shas, float(age))}
        raise HandlerError(f"chunk: unknown operation {op!r}")

    # ------------------------------------------------------- storage agent
    async def agent(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        if not hosts(self.runtime, AGENT):
            raise HandlerError(f"storage agent not here ({self.runtime.cfg.name})")
        if op == "place":
            return await self.place(body)
        if op == "stats":
            return {"repaired": self.repaired, "collected": self.collected, "lost": sorted(self.lost),
                    "usage": await self.usage()}
        raise HandlerError(f"storage: unknown operation {op!r}")

    async def usage(self) -> dict[str, int]:
        now = time.monotonic()
        if now - self._usage_at > USAGE_TTL:
            self._usage = dict(await index_read(self.runtime, "usage"))
            self._usage_at = now
        return self._usage

    async def place(self, body: dict[str, Any]) -> dict[str, Any]:
        snap = await self.runtime.snapshot()
        live = sorted(n for n, m in snap["members"].items() if m.get("alive"))
        if not live:
            raise HandlerError("storage.place: no live runtime")
        k = body.get("k")
        k = min(k if isinstance(k, int) and k > 0 else replicas_wanted(), len(live))
        n = body.get("n", 1)
        n = min(n, 64) if isinstance(n, int) and n > 0 else 1
        size = body.get("size", CHUNK)
        size = size if isinstance(size, int) and size > 0 else CHUNK
        writer = body.get("writer")
        load = await self.usage()  # this dict also tallies what we place until the next refresh
        placements = []
        for _ in range(n):
            chosen: list[str] = [writer] if isinstance(writer, str) and writer in live else []
            chosen += sorted((r for r in live if r not in chosen), key=lambda r: (load.get(r, 0), r))[:k - len(chosen)]
            for r in chosen:
                load[r] = load.get(r, 0) + size
            placements.append(chosen)
        endpoints = {r: snap["members"][r]["endpoint"] for r in live}
        return {"k": k, "placements": placements, "endpoints": endpoints}

    # -------------------------------------------------------------- repair
    async def repair_loop(self) -> None:
        """A repair round when the cluster changes (a death, a join, a new
        file), and now and then while a dead runtime's grace runs out."""
        changed = self.runtime.watch_changes()
        while True:
            with contextlib.suppress(TimeoutError):
                await within(changed.wait(), REPAIR_PERIOD if self._dead_since else REPAIR_IDLE)
            changed.clear()
            if not hosts(self.runtime, AGENT):
                continue
            try:
                await self.repair_once()
            except Exception as e:  # noqa: BLE001 - the next round retries
                log.info("repair round failed: %s", e)

    async def repair_once(self, budget: int = REPAIR_BUDGET) -> int:
        """Copy under-replicated chunks to live runtimes; the number repaired."""
        snap = await self.runtime.snapshot()
        members = snap["members"]
        live = {n: m["endpoint"] for n, m in members.items() if m.get("alive")}
        if not live:
            return 0
        # A runtime that blinks (a missed heartbeat, a leader change) is not
        # worth copying its data away: wait until it stays dead a while.
        now = time.monotonic()
        self._dead_since = {n: self._dead_since.get(n, now) for n in members if n not in live}
        gone = {n for n, t in self._dead_since.items() if now - t >= REPAIR_GRACE}
        key = (snap.get("ns_version"), frozenset(live), frozenset(gone))
        if key == self._clean:
            return 0  # nothing changed since a scan that found nothing to do
        table = await chunk_table(self.runtime)
        k = min(replicas_wanted(), len(live))
        load = dict(await self.usage())
        todo: list[tuple[str, list[str], list[str], list[str]]] = []
        for sha, (size, reps) in sorted(table.items()):
            good = [r for r in reps if r in live]
            dead = [r for r in reps if r not in live]
            if len(good) >= k or not dead or not all(r in gone or r not in members for r in dead):
                continue
            if not good:
                if sha not in self.lost:
                    log.warning("chunk %s has no live replica (on %s)", sha[:12], ",".join(dead))
                self.lost.add(sha)
                continue
            self.lost.discard(sha)
            spare = sorted((r for r in live if r not in reps), key=lambda r: (load.get(r, 0), r))
            targets = spare[:k - len(good)]
            if not targets:
                continue
            for t in targets:
                load[t] = load.get(t, 0) + int(size)
            todo.append((sha, good, targets, dead))
            if len(todo) >= budget:
                break
        if not todo:
            self._clean = key  # only a change of the index or of liveness can make work
            return 0
        sem = asyncio.Semaphore(REPAIR_PARALLEL)

        async def copy(sha: str, good: list[str], targets: list[str]) -> list[str]:
            async with sem:
                return await self.copy_chunk(sha, good, targets, live)

        added = await asyncio.gather(*(copy(sha, good, targets) for sha, good, targets, _ in todo))
        updates = [[sha, got, dead] for (sha, _, _, dead), got in zip(todo, added, strict=True) if got]
        if updates:
            result = await submit_op(self.runtime, {"op": "replicas", "updates": updates})
            if result.get("error"):
                log.warning("replica update failed: %s", result["error"])
                return 0
            self.repaired += len(updates)
            log.info("re-replicated %d chunks", len(updates))
        return len(updates)

    async def copy_chunk(self, sha: str, good: list[str], targets: list[str], live: dict[str, str]) -> list[str]:
        me = self.runtime.cfg.name
        data: bytes | None = None
        for src in sorted(good, key=lambda r: r != me):
            try:
                if src == me:
                    data = await asyncio.to_thread(self.store.get, sha)
                else:
                    data = (await self.peers.call(live[src], "chunk.get", {"sha": sha}, 5.0))["data"]
            except (RpcError, HandlerError) as e:
                log.info("repair: chunk %s not readable on %s: %s", sha[:12], src, e)
                continue
            if isinstance(data, bytes) and _sha256(data).hexdigest() == sha:
                break
            data = None
        if data is None:
            return []
        got = []
        for t in targets:
            try:
                if t == me:
                    await asyncio.to_thread(self.store.put, sha, data)
                else:
                    await self.peers.call(live[t], "chunk.put", {"sha": sha, "data": data}, 10.0)
                got.append(t)
            except (RpcError, HandlerError, OSError) as e:
                log.info("repair: chunk %s not stored on %s: %s", sha[:12], t, e)
        return got


    # ----------------------------------------------------------- collection
    async def gc_loop(self) -> None:
        while True:
            await asyncio.sleep(gc_setting("ONESH_CHUNK_GC_PERIOD", GC_PERIOD))
            if not hosts(self.runtime, AGENT):
                continue
            try:
                await self.gc_once(gc_setting("ONESH_CHUNK_GC_AGE", GC_AGE))
            except Exception as e:  # noqa: BLE001 - the next round retries
                log.info("chunk collection failed: %s", e)

    async def gc_once(self, age: float) -> int:
        """Remove, on every live runtime, chunks no file refers to that were
        not stored for `age` seconds (a writer commits within AUTO_COMMIT).
        Each runtime lists its old chunks first and re-checks their age when
        dropping, so a chunk stored again meanwhile stays."""
        snap = await self.runtime.snapshot()
        live = {n: m["endpoint"] for n, m in snap["members"].items() if m.get("alive")}
        old: dict[str, list[str]] = {}
        for name, ep in live.items():
            after, shas = "", []
            while True:
                page = (await self.peers.call(ep, "chunk.list_old", {"age": age, "after": after}, 10.0))["shas"]
                shas += page
                if len(page) < 4096:
                    break
                after = page[-1]
            old[name] = shas
        if not any(old.values()):
            return 0
        referenced = await chunk_table(self.runtime)  # read after the listing
        dropped = 0
        for name, shas in old.items():
            garbage = [x for x in shas if x not in referenced]
            for i in range(0, len(garbage), 4096):
                dropped += (await self.peers.call(live[name], "chunk.drop",
                                                  {"shas": garbage[i:i + 4096], "age": age}, 30.0))["dropped"]
        if dropped:
            self.collected += dropped
            log.info("collected %d unreferenced chunks", dropped)
        return dropped


def gc_setting(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


def install(runtime: Runtime) -> None:
    storage = Storage(runtime)
    runtime.handlers["chunk"] = storage.chunk
    runtime.handlers["storage"] = storage.agent
    runtime.loops.append(storage.repair_loop)
    runtime.loops.append(storage.gc_loop)
    runtime.on_shutdown.append(storage.peers.close)
