"""The namespace index (sans-IO): path → entry, changed only by `apply`.

`apply` runs inside a replicated Raft command (`ClusterState.ns_apply`),
so it is deterministic: every input, times included, is in the operation,
and every voter ends with the same index.  Entries are plain dicts (they
travel in msgpack and in the Raft log):

    {"kind": "dir", "mode": 0o755, "mtime": T}
    {"kind": "file", "mode": 0o644, "mtime": T, "owner": RUNTIME, "size": N,
     "chunks": [[sha256_hex, size, [replica runtimes]], ...]}
    {"kind": "device", "mode": 0o666, "mtime": T, "owner": RUNTIME, "spec": "sim:sine"}
    {"kind": "pipe" | "socket", "mode": 0o644, "mtime": T, "owner": RUNTIME, "attrs": {...}}

Operations (`op["op"]`): mkdir, commit (create or replace a file), append
(optionally replacing the last chunk, if it is still `replace_last`), rm,
mv, cp, device, undevice, mknod, replicas.  Errors come back as
{"error": "ENOENT: /a/b"} instead of exceptions, so a bad operation is
committed as a no-op on every replica alike.  Invariant: every entry but
`/` has a parent entry that is a dir.
"""

from __future__ import annotations

import posixpath
from typing import Any

Entries = dict[str, dict[str, Any]]
Result = dict[str, Any]

ROOT_DIRS = ("/", "/dev", "/home", "/tmp", "/pipes", "/net")
KINDS = ("file", "dir", "device", "pipe", "socket")
MODES = {"dir": 0o755, "file": 0o644, "device": 0o666, "pipe": 0o644, "socket": 0o644}
RECENT = 4096  # request ids remembered for de-duplicating retried operations


class PathError(ValueError):
    pass


def norm(path: Any) -> str:
    """The normal absolute form of a namespace path (`//a/./b/../c/` → `/a/c`)."""
    if not isinstance(path, str) or not path.startswith("/") or "\0" in path:
        raise PathError(f"not an absolute path: {path!r}")
    return "/" + posixpath.normpath(path).lstrip("/")


def parent(path: str) -> str:
    return posixpath.dirname(path)


def initial() -> Entries:
    return {d: {"kind": "dir", "mode": MODES["dir"], "mtime": 0.0} for d in ROOT_DIRS}


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith("/" if top == "/" else top + "/")


def subtree(entries: Entries, top: str) -> list[str]:
    """`top` and everything below it, parents before children."""
    return sorted(p for p in entries if _under(p, top))


def children(entries: Entries, path: str) -> list[str]:
    prefix = "/" if path == "/" else path + "/"
    return sorted(p for p in entries
                  if p != path and p.startswith(prefix) and "/" not in p[len(prefix):])


def _err(code: str, path: str) -> Result:
    return {"error": f"{code}: {path}"}


def _parent_ok(entries: Entries, path: str, parents: bool, mtime: float) -> Result | None:
    """None when `path`'s parent is (or, with parents, was made) a dir."""
    missing: list[str] = []
    cur = parent(path)
    while cur not in entries:
        missing.append(cur)
        cur = parent(cur)
    if entries[cur]["kind"] != "dir":
        return _err("ENOTDIR", cur)
    if missing and not parents:
        return _err("ENOENT", missing[-1])
    for d in reversed(missing):
        entries[d] = {"kind": "dir", "mode": MODES["dir"], "mtime": mtime}
    return None


def _chunks(raw: Any) -> list[list[Any]]:
    if not isinstance(raw, list):
        raise PathError("chunks must be a list")
    out: list[list[Any]] = []
    for c in raw:
        if not isinstance(c, list | tuple) or len(c) != 3 or not isinstance(c[2], list | tuple):
            raise PathError("a chunk is [sha256, size, [replicas]]")
        sha, size = str(c[0]), int(c[1])
        if len(sha) != 64 or size < 0:
            raise PathError(f"bad chunk {sha[:16]!r}")
        out.append([sha, size, [str(r) for r in c[2]]])
    return out


def apply_once(entries: Entries, recent: dict[str, Result], op: dict[str, Any]) -> Result:
    """`apply`, de-duplicated by the operation's request id ("rid"): a
    client that retries after a lost reply gets the first result again."""
    rid = op.get("rid")
    if isinstance(rid, str) and rid in recent:
        return dict(recent[rid])
    result = apply(entries, op)
    if isinstance(rid, str) and rid:
        recent[rid] = dict(result)
        while len(recent) > RECENT:
            del recent[next(iter(recent))]
    return result


def apply(entries: Entries, op: dict[str, Any]) -> Result:
    """Apply one operation in place: {"ok": True, ...} or {"error": ...}."""
    try:
        kind = op["op"]
        if kind == "replicas":
            return _replicas(entries, op.get("updates"))
        path = norm(op["path"])
        mtime = float(op.get("mtime", 0.0))
        fn = _OPS.get(kind)
        if fn is None:
            return {"error": f"EINVAL: unknown operation {kind!r}"}
        return fn(entries, path, mtime, op)
    except (KeyError, ValueError, TypeError) as e:
        return {"error": f"EINVAL: bad operation ({type(e).__name__}: {e})"}


def _mkdir(entries: Entries, path: str, mtime: float, op: dict[str, Any]) -> Result:
    e = entries.get(path)
    if e is not None:
        if op.get("parents") and e["kind"] == "dir":
            return {"ok": True}
        return _err("EEXIST", path)
    bad = _parent_ok(entries, path, bool(op.get("parents")), mtime)
    if bad:
        return bad
    entries[path] = {"kind": "dir", "mode": int(op.get("mode", MODES["dir"])), "mtime": mtime}
    return {"ok": True}


def _write(entries: Entries, path: str, mtime: float, op: dict[str, Any]) -> Result:
    chunks = _chunks(op.get("chunks", []))
    e = entries.get(path)
    if e is not None and e["kind"] == "dir":
        return _err("EISDIR", path)
    if e is not None and e["kind"] != "file":
        return _err("EPERM", path)
    old = e["chunks"] if (e is not None and op["op"] == "append") else []
    replace = op.get("replace_last")
    if replace is not None:
        # a writer re-stored its small last chunk together with what followed
        if not old or old[-1][0] != replace:
            return _err("ESTALE", path)
        old = old[:-1]
    bad = _parent_ok(entries, path, bool(op.get("parents")), mtime)
    if bad:
        return bad
    new = [list(c) for c in old] + chunks
    entry = {"kind": "file", "mode": (e or {}).get("mode", MODES["file"]), "mtime": mtime,
             "owner": str(op.get("owner") or (e or {}).get("owner") or ""),
             "size": sum(c[1] for c in new), "chunks": new}
    entries[path] = entry
    return {"ok": True, "size": entry["size"]}


def _rm(entries: Entries, path: str, mtime: float, op: dict[str, Any]) -> Result:
    e = entries.get(path)
    if e is None:
        return _err("ENOENT", path)
    if path in ROOT_DIRS:
        return _err("EPERM", path)
    victims = subtree(entries, path) if e["kind"] == "dir" else [path]
    if len(victims) > 1 and not op.get("recursive"):
        return _err("ENOTEMPTY", path)
    if not op.get("force_devices"):
        dev = next((p for p in victims if entries[p]["kind"] == "device"), None)
        if dev is not None:
            return _err("EPERM", dev)
    for p in victims:
        del entries[p]
    entries[parent(path)]["mtime"] = mtime
    return {"ok": True, "removed": len(victims)}


def _dst(entries: Entries, path: str, op: dict[str, Any], mtime: float) -> tuple[str, Result | None]:
    dst = norm(op["dst"])
    if path in ROOT_DIRS:
        return dst, _err("EPERM", path)
    if dst != path and _under(dst, path):
        return dst, {"error": f"EINVAL: cannot put {path} inside itself"}
    return dst, _parent_ok(entries, dst, False, mtime)


def _mv(entries: Entries, path: str, mtime: float, op: dict[str, Any]) -> Result:
    """rename(2): a file replaces a file, a dir replaces an empty dir."""
    e = entries.get(path)
    if e is None:
        return _err("ENOENT", path)
    dst, bad = _dst(entries, path, op, mtime)
    if bad:
        return bad
    if dst == path:
        return {"ok": True}
    moved = subtree(entries, path)
    dev = next((p for p in moved if entries[p]["kind"] == "device"), None)
    if dev is not None:
        return _err("EPERM", dev)
    d = entries.get(dst)
    if d is not None:
        if dst in ROOT_DIRS or d["kind"] == "device":
            return _err("EPERM", dst)
        if d["kind"] == "dir" and e["kind"] != "dir":
            return _err("EISDIR", dst)
        if d["kind"] != "dir" and e["kind"] == "dir":
            return _err("ENOTDIR", dst)
        if d["kind"] == "dir" and children(entries, dst):
            return _err("ENOTEMPTY", dst)
        del entries[dst]
    for p in moved:
        entries[dst + p[len(path):]] = entries.pop(p)
    entries[dst]["mtime"] = mtime
    entries[parent(path)]["mtime"] = mtime
    return {"ok": True}


def _cp(entries: Entries, path: str, mtime: float, op: dict[str, Any]) -> Result:
    """A metadata copy: chunks are content-addressed, so the copy shares them."""
    e = entries.get(path)
    if e is None:
        return _err("ENOENT", path)
    if e["kind"] not in ("file", "dir"):
        return {"error": f"EINVAL: not a regular file: {path}"}
    if e["kind"] == "dir" and not op.get("recursive"):
        return _err("EISDIR", path)
    dst = norm(op["dst"])
    if _under(dst, path):
        return {"error": f"EINVAL: cannot copy {path} into itself"}
    bad = _parent_ok(entries, dst, False, mtime)
    if bad:
        return bad
    d = entries.get(dst)
    if d is not None:
        if d["kind"] == "dir":
            return _err("EISDIR", dst)
        if e["kind"] == "dir" or d["kind"] != "file":
            return _err("EEXIST", dst)
    copied = 0
    for p in subtree(entries, path) if e["kind"] == "dir" else [path]:
        src = entries[p]
        if src["kind"] not in ("file", "dir"):
            continue  # devices and live pipes are not copied
        new = {k: v for k, v in src.items() if k != "chunks"}
        if src["kind"] == "file":
            new["chunks"] = [[c[0], c[1], list(c[2])] for c in src["chunks"]]
            if op.get("owner"):
                new["owner"] = str(op["owner"])
        new["mtime"] = mtime
        entries[dst + p[len(path):]] = new
        copied += 1
    return {"ok": True, "copied": copied}


def _device(entries: Entries, path: str, mtime: float, op: dict[str, Any]) -> Result:
    """A runtime registers one of its devices (parents made as needed;
    the last registration of a path wins)."""
    if not _under(path, "/dev") or path == "/dev":
        return {"error": f"EINVAL: devices live under /dev: {path}"}
    e = entries.get(path)
    if e is not None and e["kind"] != "device":
        return _err("EEXIST", path)
    bad = _parent_ok(entries, path, True, mtime)
    if bad:
        return bad
    entries[path] = {"kind": "device", "mode": MODES["device"], "mtime": mtime,
                     "owner": str(op.get("owner", "")), "spec": str(op.get("spec", ""))}
    return {"ok": True}


def _undevice(entries: Entries, path: str, mtime: float, op: dict[str, Any]) -> Result:
    e = entries.get(path)
    if e is None or e["kind"] != "device":
        return _err("ENOENT", path)
    if op.get("owner") and e["owner"] != op["owner"]:
        return _err("EPERM", path)
    del entries[path]
    return {"ok": True}


def _mknod(entries: Entries, path: str, mtime: float, op: dict[str, Any]) -> Result:
    kind = op.get("kind")
    if kind not in ("pipe", "socket"):
        return {"error": f"EINVAL: mknod makes a pipe or a socket, not {kind!r}"}
    if path in entries:
        return _err("EEXIST", path)
    bad = _parent_ok(entries, path, bool(op.get("parents")), mtime)
    if bad:
        return bad
    attrs = op.get("attrs", {})
    if not isinstance(attrs, dict):
        return {"error": "EINVAL: attrs must be a mapping"}
    entries[path] = {"kind": kind, "mode": MODES[kind], "mtime": mtime, "owner": str(op.get("owner", "")),
                     "attrs": {str(k): v for k, v in attrs.items() if isinstance(v, str | int | float | bool)}}
    return {"ok": True}


def _replicas(entries: Entries, updates: Any) -> Result:
    """[[sha, add, remove], ...]: every chunk with that content, in every
    file (copies share chunks), gains `add` and loses `remove`."""
    if not isinstance(updates, list):
        return {"error": "EINVAL: updates must be a list"}
    table: dict[str, tuple[list[str], set[str]]] = {}
    for u in updates:
        if not isinstance(u, list | tuple) or len(u) != 3:
            return {"error": "EINVAL: an update is [sha, add, remove]"}
        table[str(u[0])] = ([str(r) for r in u[1]], {str(r) for r in u[2]})
    changed = 0
    for e in entries.values():
        if e["kind"] != "file":
            continue
        for c in e["chunks"]:
            change = table.get(c[0])
            if change is None:
                continue
            add, remove = change
            reps = [r for r in c[2] if r not in remove]
            reps += [r for r in add if r not in reps]
            if reps != c[2]:
                c[2] = reps
                changed += 1
    return {"ok": True, "changed": changed}


_OPS = {"mkdir": _mkdir, "commit": _write, "put": _write, "append": _write, "rm": _rm, "mv": _mv,
        "cp": _cp, "device": _device, "undevice": _undevice, "mknod": _mknod}


# ------------------------------------------------------------------ reads
def stat(entries: Entries, path: str, first: int = 0, limit: int | None = None) -> dict[str, Any] | None:
    """The entry at `path` (with "path", "name" and, for a file, "nchunks");
    a file's chunk list from `first`, at most `limit` of them."""
    p = norm(path)
    e = entries.get(p)
    if e is None:
        return None
    return _view(p, e, first, limit)


def _view(path: str, e: dict[str, Any], first: int = 0, limit: int | None = None) -> dict[str, Any]:
    out = dict(e, path=path, name=posixpath.basename(path) or "/")
    if "chunks" in e:
        chunks = e["chunks"]
        out["nchunks"] = len(chunks)
        if limit is None:
            out["chunks"] = [[c[0], c[1], list(c[2])] for c in chunks[first:]]
        elif limit <= 0:
            del out["chunks"]
        else:
            out["chunks"] = [[c[0], c[1], list(c[2])] for c in chunks[first:first + limit]]
    return out


def listdir(entries: Entries, path: str) -> list[dict[str, Any]] | Result:
    p = norm(path)
    e = entries.get(p)
    if e is None:
        return _err("ENOENT", p)
    if e["kind"] != "dir":
        return [_view(p, e, 0, 0)]
    return [_view(c, entries[c], 0, 0) for c in children(entries, p)]  # no chunk lists: stat has them


def chunk_table(entries: Entries, after: str = "", limit: int | None = None) -> dict[str, list[Any]]:
    """sha → [size, replicas (union over files)] for every stored chunk;
    a page of it: the `limit` smallest shas greater than `after`."""
    out: dict[str, list[Any]] = {}
    for e in entries.values():
        if e["kind"] != "file":
            continue
        for sha, size, reps in e["chunks"]:
            if sha <= after:
                continue
            row = out.setdefault(sha, [size, []])
            row[1].extend(r for r in reps if r not in row[1])
    if limit is not None and len(out) > limit:
        out = {k: out[k] for k in sorted(out)[:limit]}
    return out


def usage(entries: Entries) -> dict[str, int]:
    """Bytes each runtime stores (each distinct chunk counted once)."""
    out: dict[str, int] = {}
    for size, reps in chunk_table(entries).values():
        for r in reps:
            out[r] = out.get(r, 0) + size
    return out


def devices(entries: Entries, owner: str) -> list[str]:
    """The device paths a runtime registered."""
    return sorted(p for p, e in entries.items() if e["kind"] == "device" and e.get("owner") == owner)


def check(entries: Entries) -> list[str]:
    """Invariant violations (for tests): every entry's parent exists and is a dir."""
    bad = []
    for p, e in entries.items():
        if e.get("kind") not in KINDS:
            bad.append(f"{p}: bad kind {e.get('kind')!r}")
        if p != "/" and (entries.get(parent(p)) or {}).get("kind") != "dir":
            bad.append(f"{p}: parent is not a dir")
        if e.get("kind") == "file" and e["size"] != sum(c[1] for c in e["chunks"]):
            bad.append(f"{p}: size does not match its chunks")
    return bad


def runtimes_of(entry: dict[str, Any]) -> list[str]:
    """Every runtime holding some of a file's content (or owning a device)."""
    out: list[str] = []
    for c in entry.get("chunks") or []:
        out.extend(r for r in c[2] if r not in out)
    if not out and entry.get("owner"):
        out.append(str(entry["owner"]))
    return out
