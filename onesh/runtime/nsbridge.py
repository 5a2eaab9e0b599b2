"""The namespace for a Node.js program: a small local RPC over a Unix socket.

Node's `fs` calls are synchronous from the program's point of view, and a
Node program cannot speak the cluster protocol (CurveZMQ, msgpack) itself.
So its preload (onesh/runtime/node/preload.cjs) asks this bridge, run by
the program's launcher (onesh.runtime.nodeagent), through a worker thread
it waits for with Atomics: one round trip per call, about 0.2 ms plus the
namespace's own answer.  The bridge applies the same Context as the Python
launcher does (onesh.runtime.evalctx): the same union rule, the same
durable writes.  An answer `{"host": true}` tells the preload to do the
call itself with Node's own function: the path is this host's.

The socket is a fresh file in the user's private 0700 directory (the one
same-host pipes use), and a peer of another uid is refused.

Frame, both ways: u32 (big-endian) length of what follows, u32 length of
the header, the header as JSON, then the payload bytes (file content).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import socket
import struct
import tempfile
import threading
from typing import Any

from onesh.runtime.evalctx import Context, Found
from onesh.runtime.nsfiles import NsRaw

MAX_FRAME = 1 << 30
_HOST: tuple[dict[str, Any], bytes] = ({"host": True}, b"")
_OK: tuple[dict[str, Any], bytes] = ({"ok": True}, b"")
# Node's flags strings → (open() kind, read-write)
_FLAGS = {"r": ("r", False), "rs": ("r", False), "sr": ("r", False), "r+": ("r", True), "rs+": ("r", True),
          "w": ("w", False), "wx": ("x", False), "xw": ("x", False), "w+": ("w", True), "wx+": ("x", True),
          "a": ("a", False), "ax": ("a", False), "xa": ("a", False), "as": ("a", False), "a+": ("a", True),
          "ax+": ("a", True), "as+": ("a", True)}


def error_reply(e: OSError) -> dict[str, Any]:
    code = errno.errorcode.get(e.errno or errno.EIO, "EIO")
    return {"error": {"code": code, "errno": e.errno or errno.EIO, "message": e.strerror or str(e),
                      "path": e.filename, "dest": e.filename2}}


def entry_view(found: Found) -> dict[str, Any]:
    from onesh.runtime.evalctx import stat_of

    s = stat_of(found.entry or {}, found.path)
    return {"kind": found.kind, "mode": s.st_mode, "size": s.st_size, "ino": s.st_ino, "dev": s.st_dev,
            "uid": s.st_uid, "gid": s.st_gid, "mtimeMs": s.st_mtime * 1000.0, "blksize": s.st_blksize,
            "blocks": s.st_blocks}


def _host_kind(path: str) -> str:
    import stat as st

    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return "unknown"
    for test, kind in ((st.S_ISDIR, "dir"), (st.S_ISREG, "file"), (st.S_ISLNK, "symlink"), (st.S_ISFIFO, "pipe"),
                       (st.S_ISSOCK, "socket"), (st.S_ISCHR, "device"), (st.S_ISBLK, "block")):
        if test(mode):
            return kind
    return "unknown"


class Bridge:
    """The operations, one connection's open namespace files included."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.handles: dict[int, NsRaw] = {}
        self._next = 1

    def handle(self, header: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        op = str(header.get("op", ""))
        fn = getattr(self, "op_" + op, None)
        if fn is None:
            return {"error": {"code": "ENOSYS", "errno": errno.ENOSYS, "message": f"unknown bridge op {op!r}"}}, b""
        try:
            reply: tuple[dict[str, Any], bytes] = fn(header, payload)
            return reply
        except OSError as e:
            return error_reply(e), b""
        except (ValueError, TypeError, KeyError) as e:
            return {"error": {"code": "EINVAL", "errno": errno.EINVAL, "message": str(e)}}, b""

    def close(self) -> None:
        for raw in self.handles.values():
            try:
                raw.close()
            except OSError:
                pass
        self.handles.clear()

    # ------------------------------------------------------------ by path
    def op_stat(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup(h["path"])
        if found is None:
            return _HOST
        self.ctx.stat(found)  # ENOENT
        return {"stat": entry_view(found)}, b""

    def op_readdir(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup(h["path"])
        if found is None:
            return _HOST
        rows = self.ctx.scan(found)
        return {"entries": [[n, str(e.get("kind")) if e is not None else _host_kind(os.path.join(found.path, n))]
                            for n, e in rows]}, b""

    def op_read(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup(h["path"], reading=True)
        if found is None:
            return _HOST
        if found.entry is None:
            self.ctx.stat(found)  # ENOENT
        if found.kind == "dir":
            raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), found.path)
        return {"ok": True}, self.ctx.read_bytes(found)

    def op_write(self, h: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup_new(h["path"])
        if found is None:
            return _HOST
        kind, _plus = _FLAGS.get(str(h.get("flag", "w")), ("w", False))
        self.ctx.write_bytes(found, payload, append=kind == "a", exclusive=kind == "x")
        return _OK

    def op_mkdir(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup_new(h["path"])
        if found is None:
            return _HOST
        recursive = bool(h.get("recursive"))
        self.ctx.mkdir(found, parents=recursive, exist_ok=recursive)
        return _OK

    def op_unlink(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup(h["path"])
        if found is None:
            return _HOST
        self.ctx.remove(found)
        return _OK

    def op_rmdir(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup(h["path"])
        if found is None:
            return _HOST
        if h.get("recursive"):
            self.ctx.rmtree(found)
        else:
            self.ctx.rmdir(found)
        return _OK

    def op_rm(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup(h["path"])
        if found is None:
            return _HOST
        if found.entry is None:
            if h.get("force"):
                return _OK
            self.ctx.stat(found)  # ENOENT
        if found.kind == "dir" and not h.get("recursive"):
            raise OSError(errno.EISDIR, "Path is a directory", found.path)
        self.ctx.rmtree(found)
        return _OK

    def op_rename(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        src, dst = self.ctx.lookup(h["src"]), self.ctx.lookup_new(h["dst"])
        if src is None and dst is None:
            return _HOST
        if src is None or dst is None:
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), h["src"], None, h["dst"])
        self.ctx.rename(src, dst)
        return _OK

    def op_copy(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        src, dst = self.ctx.lookup(h["src"], reading=True), self.ctx.lookup_new(h["dst"])
        if src is None and dst is None:
            return _HOST
        if h.get("excl"):
            exists = dst.entry is not None if dst is not None else self.ctx.host.exists(self.ctx.host_path(h["dst"]))
            if exists:
                raise OSError(errno.EEXIST, os.strerror(errno.EEXIST), h["dst"])
        self.ctx.copy(src, h["src"], dst, h["dst"])
        return _OK

    def op_realpath(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        found = self.ctx.lookup(h["path"])
        if found is None:
            return _HOST
        self.ctx.stat(found)  # ENOENT
        return {"path": found.path}, b""

    # ------------------------------------------------------- open files
    def op_open(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        kind, plus = _FLAGS.get(str(h.get("flags", "r")), ("", False))
        if not kind:
            raise ValueError(f"unsupported open flags {h.get('flags')!r}")
        found = self.ctx.lookup(h["path"], reading=True) if kind == "r" else self.ctx.lookup_new(h["path"])
        if found is None:
            return _HOST
        raw = self.ctx.open_raw(found, kind, plus, kind + ("+" if plus else "") + "b")
        n, self._next = self._next, self._next + 1
        self.handles[n] = raw
        return {"handle": n, "size": raw.size()}, b""

    def _raw(self, h: dict[str, Any]) -> NsRaw:
        raw = self.handles.get(int(h["handle"]))
        if raw is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return raw

    def op_pread(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        raw = self._raw(h)
        if h.get("position") is not None:
            raw.seek(int(h["position"]))
        return {"ok": True}, raw.read(int(h["length"])) or b""

    def op_pwrite(self, h: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        raw = self._raw(h)
        if h.get("position") is not None and raw.seekable():
            raw.seek(int(h["position"]))
        return {"written": raw.write(payload) or 0}, b""

    def op_fstat(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        raw = self._raw(h)
        return {"stat": entry_view(Found(raw.name, {"kind": "file", "size": raw.size()}))}, b""

    def op_fsync(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        self._raw(h).commit()
        return _OK

    def op_ftruncate(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        self._raw(h).truncate(int(h.get("length", 0)))
        return _OK

    def op_close(self, h: dict[str, Any], _p: bytes) -> tuple[dict[str, Any], bytes]:
        raw = self.handles.pop(int(h["handle"]), None)
        if raw is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        raw.close()
        return _OK


# ------------------------------------------------------------------ framing
def encode(header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">II", 4 + len(head) + len(payload), len(head)) + head + payload


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        part = sock.recv(min(n - len(buf), 1 << 20))
        if not part:
            return None
        buf += part
    return bytes(buf)


def recv_frame(sock: socket.socket) -> tuple[dict[str, Any], bytes] | None:
    first = _recv_exact(sock, 8)
    if first is None:
        return None
    total, head_len = struct.unpack(">II", first)
    if total > MAX_FRAME or head_len > total - 4:
        raise ValueError("bad bridge frame")
    rest = _recv_exact(sock, total - 4)
    if rest is None:
        return None
    header = json.loads(rest[:head_len])
    if not isinstance(header, dict):
        raise ValueError("bad bridge header")
    return header, rest[head_len:]


# ------------------------------------------------------------------- server
class BridgeServer:
    """Serves a Context on a Unix socket: a thread per connection (each
    Node thread that touches the namespace has one)."""

    def __init__(self, ctx: Context) -> None:
        from onesh.net.samehost import ipc_dir

        self.ctx = ctx
        base = ipc_dir()
        self._own_dir = None
        if base is None:  # (no private directory to share: make one)
            base = self._own_dir = tempfile.mkdtemp(prefix="onesh-bridge-")
        self.path = os.path.join(base, f"b{secrets.token_hex(8)}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(16)
        self._thread = threading.Thread(target=self._accept, name="onesh-bridge", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            _pid, uid, _gid = struct.unpack("3i", creds)
            if uid != os.getuid():
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn,), name="onesh-bridge-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        bridge = Bridge(self.ctx)
        try:
            with conn:
                while True:
                    frame = recv_frame(conn)
                    if frame is None:
                        return
                    header, payload = bridge.handle(*frame)
                    conn.sendall(encode(header, payload))
        except (OSError, ValueError):
            return
        finally:
            bridge.close()

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            if self._own_dir is not None:
                os.rmdir(self._own_dir)
