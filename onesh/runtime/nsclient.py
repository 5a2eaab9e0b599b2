"""Client of the cluster namespace and storage, for shells and stages.

    ns = Namespace(ctx, keys, boot, local_runtime="r2")
    await ns.stat("/dev/sensor/1")            # entry dict, or None
    await ns.listdir("/home")                 # [entry, ...] (each with "name")
    async for block in ns.read("/home/me/log"): ...
    async with ns.writer("/home/me/log", append=True) as w:
        await w.write(data)                    # 960 KiB chunks, each on k runtimes
        await w.flush_commit()                 # visible to readers so far

Metadata goes to the fs kernel agent, found through `cluster.status`
(the assignment slot → runtime → its endpoint); when the agent moved
(failover) the call is retried against the new host until `failover`
seconds have passed.  Every change carries a request id, so a retried
change whose first reply was lost is applied once.

A chunk is stored on the k runtimes the storage agent places it on (the
writer's runtime first), in parallel, and enters the index only after all
of them acknowledged it as stored (fsync'd).  A read takes each chunk from
the nearest live replica (local_runtime first), checks its sha256 and
fails over to the next.  `/net/<runtime>/<host path>` is that runtime's
own file system, read-only.

`NamespaceSync` wraps it all for synchronous callers (tests, builtins).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import errno
import hashlib
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from typing import Any, TypeVar

import zmq.asyncio

from onesh.kernel.namespace import PathError, norm
from onesh.kernel.storage import CHUNK, rank, replicas_wanted
from onesh.net.keys import ClusterKeys, load_secret
from onesh.net.rpc import RpcClients, RpcError, RpcTimeout

T = TypeVar("T")

_CODES = {name: getattr(errno, name) for name in (
    "ENOENT", "EEXIST", "ENOTDIR", "EISDIR", "ENOTEMPTY", "EPERM", "EINVAL", "EIO", "EACCES",
    "ESTALE", "EHOSTUNREACH")}
# Answers that mean "ask again, maybe elsewhere": the agent moved, Raft is
# electing a leader, a runtime is going away or has not caught up since it
# came back.
_RETRY = ("agent not here", "not committed", "no voter reachable", "not a voter", "no answer",
          "server busy", "unknown method", "not caught up")

META_TIMEOUT = 3.0
PUT_TIMEOUT = 15.0
GET_TIMEOUT = 5.0
WRITE_WINDOW = 4  # chunks being stored at once per writer
READ_WINDOW = 4  # chunks fetched ahead per reader
PLACE_BATCH = 8
WATCH_EVERY = 0.5  # while waiting for an agent, re-check that its runtime is alive
HEDGE_AFTER = 1.0  # a chunk read not answered by then is asked of the next replica too
TAIL_REWRITE = 256 * 1024  # a smaller last chunk is re-stored with the bytes that follow it
AUTO_COMMIT = 60.0  # seconds a stored chunk may wait for its commit


def _oserror(code: str, where: str, text: str | None = None) -> OSError:
    num = _CODES.get(code, errno.EIO)
    return OSError(num, os.strerror(num) if code in _CODES and text is None else (text or code), where or None)


def _raise(result: dict[str, Any]) -> dict[str, Any]:
    """An {"error": "CODE: path"} answer becomes OSError(errno, strerror, path)."""
    err = result.get("error")
    if err:
        code, _, where = str(err).partition(": ")
        if code in _CODES:
            raise _oserror(code, where)
        raise OSError(errno.EIO, str(err))
    return result


def _net(path: str) -> tuple[str, str] | None:
    """`/net/<runtime>/<host path>` → (runtime, host path)."""
    if not path.startswith("/net/"):
        return None
    rt, _, rest = path[len("/net/"):].partition("/")
    return rt, "/" + rest


def _path(path: str) -> str:
    try:
        return norm(path)
    except PathError as e:
        raise OSError(errno.EINVAL, str(e), path) from None


class Namespace:
    def __init__(self, ctx: zmq.asyncio.Context, keys: ClusterKeys, boot: list[str], *,
                 local_runtime: str | None = None, replicas: int | None = None,
                 failover: float = 30.0) -> None:
        self.ctx, self.keys, self.boot, self.local = ctx, keys, list(boot), local_runtime
        self.replicas = replicas
        self.failover = failover
        self.page = 4096  # chunk rows asked per fs.resolve (the agent's maximum)
        self._clients = RpcClients(ctx, keys, drop_on=RpcTimeout)
        self._snap: dict[str, Any] | None = None
        self._snap_at = -10.0

    async def close(self) -> None:
        await self._clients.close()

    async def __aenter__(self) -> Namespace:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ plumbing
    async def call(self, endpoint: str, method: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        # (a client that times out is dropped: the peer may be gone)
        return await self._clients.call(endpoint, method, body, timeout)

    async def status(self, fresh: bool = False) -> dict[str, Any]:
        """The cluster status (members, assignment), cached for a second."""
        if self._snap is not None and not fresh and time.monotonic() - self._snap_at < 1.0:
            return self._snap
        eps: list[str] = []
        if self._snap is not None:
            members = self._snap["members"]
            if self.local in members:
                eps.append(members[self.local]["endpoint"])
            eps += [m["endpoint"] for m in members.values() if m.get("alive") and m["endpoint"] not in eps]
        eps += [b for b in self.boot if b not in eps]
        from onesh.kernel.statusread import freshest

        try:
            snap = await freshest(self.call(ep, "cluster.status", {}, 1.5) for ep in eps)
        except RpcError as e:
            raise OSError(errno.EHOSTUNREACH, f"cluster unreachable: {e}") from None
        self._snap, self._snap_at = snap, time.monotonic()
        return snap

    async def members(self, fresh: bool = False) -> dict[str, dict[str, Any]]:
        members: dict[str, dict[str, Any]] = (await self.status(fresh))["members"]
        return members

    async def live(self, fresh: bool = False) -> dict[str, str]:
        return {n: m["endpoint"] for n, m in (await self.members(fresh)).items() if m.get("alive")}

    async def agent_host(self, agent: str, fresh: bool = False) -> tuple[str, str] | None:
        """(runtime, endpoint) of a live runtime hosting kernel agent `agent`."""
        from onesh.kernel.agents import agent_host

        snap = await self.status(fresh)
        host = agent_host(snap, agent, alive=True)
        return None if host is None else (host, str(snap["members"][host]["endpoint"]))

    async def agent(self, agent: str, method: str, body: dict[str, Any], *, timeout: float = META_TIMEOUT,
                    patience: float | None = None) -> dict[str, Any]:
        """Call kernel agent `agent`, following it when it moves."""
        deadline = time.monotonic() + (self.failover if patience is None else patience)
        fresh = False
        while True:
            why: str
            try:
                found = await self.agent_host(agent, fresh)
                if found is not None and self._cut_off_from(found[0]):
                    why = f"the {agent} agent on {found[0]} is unreachable"
                elif found is not None:
                    try:
                        return await self._watched(*found, method, body, timeout)
                    except RpcTimeout:
                        why = f"the {agent} agent on {found[0]} did not answer within {timeout:g}s"
                else:
                    why = f"the {agent} agent is not placed on a live runtime"
            except RpcError as e:
                why = str(e)
                if not any(s in why for s in _RETRY):
                    raise OSError(errno.EIO, f"{method}: {why}") from None
            except OSError as e:  # status unreachable
                why = e.strerror or str(e)
            from onesh.kernel.statusread import leader_problem, quorum_lost

            if time.monotonic() > deadline or (self._snap is not None and quorum_lost(self._snap)):
                # Without a leader the view is stale and nothing moves: that
                # is the cause to name, not the symptom.
                raise OSError(errno.EHOSTUNREACH, (leader_problem(self._snap) if self._snap else None) or why)
            fresh = True
            await asyncio.sleep(0.1)

    def _cut_off_from(self, host: str) -> bool:
        """Does the last view come from a voter cut off from a majority
        that sees `host` unreachable?  (Then a call to it would only time out.)"""
        from onesh.kernel.statusread import quorum_lost, voter_unreachable

        return self._snap is not None and quorum_lost(self._snap) and voter_unreachable(self._snap, host)

    async def _watched(self, host: str, endpoint: str, method: str, body: dict[str, Any],
                       timeout: float) -> dict[str, Any]:
        """A call that is abandoned as soon as membership declares `host`
        dead (a kill -9 is noticed well before a long timeout)."""
        task = asyncio.create_task(self.call(endpoint, method, body, timeout))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=WATCH_EVERY)
                if done:
                    return task.result()
                try:
                    snap = await self.status(fresh=True)
                except OSError:
                    continue
                m = snap["members"].get(host)
                if m is None or not m.get("alive"):
                    raise RpcError(f"{method}: no answer: {host} is down")
                if self._cut_off_from(host):  # (the view just read)
                    # No leader will declare it dead: the voters see it gone.
                    raise RpcError(f"{method}: no answer: {host} is unreachable")
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def change(self, op: str, **fields: Any) -> dict[str, Any]:
        """A namespace change through the fs agent (retried safely: one request id)."""
        fields.update(rid=uuid.uuid4().hex, mtime=time.time())
        return _raise(await self.agent("fs", f"fs.{op}", fields))

    # ------------------------------------------------------------ metadata
    async def stat(self, path: str, *, chunks: bool = True) -> dict[str, Any] | None:
        """The entry, or None; `chunks=False` leaves out a file's chunk list."""
        path = _path(path)
        net = _net(path)
        if net is not None:
            return await self._net_stat(*net)
        res = _raise(await self.agent("fs", "fs.stat", {"path": path} if chunks else {"path": path, "limit": 0}))
        entry = res.get("entry")
        return dict(entry) if isinstance(entry, dict) else None

    async def listdir(self, path: str) -> list[dict[str, Any]]:
        path = _path(path)
        net = _net(path)
        if net is not None:
            return list(_raise(await self._net_call(net[0], "hostfs.ls", {"path": net[1]}))["entries"])
        return list(_raise(await self.agent("fs", "fs.ls", {"path": path}))["entries"])

    async def mkdir(self, path: str, parents: bool = False) -> None:
        await self.change("mkdir", path=self._writable(path), parents=parents)

    async def rm(self, path: str, recursive: bool = False) -> None:
        await self.change("rm", path=self._writable(path), recursive=recursive)

    async def mv(self, src: str, dst: str) -> None:
        """rename(2): a file replaces a file, a directory an empty directory."""
        await self.change("mv", path=self._writable(src), dst=self._writable(dst))

    async def cp(self, src: str, dst: str) -> None:
        """A metadata copy (recursive for a directory): chunks are
        content-addressed, so the copy shares them and is as durable."""
        src, dst = _path(src), self._writable(dst)
        if _net(src) is not None:
            async with self.writer(dst) as w:
                async for block in self.read(src):
                    await w.write(block)
            return
        await self.change("cp", path=src, dst=dst, recursive=True, owner=self.local or "")

    async def mknod(self, path: str, kind: str, attrs: dict[str, Any] | None = None) -> None:
        """A named pipe or socket entry (`mkfifo /pipes/x`)."""
        await self.change("mknod", path=self._writable(path), kind=kind, attrs=attrs or {},
                          owner=self.local or "")

    def _writable(self, path: str) -> str:
        path = _path(path)
        if _net(path) is not None:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return path

    # -------------------------------------------------------------- /net
    async def _net_call(self, runtime: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        members = await self.members()
        if runtime not in members:
            members = await self.members(fresh=True)
        m = members.get(runtime)
        if m is None:
            raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), f"/net/{runtime}")
        if not m.get("alive"):
            raise OSError(errno.EHOSTDOWN, f"runtime {runtime} is down", f"/net/{runtime}")
        try:
            return await self.call(m["endpoint"], method, body, GET_TIMEOUT)
        except RpcError as e:
            raise OSError(errno.EIO, f"{method} on {runtime}: {e}") from None

    async def _net_stat(self, runtime: str, path: str) -> dict[str, Any] | None:
        try:
            res = _raise(await self._net_call(runtime, "hostfs.stat", {"path": path}))
        except FileNotFoundError:
            return None
        entry = res.get("entry")
        return dict(entry) if isinstance(entry, dict) else None

    async def _net_read(self, runtime: str, path: str) -> AsyncIterator[bytes]:
        offset = 0
        while True:
            res = _raise(await self._net_call(runtime, "hostfs.read",
                                              {"path": path, "offset": offset, "length": CHUNK}))
            data = res["data"]
            if data:
                yield data
                offset += len(data)
            if res.get("eof") or not data:
                return

    # ---------------------------------------------------------------- read
    async def resolve(self, path: str, first: int = 0, limit: int | None = None
                      ) -> tuple[dict[str, Any] | None, dict[str, dict[str, Any]]]:
        """The entry (its chunks from `first`, at most `limit` (default
        self.page); "nchunks" is the total) and every member's endpoint and
        liveness, in one call."""
        body = {"path": _path(path), "first": first, "limit": self.page if limit is None else limit}
        res = _raise(await self.agent("fs", "fs.resolve", body))
        entry = res.get("entry")
        return (dict(entry) if isinstance(entry, dict) else None), dict(res.get("members") or {})

    async def read(self, path: str) -> AsyncGenerator[bytes, None]:
        """The file's content, chunk by chunk (a few fetched ahead)."""
        path = _path(path)
        net = _net(path)
        if net is not None:
            async for block in self._net_read(*net):
                yield block
            return
        entry, members = await self.resolve(path)
        if entry is None:
            raise _oserror("ENOENT", path)
        if entry["kind"] == "dir":
            raise _oserror("EISDIR", path)
        if entry["kind"] == "pipe":
            from onesh.runtime.namedpipes import subscribe

            async with contextlib.aclosing(subscribe(self, path)) as blocks:
                async for block in blocks:
                    yield block
            return
        if entry["kind"] != "file":
            raise OSError(errno.EINVAL, f"a {entry['kind']} is read by a stage on its runtime "
                                        f"({entry.get('owner')})", path)
        chunks: list[list[Any]] = entry["chunks"]
        total = int(entry.get("nchunks", len(chunks)))
        base = 0  # index of chunks[0] in the file
        ahead: collections.deque[asyncio.Task[bytes]] = collections.deque()
        i = 0
        try:
            while i < total or ahead:
                while i < total and len(ahead) < READ_WINDOW:
                    if i - base >= len(chunks):  # next page of the chunk list
                        more, members = await self.resolve(path, first=i)
                        chunks, base = (more or {}).get("chunks") or [], i
                        if not chunks:
                            total = i  # the file shrank (replaced) meanwhile
                            break
                    sha, _size, reps = chunks[i - base]
                    ahead.append(asyncio.create_task(self.get_chunk(sha, reps, members, path, i)))
                    i += 1
                if ahead:
                    yield await ahead.popleft()
        finally:
            for t in ahead:
                t.cancel()
            await asyncio.gather(*ahead, return_exceptions=True)

    async def read_bytes(self, path: str) -> bytes:
        return b"".join([block async for block in self.read(path)])

    async def get_chunk(self, sha: str, replicas: list[str], members: dict[str, dict[str, Any]],
                        path: str | None = None, index: int = 0) -> bytes:
        """One chunk from the nearest live replica, verified.  When a replica
        is slow to answer (dead but not declared so yet) the next one is
        asked too, and the first good answer wins."""
        last: BaseException | None = None
        for attempt in range(2):
            # live first, this runtime first, then spread over the replicas
            spread = {r: i for i, r in enumerate(rank(sha, list(replicas)))}
            order = sorted(replicas, key=lambda r: (not (members.get(r) or {}).get("alive"), r != self.local,
                                                    spread[r]))
            candidates = [(r, members[r]) for r in order if (members.get(r) or {}).get("endpoint")]
            pending: dict[asyncio.Task[dict[str, Any]], str] = {}
            hedge = True
            try:
                while candidates or pending:
                    if candidates and (hedge or not pending):
                        r, m = candidates.pop(0)
                        pending[asyncio.create_task(self.call(
                            m["endpoint"], "chunk.get", {"sha": sha}, GET_TIMEOUT if m.get("alive") else 1.0))] = r
                    done, _ = await asyncio.wait(pending, timeout=HEDGE_AFTER if candidates else None,
                                                 return_when=asyncio.FIRST_COMPLETED)
                    hedge = not done
                    for t in done:
                        r = pending.pop(t)
                        if t.exception() is not None:
                            last = t.exception()
                            continue
                        data = t.result().get("data")
                        if isinstance(data, bytes) and hashlib.sha256(data).hexdigest() == sha:
                            return data
                        last = OSError(errno.EIO, f"chunk {sha[:12]} from {r} is corrupt")
            finally:
                for t in pending:
                    t.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            if attempt == 0 and path is not None:
                # the replicas may have moved (repair): look them up again
                entry, members = await self.resolve(path, first=index, limit=1)
                found = [c[2] for c in (entry or {}).get("chunks", []) if c[0] == sha]
                replicas = found[0] if found else replicas
        raise OSError(errno.EIO, f"no live replica of chunk {sha[:12]} ({last})")

    # --------------------------------------------------------------- write
    def writer(self, path: str, append: bool = False, *, parents: bool = True) -> FileWriter:
        return FileWriter(self, self._writable(path), append, parents)

    async def writer_at(self, path: str, size: int) -> FileWriter:
        """A writer going on at byte `size` of file `path`: a stage
        restarted elsewhere from its checkpoint, where what its
        predecessor wrote past that point is cut off.  The chunks wholly
        before `size` are kept as they are (no copy); the one `size`
        falls inside is read and its head written again.  Its first
        commit replaces the file with that and what follows."""
        path = self._writable(path)
        entry, members = await self.resolve(path)
        if entry is None or entry.get("kind") != "file":
            raise OSError(errno.ENOENT, f"{path}: not in the namespace any more")
        chunks = list(entry.get("chunks") or [])
        while len(chunks) < int(entry.get("nchunks", len(chunks))):
            more, members = await self.resolve(path, first=len(chunks))
            if not more or not more.get("chunks"):
                break
            chunks += list(more["chunks"])
        w = FileWriter(self, path, append=False, parents=False)
        held = 0
        for i, (sha, n, replicas) in enumerate(chunks):
            if held + int(n) > size:
                head = await self.get_chunk(str(sha), list(replicas), members, path, i)
                w._buf += head[:size - held]
                held = size
                break
            w._durable.append([str(sha), int(n), list(replicas)])
            held += int(n)
        if held < size:
            raise OSError(errno.ESTALE, f"{path}: holds {held} bytes, fewer than the {size} written before")
        w.size = size
        return w

    async def write_bytes(self, path: str, data: bytes, append: bool = False) -> None:
        async with self.writer(path, append) as w:
            await w.write(data)

    async def place(self, n: int) -> tuple[list[list[str]], dict[str, str]]:
        """Where the next n chunks go (the storage agent decides; if it is
        unreachable, the writer's runtime and then rendezvous order)."""
        try:
            res = await self.agent("storage", "storage.place",
                                   {"writer": self.local, "n": n, "k": self.replicas}, patience=2.0)
            return [list(p) for p in res["placements"]], dict(res["endpoints"])
        except OSError:
            from onesh.kernel.statusread import quorum_lost

            if self._snap is not None and quorum_lost(self._snap):
                # Cut off from a majority (a partition): chunks stored now
                # could never be committed.  Say why at once rather than
                # store them where we can and fail at the commit.
                raise
            live = await self.live(fresh=True)
            if not live:
                raise OSError(errno.EHOSTUNREACH, "no live runtime to store on") from None
            k = min(self.replicas or replicas_wanted(), len(live))
            out = []
            for _ in range(n):
                order = rank(uuid.uuid4().hex, list(live))
                if self.local in live:
                    order.remove(self.local)
                    order.insert(0, self.local)
                out.append(order[:k])
            return out, live

    async def put_chunk(self, data: bytes, targets: list[str], endpoints: dict[str, str]) -> list[Any]:
        """Store one chunk on len(targets) runtimes; [sha, size, replicas] once all acked."""
        sha = hashlib.sha256(data).hexdigest()
        k = len(targets)
        stored: list[str] = []
        tried: set[str] = set()
        candidates = list(targets)
        last: BaseException | None = None
        while len(stored) < k:
            batch = [r for r in candidates if r not in tried and r in endpoints][:k - len(stored)]
            if not batch:
                endpoints = await self.live(fresh=True)
                batch = [r for r in rank(sha, list(endpoints)) if r not in tried][:k - len(stored)]
                if not batch:
                    raise OSError(errno.EIO, f"chunk stored on {len(stored)} of {k} runtimes ({last})")
            tried.update(batch)
            # Watched: a target that dies is given up as soon as membership
            # says so (its replacement is the next live runtime in
            # rendezvous order), not after the long PUT_TIMEOUT.
            results = await asyncio.gather(*(self._watched(r, endpoints[r], "chunk.put", {"sha": sha, "data": data},
                                                           PUT_TIMEOUT) for r in batch), return_exceptions=True)
            for r, res in zip(batch, results, strict=True):
                if isinstance(res, BaseException):
                    if not isinstance(res, Exception):
                        raise res
                    last = res
                else:
                    stored.append(r)
        return [sha, len(data), stored]


class FileWriter:
    """Buffered writer of one namespace file (an async context manager).

    Data is cut into CHUNK-sized chunks, each stored on k runtimes while
    the next ones fill (at most WRITE_WINDOW at once); `flush_commit()`
    waits until everything written so far is stored and adds it to the
    index; `close()` does the same for the rest.  Nothing enters the
    index before it is durable on k runtimes.  The first commit replaces
    the file (unless `append`), later ones append.

    A stream flushed often (a sensor log, every second) would otherwise
    become thousands of tiny chunks: while the last committed chunk is
    small (< TAIL_REWRITE) the next flush stores it again together with
    the new bytes and swaps it in (`replace_last`).  Chunks stored but not
    committed for AUTO_COMMIT seconds are committed anyway (a file being
    written shows its content so far, as on a local disk; and chunks no
    file refers to are eventually collected)."""

    def __init__(self, ns: Namespace, path: str, append: bool, parents: bool = True) -> None:
        self.ns, self.path, self.append, self.parents = ns, path, append, parents
        self.size = 0
        self._buf = bytearray()
        self._inflight: collections.deque[asyncio.Task[list[Any]]] = collections.deque()
        self._durable: list[list[Any]] = []
        self._placements: collections.deque[list[str]] = collections.deque()
        self._endpoints: dict[str, str] = {}
        self._committed = False
        self._closed = False
        self._tail = b""  # the committed last chunk while it is small
        self._oldest = 0.0  # when the oldest uncommitted chunk was stored

    async def __aenter__(self) -> FileWriter:
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            await self.close()
            return
        # Interrupted: keep what is already durable (a stream cut by ^C),
        # but the original exception is what the caller sees.
        try:
            await self.close()
        except Exception:  # noqa: BLE001 - secondary to the exception in flight
            pass

    async def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError("write to a closed namespace file")
        self._buf += data
        self.size += len(data)
        while len(self._buf) >= CHUNK:
            piece = bytes(self._buf[:CHUNK])
            del self._buf[:CHUNK]
            await self._store(piece)
        if self._oldest and time.monotonic() - self._oldest > AUTO_COMMIT:
            if await self._commit():
                self._tail = b""

    async def _store(self, piece: bytes) -> None:
        while len(self._inflight) >= WRITE_WINDOW:
            self._durable.append(await self._inflight.popleft())
        if not self._placements:
            placements, self._endpoints = await self.ns.place(PLACE_BATCH)
            self._placements.extend(placements)
        targets = self._placements.popleft()
        if not self._oldest:
            self._oldest = time.monotonic()
        self._inflight.append(asyncio.create_task(self.ns.put_chunk(piece, targets, self._endpoints)))

    async def _drain(self) -> None:
        try:
            while self._inflight:
                self._durable.append(await self._inflight[0])
                self._inflight.popleft()
        except BaseException:
            for t in self._inflight:
                t.cancel()
            await asyncio.gather(*self._inflight, return_exceptions=True)
            self._inflight.clear()
            raise

    async def flush_commit(self) -> None:
        """Store what is buffered (a partial chunk as is) and commit
        everything durable so far to the index: readable from now on."""
        tail, new = self._tail, bytes(self._buf)
        self._buf.clear()
        if tail and new and not self._durable and not self._inflight and len(tail) + len(new) <= TAIL_REWRITE:
            await self._store(tail + new)
            try:
                await self._commit(replace=hashlib.sha256(tail).hexdigest())
                self._tail = tail + new if len(tail) + len(new) < TAIL_REWRITE else b""
                return
            except OSError as e:
                if e.errno != errno.ESTALE:
                    raise
                # the file changed under us: add just the new bytes
                self._durable = []
        if new:
            await self._store(new)
        if await self._commit():
            self._tail = new if len(new) < TAIL_REWRITE else b""

    async def _commit(self, replace: str | None = None) -> bool:
        """Commit the durable chunks; False when there was nothing to do."""
        await self._drain()
        if not self._durable and self._committed:
            return False
        op = "append" if (self.append or self._committed) else "commit"
        chunks = self._durable
        owner = self.ns.local or (chunks[0][2][0] if chunks and chunks[0][2] else "")
        extra = {"replace_last": replace} if replace else {}
        await self.ns.change(op, path=self.path, chunks=chunks, parents=self.parents, owner=owner, **extra)
        self._durable = []
        self._oldest = 0.0
        self._committed = True
        return True

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self.flush_commit()


class NamespaceSync:
    """The Namespace for synchronous code: each call runs on a private loop.

        ns = NamespaceSync(info.boot, info.secret)
        ns.write_bytes("/home/x", b"data"); ns.read_bytes("/home/x")
    """

    def __init__(self, boot: list[str], secret: str | bytes | ClusterKeys, *,
                 local_runtime: str | None = None, replicas: int | None = None) -> None:
        if isinstance(secret, ClusterKeys):
            keys = secret
        else:
            keys = ClusterKeys.from_secret(load_secret(secret) if isinstance(secret, str) else secret)
        # A plain loop, not asyncio.Runner: the Runner's SIGINT bookkeeping
        # formats the finished task (and a whole file's bytes) with repr().
        self._loop = asyncio.new_event_loop()
        self.ctx = zmq.asyncio.Context()
        self.ns = Namespace(self.ctx, keys, boot, local_runtime=local_runtime, replicas=replicas)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def stat(self, path: str) -> dict[str, Any] | None:
        return self.run(self.ns.stat(path))

    def listdir(self, path: str) -> list[dict[str, Any]]:
        return self.run(self.ns.listdir(path))

    def mkdir(self, path: str, parents: bool = False) -> None:
        self.run(self.ns.mkdir(path, parents))

    def rm(self, path: str, recursive: bool = False) -> None:
        self.run(self.ns.rm(path, recursive))

    def mv(self, src: str, dst: str) -> None:
        self.run(self.ns.mv(src, dst))

    def cp(self, src: str, dst: str) -> None:
        self.run(self.ns.cp(src, dst))

    def read_bytes(self, path: str) -> bytes:
        return self.run(self.ns.read_bytes(path))

    def write_bytes(self, path: str, data: bytes, append: bool = False) -> None:
        self.run(self.ns.write_bytes(path, data, append))

    def close(self) -> None:
        try:
            self.run(self.ns.close())
        finally:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
            self.ctx.destroy(linger=0)

    def __enter__(self) -> NamespaceSync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run one namespace coroutine from synchronous code."""
    return asyncio.run(coro)
