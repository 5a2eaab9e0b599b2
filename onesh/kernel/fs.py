"""The fs kernel agent: the namespace index, served by the runtime hosting it.

The index itself (onesh.kernel.namespace) is part of the replicated Raft
state, so whichever runtime consensus gives the fs agent to already holds
all of it: reads come from the local replica (a non-voting host asks a
voter), every change is a replicated `ns_apply` command.

- `fs.<op>` (stat, ls, resolve, mkdir, rm, mv, cp, commit, append,
  register_device, unregister_device, mknod, replicas): answered only
  where the fs agent runs; elsewhere the answer is the error
  "fs agent not here", and clients look the agent up again.
  A file's chunk list comes in pages (`first`, `limit` ≤ PAGE; "nchunks"
  is the total); `ls` rows carry no chunk lists.
- `nsindex.<query>` (stat, ls, chunks, usage, devices): raw reads of the
  replicated index, answered by any voter (for agents hosted on non-voters).
- `hostfs.<op>` (stat, ls, read): the host-local files of every runtime,
  read-only; the namespace shows them as `/net/<runtime>/<host path>`.
- Every runtime registers its devices (`/dev/<kind>/<n>`) once it has
  joined; a dead runtime's devices stay listed, with `alive: false`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import posixpath
import stat as statmod
import time
from typing import TYPE_CHECKING, Any

from onesh.kernel import namespace
from onesh.kernel.agents import hosts
from onesh.net.rpc import HandlerError, RpcError

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime

log = logging.getLogger("onesh.fs")

AGENT = "fs"
# fs.<op> → namespace operation
WRITES = {"mkdir": "mkdir", "rm": "rm", "mv": "mv", "cp": "cp", "commit": "commit", "append": "append",
          "register_device": "device", "unregister_device": "undevice", "mknod": "mknod",
          "replicas": "replicas"}
QUERIES = {"stat": namespace.stat, "ls": namespace.listdir, "chunks": namespace.chunk_table,
           "usage": namespace.usage, "devices": namespace.devices}
HOST_READ_MAX = 960 * 1024
HOST_LS_MAX = 4000  # directory rows per hostfs.ls answer
PAGE = 4096  # chunk rows per answer (a reply must stay under 1 MiB)
TABLE_PAGE = 6000  # rows of the chunk table per answer
CATCH_UP_WAIT = 1.0  # seconds a lagging voter delays a read of its replica (then: "not caught up")


async def index_read(runtime: Runtime, query: str, *args: Any) -> Any:
    """A read of the replicated index (QUERIES[query](index, *args)):
    locally on a voter, else from a voter."""
    fn = QUERIES[query]
    if runtime.state is not None:
        try:
            return runtime.state.ns_read(fn, *args)
        except (ValueError, TypeError) as e:
            return {"error": f"EINVAL: {e}"}
    last: Exception | None = None
    for client in list(runtime.voter_clients.values()):
        try:
            return (await client.call("nsindex." + query, {"args": list(args)}, timeout=2.0))["result"]
        except RpcError as e:
            last = e
    raise HandlerError(f"no voter reachable for the namespace index: {last}")


async def caught_up(runtime: Runtime) -> None:
    """Before a voter answers a read of its replica: wait (briefly) until
    it has applied what its leader committed, else say it is behind (the
    caller asks again, elsewhere).  A voter that just came back from a
    partition holds the index as it was when it was cut off, and maybe
    an assignment that still has the fs agent here: "no such file" from
    it would be a guess, taken for a fact (a shell then runs the command on
    its own host, or a copy finds no target)."""
    state = runtime.state
    if state is None:
        return
    deadline = time.monotonic() + CATCH_UP_WAIT
    while not state.caught_up():
        if time.monotonic() > deadline:
            raise HandlerError(f"namespace index on {runtime.cfg.name} not caught up with the leader")
        await asyncio.sleep(0.02)


async def chunk_table(runtime: Runtime) -> dict[str, list[Any]]:
    """Every chunk the index refers to: sha → [size, replicas] (paged
    through a voter when this runtime is not one)."""
    if runtime.state is not None:
        table: dict[str, list[Any]] = await index_read(runtime, "chunks")
        return table
    table, after = {}, ""
    while True:
        page = await index_read(runtime, "chunks", after, TABLE_PAGE)
        table.update(page)
        if len(page) < TABLE_PAGE:
            return table
        after = max(page)


async def submit_op(runtime: Runtime, op: dict[str, Any]) -> dict[str, Any]:
    """One namespace change through the Raft log; its result."""
    state = runtime.state
    if state is not None and not state.hasQuorum:
        # This voter is cut off from a majority (a partition, or the others
        # are down): nothing commits until that changes.  Say why now rather
        # than after the commit timeout.  (Only here: membership's own
        # commands keep their timing, which a voter coming back relies on.)
        from onesh.kernel.statusread import leader_problem

        raise HandlerError(f"namespace change not committed: {leader_problem(state.snapshot()) or 'no quorum'}")
    try:
        result = await runtime.submit("ns_apply", op)
    except Exception as e:  # noqa: BLE001 - reported; the client retries with the same rid
        raise HandlerError(f"namespace change not committed: {e}") from None
    return dict(result) if isinstance(result, dict) else {"error": "EIO: no result"}


class FsAgent:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def members(self) -> dict[str, dict[str, Any]]:
        snap = await self.runtime.snapshot()
        members: dict[str, dict[str, Any]] = snap["members"]
        return members

    async def handle(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        if not hosts(self.runtime, AGENT):
            raise HandlerError(f"fs agent not here ({self.runtime.cfg.name})")
        if op in WRITES:
            change = {k: v for k, v in body.items() if k != "op"}
            change["op"] = WRITES[op]
            if not isinstance(change.get("mtime"), int | float):
                change["mtime"] = time.time()
            return await submit_op(self.runtime, change)
        if op in ("stat", "resolve", "ls"):
            path = body.get("path")
            try:
                path = namespace.norm(path)
            except ValueError as e:
                return {"error": f"EINVAL: {e}"}
            await caught_up(self.runtime)
            members = await self.members()
            if op == "ls":
                return await self.ls(path, members)
            first, limit = body.get("first", 0), body.get("limit", PAGE)
            if not isinstance(first, int) or not isinstance(limit, int) or first < 0:
                return {"error": "EINVAL: first and limit are integers"}
            entry = await index_read(self.runtime, "stat", path, first, max(0, min(limit, PAGE)))
            if isinstance(entry, dict) and "error" in entry:
                return entry
            entry = _decorate(entry, members) if entry else None
            if op == "stat":
                return {"entry": entry}
            return {"entry": entry, "members": {n: {"endpoint": m.get("endpoint"), "alive": bool(m.get("alive"))}
                                                for n, m in members.items()}}
        raise HandlerError(f"fs: unknown operation {op!r}")

    async def ls(self, path: str, members: dict[str, dict[str, Any]]) -> dict[str, Any]:
        rows = await index_read(self.runtime, "ls", path)
        if isinstance(rows, dict):
            return rows
        rows = [_decorate(r, members) for r in rows]
        if path == "/net":
            # one directory per runtime: its host-local files (read-only)
            known = {r["name"] for r in rows}
            rows += [{"kind": "dir", "name": n, "path": f"/net/{n}", "owner": n, "mode": 0o555,
                      "mtime": float(m.get("started") or 0.0), "alive": bool(m.get("alive"))}
                     for n, m in sorted(members.items()) if n not in known]
        return {"entries": rows}


def _decorate(entry: dict[str, Any], members: dict[str, dict[str, Any]]) -> dict[str, Any]:
    if entry.get("kind") in ("device", "pipe", "socket"):
        owner = members.get(str(entry.get("owner")))
        entry["alive"] = bool(owner and owner.get("alive"))
    return entry


async def nsindex(runtime: Runtime, op: str, body: dict[str, Any]) -> dict[str, Any]:
    if runtime.state is None:
        raise HandlerError("nsindex: not a voter")
    if op not in QUERIES:
        raise HandlerError(f"nsindex: unknown query {op!r}")
    args = body.get("args", [])
    if not isinstance(args, list) or len(args) > 3:
        raise HandlerError("nsindex: args must be a short list")
    await caught_up(runtime)
    return {"result": await index_read(runtime, op, *args)}


async def register_devices(runtime: Runtime) -> None:
    """Put this runtime's devices in the namespace (retried until committed),
    and take out those it registered before but no longer has."""
    pending = dict(runtime.cfg.devices)
    mine = {f"/dev/{k.partition(':')[0]}/{k.partition(':')[2] or '0'}" for k in pending}
    delay = 0.1
    stale: list[str] | None = None
    while stale is None:
        try:
            stale = [p for p in await index_read(runtime, "devices", runtime.cfg.name) if p not in mine]
        except Exception:  # noqa: BLE001 - not joined yet / no voter: retry
            await asyncio.sleep(delay)
    for path in stale:
        with contextlib.suppress(Exception):
            await runtime.submit("ns_apply", {"op": "undevice", "path": path, "owner": runtime.cfg.name})
    while pending:
        for key, spec in list(pending.items()):
            kind, _, n = key.partition(":")
            op = {"op": "device", "path": f"/dev/{kind}/{n or '0'}", "owner": runtime.cfg.name,
                  "spec": spec, "mtime": time.time()}
            with contextlib.suppress(Exception):
                result = await runtime.submit("ns_apply", op)
                if isinstance(result, dict):
                    if result.get("error"):
                        log.warning("device %s not registered: %s", key, result["error"])
                    del pending[key]
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


# ----------------------------------------------------------- host files
def _host_entry(path: str, st: os.stat_result, runtime: str) -> dict[str, Any]:
    mode = st.st_mode
    if statmod.S_ISDIR(mode):
        kind = "dir"
    elif statmod.S_ISREG(mode):
        kind = "file"
    elif statmod.S_ISFIFO(mode):
        kind = "pipe"
    elif statmod.S_ISSOCK(mode):
        kind = "socket"
    else:
        kind = "device"
    return {"kind": kind, "size": st.st_size, "mtime": st.st_mtime, "mode": statmod.S_IMODE(mode),
            "owner": runtime, "name": posixpath.basename(path) or "/", "host_path": path,
            "path": f"/net/{runtime}{path if path != '/' else ''}"}


def _host_path(body: dict[str, Any]) -> str:
    path = body.get("path", "/")
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise HandlerError(f"hostfs: not an absolute path: {path!r}")
    return posixpath.normpath(path) if path != "/" else "/"


def _os_error(e: OSError, path: str) -> dict[str, Any]:
    import errno

    code = errno.errorcode.get(e.errno or 0, "EIO")
    return {"error": f"{code}: {path}"}


class HostFs:
    """Read-only access to this runtime's own files (`/net/<runtime>/...`)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        path = _host_path(body)
        name = self.runtime.cfg.name
        if op == "stat":
            try:
                st = await asyncio.to_thread(os.stat, path)
            except FileNotFoundError:
                return {"entry": None}
            except OSError as e:
                return _os_error(e, path)
            return {"entry": _host_entry(path, st, name)}
        if op == "ls":
            try:
                rows = await asyncio.to_thread(self._ls, path)
            except OSError as e:
                return _os_error(e, path)
            # a reply stays under the 1 MiB message cap
            return {"entries": rows[:HOST_LS_MAX], "truncated": len(rows) > HOST_LS_MAX}
        if op == "read":
            offset, length = body.get("offset", 0), body.get("length", HOST_READ_MAX)
            if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
                raise HandlerError("hostfs.read: offset and length are non-negative integers")
            try:
                data = await asyncio.to_thread(self._read, path, offset, min(length, HOST_READ_MAX))
            except OSError as e:
                return _os_error(e, path)
            return {"data": data, "eof": len(data) < min(length, HOST_READ_MAX)}
        raise HandlerError(f"hostfs: unknown operation {op!r}")

    def _ls(self, path: str) -> list[dict[str, Any]]:
        name = self.runtime.cfg.name
        st = os.stat(path)
        if not statmod.S_ISDIR(st.st_mode):
            return [_host_entry(path, st, name)]
        rows = []
        with os.scandir(path) as it:
            for d in it:
                try:
                    rows.append(_host_entry(posixpath.join(path, d.name), d.stat(), name))
                except OSError:
                    continue  # vanished or a dangling link
        return sorted(rows, key=lambda r: str(r["name"]))

    @staticmethod
    def _read(path: str, offset: int, length: int) -> bytes:
        import errno

        # Only regular files: opening a FIFO would block, a device never ends.
        mode = os.stat(path).st_mode
        if statmod.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
        if not statmod.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length)


def install(runtime: Runtime) -> None:
    agent = FsAgent(runtime)
    host = HostFs(runtime)

    async def index(op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        return await nsindex(runtime, op, body)

    async def devices() -> None:
        await register_devices(runtime)

    runtime.handlers["fs"] = agent.handle
    runtime.handlers["nsindex"] = index
    runtime.handlers["hostfs"] = host.handle
    runtime.loops.append(devices)
