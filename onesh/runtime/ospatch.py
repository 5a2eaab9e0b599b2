"""Installing the onesh context into a running Python program.

`install(ctx)` replaces `open` (builtins and io), the file functions of
`os` and `os.path`, and `shutil.copyfile`/`rmtree` with functions that ask
the Context whether a path is the cluster namespace's; a host path goes to
the original function with the very same arguments.  `pathlib`, `glob`,
`os.walk`, `shutil.copy`/`copy2`/`copytree`/`move` and `tempfile` all reach
the files through these, so they follow.

`os.open` on a namespace path returns a real file descriptor number (a
directory opened read-only, so that a child process or `mmap` given it
fails loudly instead of reading something else); `os.read`, `os.write`,
`os.lseek`, `os.fstat`, `os.fsync`, `os.ftruncate`, `os.close` and
`open(fd)` on it act on the namespace file.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import posixpath
import shutil
from collections.abc import Iterator
from typing import Any

from onesh.runtime.evalctx import Context, Found, stat_of
from onesh.runtime.nsfiles import NsRaw, layer, parse_mode


class NsDirEntry:
    """What os.scandir yields for a namespace name."""

    def __init__(self, parent_arg: Any, name: str, full: str, entry: dict[str, Any]) -> None:
        self.name = name
        self.path = posixpath.join(os.fspath(parent_arg), name) if not isinstance(parent_arg, int) else name
        self._full = full
        self._entry = entry

    def is_dir(self, *, follow_symlinks: bool = True) -> bool:
        return self._entry.get("kind") == "dir"

    def is_file(self, *, follow_symlinks: bool = True) -> bool:
        return self._entry.get("kind") == "file"

    def is_symlink(self) -> bool:
        return False

    def is_junction(self) -> bool:
        return False

    def inode(self) -> int:
        return stat_of(self._entry, self._full).st_ino

    def stat(self, *, follow_symlinks: bool = True) -> os.stat_result:
        return stat_of(self._entry, self._full)

    def __fspath__(self) -> str:
        return self.path

    def __repr__(self) -> str:
        return f"<DirEntry {self.name!r}>"


class ScanIterator:
    """os.scandir's iterator (a context manager too)."""

    def __init__(self, entries: list[Any]) -> None:
        self._it: Iterator[Any] = iter(entries)

    def __iter__(self) -> ScanIterator:
        return self

    def __next__(self) -> Any:
        return next(self._it)

    def __enter__(self) -> ScanIterator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._it = iter(())


class Patched:
    """The replacement functions, bound to one Context."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.h = ctx.host

    # --------------------------------------------------------------- open
    def open(self, file: Any, mode: str = "r", buffering: int = -1, encoding: str | None = None,
             errors: str | None = None, newline: str | None = None, closefd: bool = True,
             opener: Any = None) -> Any:
        ctx = self.ctx
        if isinstance(file, int):
            raw = ctx.fds.get(file)
            if raw is not None:
                f = layer(raw, mode, buffering, encoding, errors, newline)
                if raw.writable():
                    ctx.open_files.add(f)
                return f
        elif ctx.attached and opener is None and isinstance(mode, str):
            try:
                kind, plus, _binary = parse_mode(mode)
            except ValueError:
                kind, plus = "", False  # the host's open says what is wrong
            if kind:
                found = ctx.lookup(file, reading=True) if kind == "r" else ctx.lookup_new(file)
                if found is not None:
                    raw = ctx.open_raw(found, kind, plus, mode)
                    try:
                        f = layer(raw, mode, buffering, encoding, errors, newline)
                    except BaseException:
                        raw.close()
                        raise
                    if raw.writable():
                        ctx.open_files.add(f)
                    return f
            file = ctx.host_path(file)
        return self.h.open(file, mode, buffering, encoding, errors, newline, closefd, opener)

    # ----------------------------------------------------------- metadata
    def stat(self, path: Any, *, dir_fd: int | None = None, follow_symlinks: bool = True) -> os.stat_result:
        if isinstance(path, int) and path in self.ctx.fds:
            return self.fstat(path)
        found = self.ctx.lookup(path, dir_fd=dir_fd)
        if found is not None:
            return self.ctx.stat(found)
        return self.h.stat(self.ctx.host_path(path, dir_fd), dir_fd=dir_fd, follow_symlinks=follow_symlinks)

    def lstat(self, path: Any, *, dir_fd: int | None = None) -> os.stat_result:
        found = self.ctx.lookup(path, dir_fd=dir_fd)
        if found is not None:
            return self.ctx.stat(found)
        return self.h.lstat(self.ctx.host_path(path, dir_fd), dir_fd=dir_fd)

    def exists(self, path: Any) -> bool:
        found = self._found(path)
        if found is None:
            return self.h.exists(self.ctx.host_path(path))
        return found.entry is not None

    def lexists(self, path: Any) -> bool:
        found = self._found(path)
        if found is None:
            return self.h.lexists(self.ctx.host_path(path))
        return found.entry is not None

    def isfile(self, path: Any) -> bool:
        found = self._found(path)
        if found is None:
            return self.h.isfile(self.ctx.host_path(path))
        return found.kind == "file"

    def isdir(self, path: Any) -> bool:
        found = self._found(path)
        if found is None:
            return self.h.isdir(self.ctx.host_path(path))
        return found.kind == "dir"

    def getsize(self, path: Any) -> int:
        return self.stat(path).st_size

    def _found(self, path: Any) -> Found | None:
        """For os.path's predicates: a path that is not even a valid
        argument is simply not there (as os.path.exists says)."""
        try:
            return self.ctx.lookup(path)
        except (TypeError, ValueError):
            return None

    def access(self, path: Any, mode: int, *, dir_fd: int | None = None, effective_ids: bool = False,
               follow_symlinks: bool = True) -> bool:
        found = self.ctx.lookup(path, dir_fd=dir_fd)
        if found is None:
            return self.h.access(self.ctx.host_path(path, dir_fd), mode, dir_fd=dir_fd, effective_ids=effective_ids,
                                 follow_symlinks=follow_symlinks)
        if found.entry is None:
            return False
        return not (mode & os.W_OK and found.path.startswith("/net/"))

    def chmod(self, path: Any, mode: int, *, dir_fd: int | None = None, follow_symlinks: bool = True) -> None:
        found = self.ctx.lookup(path, dir_fd=dir_fd) if not isinstance(path, int) else None
        if found is None:
            self.h.chmod(self.ctx.host_path(path, dir_fd), mode, dir_fd=dir_fd, follow_symlinks=follow_symlinks)
        elif found.entry is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), found.path)
        # (a namespace entry's mode is not settable: shutil.copy's copymode is then a no-op)

    def utime(self, path: Any, *args: Any, **kw: Any) -> None:
        found = self.ctx.lookup(path, dir_fd=kw.get("dir_fd")) if not isinstance(path, int) else None
        if found is None:
            self.h.utime(self.ctx.host_path(path, kw.get("dir_fd")), *args, **kw)
        elif found.entry is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), found.path)
        # (times of namespace entries are the cluster's: not settable)

    def listxattr(self, path: Any = None, *, follow_symlinks: bool = True) -> list[str]:
        found = self.ctx.lookup(path) if path is not None and not isinstance(path, int) else None
        if found is None:
            assert self.h.listxattr is not None
            return list(self.h.listxattr(self.ctx.host_path(path), follow_symlinks=follow_symlinks))
        return []

    # --------------------------------------------------------- directories
    def listdir(self, path: Any = None) -> list[Any]:
        if path is None:
            path = "."
        found = self.ctx.lookup(path)
        if found is None:
            return self.h.listdir(self.ctx.host_path(path))
        names = self.ctx.listdir(found)
        return [os.fsencode(n) for n in names] if isinstance(os.fspath(path), bytes) else names

    def scandir(self, path: Any = None) -> Any:
        if path is None:
            path = "."
        found = self.ctx.lookup(path)
        if found is None:
            return self.h.scandir(self.ctx.host_path(path))
        rows = self.ctx.scan(found)
        host_names = {n for n, e in rows if e is None}
        out: list[Any] = [NsDirEntry(path, n, posixpath.join(found.path, n), e) for n, e in rows if e is not None]
        if host_names:
            with self.h.scandir(found.path) as it:
                out += [d for d in it if d.name in host_names]
        return ScanIterator(out)

    def mkdir(self, path: Any, mode: int = 0o777, *, dir_fd: int | None = None) -> None:
        found = self.ctx.lookup_new(path, dir_fd=dir_fd)
        if found is None:
            self.h.mkdir(self.ctx.host_path(path, dir_fd), mode, dir_fd=dir_fd)
        else:
            self.ctx.mkdir(found)

    def makedirs(self, name: Any, mode: int = 0o777, exist_ok: bool = False) -> None:
        found = self.ctx.lookup_new(name)
        if found is None:
            self.h.makedirs(self.ctx.host_path(name), mode, exist_ok)
        else:
            self.ctx.mkdir(found, parents=True, exist_ok=exist_ok)

    def rmdir(self, path: Any, *, dir_fd: int | None = None) -> None:
        found = self.ctx.lookup(path, dir_fd=dir_fd)
        if found is None:
            self.h.rmdir(self.ctx.host_path(path, dir_fd), dir_fd=dir_fd)
        else:
            self.ctx.rmdir(found)

    def remove(self, path: Any, *, dir_fd: int | None = None) -> None:
        found = self.ctx.lookup(path, dir_fd=dir_fd)
        if found is None:
            self.h.remove(self.ctx.host_path(path, dir_fd), dir_fd=dir_fd)
        else:
            self.ctx.remove(found)

    def rename(self, src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None) -> None:
        self._move(self.h.rename, src, dst, src_dir_fd, dst_dir_fd)

    def replace(self, src: Any, dst: Any, *, src_dir_fd: int | None = None, dst_dir_fd: int | None = None) -> None:
        self._move(self.h.replace, src, dst, src_dir_fd, dst_dir_fd)

    def _move(self, host_fn: Any, src: Any, dst: Any, src_dir_fd: int | None, dst_dir_fd: int | None) -> None:
        s = self.ctx.lookup(src, dir_fd=src_dir_fd)
        d = self.ctx.lookup_new(dst, dir_fd=dst_dir_fd)
        if s is None and d is None:
            host_fn(self.ctx.host_path(src, src_dir_fd), self.ctx.host_path(dst, dst_dir_fd), src_dir_fd=src_dir_fd,
                    dst_dir_fd=dst_dir_fd)
        elif s is not None and d is not None:
            self.ctx.rename(s, d)
        else:
            # Between the namespace and this host, as between two file
            # systems: shutil.move then copies and removes.
            raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), os.fsdecode(os.fspath(src)), None,
                          os.fsdecode(os.fspath(dst)))

    def chdir(self, path: Any) -> None:
        ctx = self.ctx
        found = ctx.lookup(path) if not isinstance(path, int) else None
        if found is None:
            self.h.chdir(ctx.host_path(path))
            ctx.cwd = self.h.getcwd()
            ctx.cwd_is_real = True
            return
        if found.entry is None:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), found.path)
        if found.kind != "dir":
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), found.path)
        ctx.cwd = found.path
        try:
            self.h.chdir(found.path)  # a directory both sides have: the host's relative names follow too
            ctx.cwd_is_real = True
        except OSError:
            ctx.cwd_is_real = False

    def getcwd(self) -> str:
        return self.ctx.cwd

    def getcwdb(self) -> bytes:
        return os.fsencode(self.ctx.cwd)

    def truncate(self, path: Any, length: int) -> None:
        found = self.ctx.lookup(path) if not isinstance(path, int) else None
        if found is None:
            self.h.truncate(self.ctx.host_path(path), length)
            return
        raw = self.ctx.open_raw(found, "r", True, "rb+")
        try:
            raw.truncate(length)
        finally:
            raw.close()

    # ----------------------------------------------------- file descriptors
    def os_open(self, path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        ctx = self.ctx
        found = ctx.lookup_new(path, dir_fd=dir_fd) if flags & os.O_CREAT else ctx.lookup(path, dir_fd=dir_fd)
        if found is None:
            return self.h.os_open(ctx.host_path(path, dir_fd), flags, mode, dir_fd=dir_fd)
        if found.entry is not None and flags & os.O_CREAT and flags & os.O_EXCL:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), found.path)
        access = flags & os.O_ACCMODE
        kind = "r" if access == os.O_RDONLY else "a" if flags & os.O_APPEND else "w"
        if found.entry is None and not flags & os.O_CREAT:
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), found.path)
        if access == os.O_RDWR and kind == "w" and found.entry is not None and not flags & os.O_TRUNC:
            kind = "r"  # read-write, content kept
        raw = ctx.open_raw(found, kind, access == os.O_RDWR, "rb" if kind == "r" else kind + "b",
                           truncate=bool(flags & os.O_TRUNC))
        fd = self.h.os_open("/", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        ctx.fds[fd] = raw
        return fd

    def read(self, fd: int, n: int) -> bytes:
        raw = self.ctx.fds.get(fd)
        if raw is None:
            return self.h.read(fd, n)
        return raw.read(n) or b""

    def write(self, fd: int, data: Any) -> int:
        raw = self.ctx.fds.get(fd)
        if raw is None:
            return self.h.write(fd, data)
        return raw.write(data) or 0

    def close(self, fd: int) -> None:
        raw = self.ctx.fds.pop(fd, None)
        try:
            if raw is not None:
                raw.close()
        finally:
            self.h.close(fd)

    def lseek(self, fd: int, pos: int, how: int) -> int:
        raw = self.ctx.fds.get(fd)
        if raw is None:
            return self.h.lseek(fd, pos, how)
        return raw.seek(pos, how)

    def fstat(self, fd: int) -> os.stat_result:
        raw = self.ctx.fds.get(fd)
        if raw is None:
            return self.h.fstat(fd)
        return stat_of({"kind": "file"}, raw.name, raw.size())

    def fsync(self, fd: Any) -> None:
        num = fd if isinstance(fd, int) else fd.fileno()
        raw = self.ctx.fds.get(num)
        if raw is None:
            self.h.fsync(fd)
        else:
            raw.commit()

    def ftruncate(self, fd: int, length: int) -> None:
        raw = self.ctx.fds.get(fd)
        if raw is None:
            self.h.ftruncate(fd, length)
        else:
            raw.truncate(length)

    # -------------------------------------------------------------- shutil
    def copyfile(self, src: Any, dst: Any, *, follow_symlinks: bool = True) -> Any:
        s, d = self.ctx.lookup(src, reading=True), self.ctx.lookup_new(dst)
        if s is None and d is None:
            return self.h.copyfile(self.ctx.host_path(src), self.ctx.host_path(dst),
                                   follow_symlinks=follow_symlinks)
        self.ctx.copy(s, src, d, dst)
        return dst

    def rmtree(self, path: Any, *args: Any, **kw: Any) -> None:
        found = self.ctx.lookup(path)
        if found is None:
            self.h.rmtree(self.ctx.host_path(path, kw.get("dir_fd")), *args, **kw)
            return
        try:
            self.ctx.rmtree(found)
        except OSError:
            if not (args[:1] or [kw.get("ignore_errors")])[0]:
                raise


def install(ctx: Context) -> Patched:
    """Replace the file functions of this interpreter (see the module doc)."""
    p = Patched(ctx)
    builtins.open = io.open = p.open
    for name in ("stat", "lstat", "access", "chmod", "utime", "listdir", "scandir", "mkdir", "makedirs",
                 "rmdir", "remove", "rename", "replace", "chdir", "getcwd", "getcwdb", "truncate",
                 "read", "write", "close", "lseek", "fstat", "fsync", "ftruncate"):
        setattr(os, name, getattr(p, name))
    os.unlink = p.remove
    os.open = p.os_open
    if ctx.host.listxattr is not None:
        os.listxattr = p.listxattr
    for name in ("exists", "lexists", "isfile", "isdir", "getsize"):
        setattr(os.path, name, getattr(p, name))
    shutil.copyfile = p.copyfile

    def rmtree(path: Any, *args: Any, **kw: Any) -> None:
        p.rmtree(path, *args, **kw)

    rmtree.avoids_symlink_attacks = ctx.host.rmtree.avoids_symlink_attacks  # type: ignore[attr-defined]
    setattr(shutil, "rmtree", rmtree)  # noqa: B010 - (typeshed's protocol type)
    return p


__all__ = ["NsDirEntry", "NsRaw", "Patched", "ScanIterator", "install"]
