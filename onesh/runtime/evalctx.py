"""The onesh context of a program: which paths are the cluster's, and what
a file operation does there.

A `Context` answers, for a path a program names, whether it is the
cluster namespace's (onesh.union's rule: a name the namespace
has, a new name only the namespace has a directory for, anything under
`/net`, `/pipes`, `/dev/KIND`) or this host's, and carries out the
operations on namespace paths: stat, listing (a directory both sides have
lists both), open, mkdir, remove, rename, copy.  Host paths are left to
the host's own functions, untouched.

Relative names are taken from the shell's working directory
(`$ONESH_PWD`), which may be a directory only the namespace has.

The Python launcher (onesh.runtime.agent) installs it into `open`, `os`,
`shutil` (onesh.runtime.ospatch); the Node.js bridge (onesh.runtime.nsbridge)
serves the same operations to a Node program.  Nothing here is imported
by a program that touches no file: the namespace client starts on first use.
"""

from __future__ import annotations

import atexit
import errno
import io
import os
import posixpath
import shutil
import stat as st
import sys
import threading
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from onesh import union

if TYPE_CHECKING:
    from onesh.runtime.nsfiles import NsRaw
    from onesh.runtime.syncns import ProgramNamespace

NS_DEV = 0x6F6E6573  # st_dev of every namespace entry: distinct from the host's devices
BLKSIZE = 64 * 1024
_KIND_BITS = {"dir": st.S_IFDIR, "file": st.S_IFREG, "device": st.S_IFCHR, "pipe": st.S_IFIFO,
              "socket": st.S_IFSOCK}


class Found(NamedTuple):
    """A namespace path: absolute and normal, with its entry (None while it
    does not exist yet) and, when looked up for reading, the members."""

    path: str
    entry: dict[str, Any] | None
    members: dict[str, dict[str, Any]] | None = None

    @property
    def kind(self) -> str | None:
        return None if self.entry is None else str(self.entry.get("kind"))


class HostOS:
    """This host's own file functions, taken before any are replaced."""

    def __init__(self) -> None:
        self.open = io.open
        self.stat, self.lstat, self.listdir, self.scandir = os.stat, os.lstat, os.listdir, os.scandir
        self.mkdir, self.makedirs, self.rmdir = os.mkdir, os.makedirs, os.rmdir
        self.remove, self.unlink, self.rename, self.replace = os.remove, os.unlink, os.rename, os.replace
        self.access, self.chdir, self.getcwd = os.access, os.chdir, os.getcwd
        self.chmod, self.utime, self.truncate = os.chmod, os.utime, os.truncate
        self.os_open, self.read, self.write, self.close = os.open, os.read, os.write, os.close
        self.lseek, self.fstat, self.fsync, self.ftruncate = os.lseek, os.fstat, os.fsync, os.ftruncate
        self.listxattr = getattr(os, "listxattr", None)
        self.copyfile, self.rmtree = shutil.copyfile, shutil.rmtree

    # os.path's predicates call os.stat at call time, which the context
    # replaces: these use the host's own stat.
    def _mode(self, path: Any, follow: bool = True) -> int | None:
        try:
            return self.stat(path, follow_symlinks=follow).st_mode
        except (OSError, ValueError):
            return None

    def exists(self, path: Any) -> bool:
        return self._mode(path) is not None

    def lexists(self, path: Any) -> bool:
        return self._mode(path, follow=False) is not None

    def isdir(self, path: Any) -> bool:
        mode = self._mode(path)
        return mode is not None and st.S_ISDIR(mode)

    def isfile(self, path: Any) -> bool:
        mode = self._mode(path)
        return mode is not None and st.S_ISREG(mode)

    def getsize(self, path: Any) -> int:
        return self.stat(path).st_size


def host_only_prefixes(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Directories never looked up in the namespace: the interpreter's own
    installation and onesh's (what `import` and tracebacks read), the
    kernel's pseudo file systems, and `extra` (a job's script cache)."""
    import onesh

    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
            os.path.dirname(os.path.abspath(onesh.__file__)), "/proc", "/sys", *extra}
    return tuple(sorted(d.rstrip("/") for d in dirs if d and d != "/"))


def stat_of(entry: dict[str, Any], path: str, size: int | None = None) -> os.stat_result:
    """An os.stat_result for a namespace entry (inode from the path, device NS_DEV)."""
    import hashlib

    kind = str(entry.get("kind", "file"))
    perm = int(entry.get("mode") or (0o755 if kind == "dir" else 0o644)) & 0o7777
    ino = int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=7).digest(), "big")
    if size is None:
        size = int(entry.get("size") or 0)
    mtime = float(entry.get("mtime") or 0.0)
    t, ns = int(mtime), int(mtime * 1e9)
    return os.stat_result((_KIND_BITS.get(kind, st.S_IFREG) | perm, ino, NS_DEV, 1, os.getuid(), os.getgid(),
                           size, t, t, t, mtime, mtime, mtime, ns, ns, ns, BLKSIZE, (size + 511) // 512))


def _err(code: int, path: str, path2: str | None = None) -> OSError:
    if path2 is not None:
        return OSError(code, os.strerror(code), path, None, path2)
    return OSError(code, os.strerror(code), path)


def _norm(path: str) -> str:
    return "/" + posixpath.normpath(path).lstrip("/")


class Context:
    """One per program process (or per Node.js bridge)."""

    def __init__(self, env: Mapping[str, str] | None = None, *, host: HostOS | None = None,
                 extra_host_only: tuple[str, ...] = ()) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.host = host or HostOS()
        self.attached = bool(self.env.get("ONESH_BOOT") and self.env.get("ONESH_SECRET"))
        self.prefixes = host_only_prefixes(extra_host_only)
        real = self.host.getcwd()
        self.cwd = _norm(self.env.get("ONESH_PWD") or real)
        self.cwd_is_real = self._same_dir(self.cwd, real)
        self.fds: dict[int, NsRaw] = {}  # os.open'ed namespace files, by their placeholder fd
        # Namespace files still open at exit are closed (committed) then, as
        # a host file's buffers are flushed: first what open() returned (its
        # buffers flush into the raw file), then the raw files.
        self.open_files: weakref.WeakSet[Any] = weakref.WeakSet()
        self.open_raws: weakref.WeakSet[NsRaw] = weakref.WeakSet()
        self._pns: ProgramNamespace | None = None
        self._lock = threading.Lock()
        # Threads of the context itself (the namespace client's loop): the
        # libraries running there (zmq, reading the cluster secret) see the
        # host's files only, never the context again.
        self._own_threads: set[int] = set()
        self._exit_hooked = False
        self._code: frozenset[str] = frozenset()
        self._code_seen = -1

    def _same_dir(self, a: str, b: str) -> bool:
        if a == b:
            return True
        try:
            sa, sb = self.host.stat(a), self.host.stat(b)
        except OSError:
            return False
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)

    # ------------------------------------------------------------ client
    @property
    def pns(self) -> ProgramNamespace:
        pns = self._pns
        if pns is None or pns.thread_pid != os.getpid():
            with self._lock:
                pns = self._pns
                if pns is None or pns.thread_pid != os.getpid():
                    from onesh.runtime.syncns import ProgramNamespace

                    self._own_threads.clear()  # (a forked child: those threads are gone)
                    pns = ProgramNamespace(self.env, on_thread=self._own_threads.add)
                    self._pns = pns
                    self.close_at_exit()
        return pns

    def close_at_exit(self) -> None:
        """Register `close` with atexit (once).  The launcher does it before
        the program starts, so that it runs after the program's own exit
        handlers, which may still write namespace files."""
        if not self._exit_hooked:
            self._exit_hooked = True
            atexit.register(self.close)

    def close(self) -> None:
        """At exit: commit the namespace files the program left open (as a
        host file's buffers are flushed), then stop the client."""
        for f in [*self.open_files, *self.open_raws]:
            try:
                f.close()
            except Exception as e:  # noqa: BLE001 - the program is exiting: say what was lost
                sys.stderr.write(f"onesh: {getattr(f, 'name', '?')}: not saved: {e}\n")
        self.fds.clear()
        if self._pns is not None and self._pns.thread_pid == os.getpid():
            self._pns.close()
        self._pns = None

    # ------------------------------------------------------------ routing
    def absolute(self, path: Any) -> str | None:
        """The absolute, normal form of a path argument (None for an fd)."""
        if isinstance(path, int):
            return None
        p = os.fspath(path)
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if "\0" in p:
            return None  # the host call raises the right ValueError
        return _norm(posixpath.join(self.cwd, p))

    def _candidate(self, path: Any, dir_fd: int | None) -> str | None:
        if dir_fd is not None or not self.attached or threading.get_ident() in self._own_threads:
            return None
        full = self.absolute(path)
        if full is None or union.host_only(full, self.prefixes) or self._is_code(full):
            return None
        return full

    def _is_code(self, full: str) -> bool:
        """A file the program was loaded from (its script, an imported
        module): this host's, as imports are.  (Tracebacks read them back.)"""
        if len(sys.modules) != self._code_seen:
            self._code_seen = len(sys.modules)
            self._code = frozenset(os.path.abspath(f) for m in list(sys.modules.values())
                                   if isinstance(f := getattr(m, "__file__", None), str))
        return full in self._code

    def entry(self, full: str) -> dict[str, Any] | None:
        pns = self.pns
        found: dict[str, Any] | None = pns.run(pns.ns.stat(full, chunks=False))
        return found

    def lookup(self, path: Any, *, dir_fd: int | None = None, reading: bool = False) -> Found | None:
        """The namespace path for an existing name, or None: the host's.
        `reading`: also the chunk list and members, to open it."""
        full = self._candidate(path, dir_fd)
        if full is None:
            return None
        rooted = union.under_namespace_root(full, self.host.exists)
        if not rooted and union.host_has(full, self.host.exists, self.host.isdir):
            return None  # the host's (no round trip): the namespace never hides a host file
        members = None
        if reading and not full.startswith("/net/"):
            pns = self.pns
            entry, members = pns.run(pns.ns.resolve(full))
        else:
            entry = self.entry(full)
        if entry is None and not rooted:
            return None
        return Found(full, entry, members)

    def lookup_new(self, path: Any, *, dir_fd: int | None = None) -> Found | None:
        """The namespace path for a name that may be created, or None."""
        full = self._candidate(path, dir_fd)
        if full is None:
            return None
        rooted = union.under_namespace_root(full, self.host.exists)
        if not rooted and union.host_has(full, self.host.exists, self.host.isdir):
            return None
        entry = self.entry(full)
        if rooted or union.new_name_in_namespace(
                entry is not None, self.host.isdir(posixpath.dirname(full))):
            return Found(full, entry)
        return None

    def host_path(self, path: Any, dir_fd: int | None = None) -> Any:
        """What to hand the host's function: the argument itself, unless it
        is relative (to no dir_fd) and our working directory is not the
        process's."""
        if self.cwd_is_real or isinstance(path, int) or dir_fd is not None:
            return path
        p = os.fspath(path)
        if isinstance(p, bytes):
            return p if p.startswith(b"/") else os.fsencode(self.cwd) + b"/" + p
        return p if p.startswith("/") else posixpath.join(self.cwd, p)

    # --------------------------------------------------------- operations
    def stat(self, found: Found) -> os.stat_result:
        if found.entry is None:
            raise _err(errno.ENOENT, found.path)
        return stat_of(found.entry, found.path)

    def scan(self, found: Found) -> list[tuple[str, dict[str, Any] | None]]:
        """(name, namespace entry | None for a host name) of a directory:
        the namespace's names, then the host's others when the host has
        the directory too (a union, never a mask)."""
        if found.entry is None:
            raise _err(errno.ENOENT, found.path)
        if found.kind != "dir":
            raise _err(errno.ENOTDIR, found.path)
        pns = self.pns
        rows = pns.run(pns.ns.listdir(found.path))
        out: list[tuple[str, dict[str, Any] | None]] = []
        for r in rows:
            name = str(r.get("name") or posixpath.basename(str(r.get("path", ""))))
            out.append((name, r))
        if not union.under_namespace_root(found.path, self.host.exists) and self.host.isdir(found.path):
            seen = {n for n, _ in out}
            try:
                out += [(n, None) for n in self.host.listdir(found.path) if n not in seen]
            except OSError:
                pass  # not readable here: the namespace's names still are
        return out

    def listdir(self, found: Found) -> list[str]:
        return [name for name, _ in self.scan(found)]

    def need_dir(self, path: str) -> None:
        """Creating `path` in the namespace needs its directory there."""
        parent = posixpath.dirname(path)
        entry = self.entry(parent)
        if entry is None:
            raise _err(errno.ENOENT, path)
        if entry.get("kind") != "dir":
            raise _err(errno.ENOTDIR, path)

    def open_raw(self, found: Found, kind: str, plus: bool, mode: str, *, truncate: bool | None = None) -> NsRaw:
        """A raw file for a namespace path: `kind` one of r w x a (as in an
        open() mode), `plus` for read-write.  `truncate` (os.open without
        O_TRUNC) keeps a write-only file's content."""
        from onesh.runtime import nsfiles

        pns, path, e = self.pns, found.path, found.entry
        if found.kind == "dir":
            raise _err(errno.EISDIR, path)
        if e is None and kind == "r":
            raise _err(errno.ENOENT, path)
        if kind == "r" and not plus:
            raw: NsRaw = self._reader(found)
        else:
            if e is not None and kind == "x":
                raise _err(errno.EEXIST, path)
            if path.startswith("/net/"):
                raise _err(errno.EROFS, path)
            if found.kind == "pipe":
                if plus:
                    raise OSError(errno.EINVAL, "a named pipe is opened for reading or for writing", path)
                raw = nsfiles.PipeWriter(pns, path)
            elif e is not None and found.kind != "file":
                raise OSError(errno.EPERM, f"a {found.kind} cannot be written", path)
            else:
                if e is None:
                    self.need_dir(path)
                keep = e is not None and (kind in "ra" or truncate is False)
                if plus or (keep and kind == "w"):
                    content = pns.run(pns.ns.read_bytes(path)) if keep else b""
                    raw = nsfiles.MemFile(pns, path, content, mode, created=not keep, append=kind == "a")
                else:
                    raw = nsfiles.Writer(pns, path, append=kind == "a")
            self.open_raws.add(raw)
        return raw

    def _reader(self, found: Found) -> NsRaw:
        from onesh.runtime import nsfiles

        pns, path, e = self.pns, found.path, found.entry
        assert e is not None
        if path.startswith("/net/") or found.kind == "pipe":
            return nsfiles.StreamReader(pns, path)
        if found.kind == "device":
            from onesh.runtime.devices import device_for_path, open_device

            spec = device_for_path(path, dict(self.env))
            if spec is None:
                owner = e.get("owner") or "another runtime"
                raise OSError(errno.EREMOTE, f"a device of {owner}: a stage reading it runs there", path)
            return nsfiles.DeviceRaw(path, open_device(spec))
        if found.kind != "file":
            raise OSError(errno.EINVAL, f"a {found.kind} cannot be opened", path)
        members = found.members
        if members is None or "chunks" not in e:
            e, members = pns.run(pns.ns.resolve(path))
            if e is None:
                raise _err(errno.ENOENT, path)
        return nsfiles.ChunkReader(pns, path, e, members or {})

    def read_bytes(self, found: Found) -> bytes:
        with self._reader(found) as f:
            return f.readall() or b""

    def write_bytes(self, found: Found, data: bytes, *, append: bool = False, exclusive: bool = False) -> None:
        raw = self.open_raw(found, "x" if exclusive else "a" if append else "w", False, "wb")
        try:
            raw.write(data)
        finally:
            raw.close()

    def mkdir(self, found: Found, *, parents: bool = False, exist_ok: bool = False) -> None:
        if found.entry is not None:
            if exist_ok and found.kind == "dir":
                return
            raise _err(errno.EEXIST, found.path)
        pns = self.pns
        pns.run(pns.ns.mkdir(found.path, parents=parents))

    def remove(self, found: Found) -> None:
        self._rm(found, a_dir=False)

    def rmdir(self, found: Found) -> None:
        self._rm(found, a_dir=True)

    def _rm(self, found: Found, a_dir: bool) -> None:
        """unlink(2) or rmdir(2): each removes only its own kind."""
        if found.entry is None:
            raise _err(errno.ENOENT, found.path)
        if (found.kind == "dir") != a_dir:
            raise _err(errno.ENOTDIR if a_dir else errno.EISDIR, found.path)
        pns = self.pns
        pns.run(pns.ns.rm(found.path))

    def rmtree(self, found: Found) -> None:
        if found.entry is None:
            raise _err(errno.ENOENT, found.path)
        pns = self.pns
        pns.run(pns.ns.rm(found.path, recursive=True))

    def rename(self, src: Found, dst: Found) -> None:
        if src.entry is None:
            raise _err(errno.ENOENT, src.path, dst.path)
        pns = self.pns
        pns.run(pns.ns.mv(src.path, dst.path))

    def copy(self, src: Found | None, src_arg: Any, dst: Found | None, dst_arg: Any) -> None:
        """One file's content from src to dst, either of which may be the
        host's (None: then the *_arg names it).  Within the namespace it is
        a metadata copy: chunks are content-addressed and shared."""
        if src is not None:
            if src.entry is None:
                raise _err(errno.ENOENT, src.path)
            if src.kind == "dir":
                raise _err(errno.EISDIR, src.path)
        if dst is not None and dst.kind == "dir":
            raise _err(errno.EISDIR, dst.path)
        if src is not None and dst is not None and src.kind == "file" and not src.path.startswith("/net/"):
            if dst.entry is None:
                self.need_dir(dst.path)
            pns = self.pns
            pns.run(pns.ns.cp(src.path, dst.path))
            return
        reader: Any = self._reader(src) if src is not None else self.host.open(self.host_path(src_arg), "rb")
        with reader:
            writer: Any = (self.open_raw(dst, "w", False, "wb") if dst is not None
                           else self.host.open(self.host_path(dst_arg), "wb"))
            with writer:
                while block := reader.read(1 << 20):
                    writer.write(block)
