"""Applying redirections to the shell's own file descriptors.

The shell redirects its real fds 0/1/2/... (saving copies above fd 10 with
close-on-exec) and restores them afterwards, like bash.  Builtins then
simply use fds 0/1/2, and children inherit the right table.
"""

from __future__ import annotations

import fcntl
import os
import stat

from onesh.errors import OneshError
from onesh.parser import ast as A
from onesh.record import Record

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable

SAVE_MIN_FD = 10
_HEREDOC_PIPE_LIMIT = 60000  # below the pipe buffer, so writing never blocks


class RedirError(OneshError):
    status = 1


class Saved(Record):
    fd: int
    copy: int | None  # None: fd was closed before


def _save(fd: int, saved: list[Saved], seen: set[int]) -> None:
    if fd in seen:
        return
    seen.add(fd)
    try:
        copy = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, SAVE_MIN_FD)
    except OSError:
        copy = None
    saved.append(Saved(fd, copy))


def restore(saved: list[Saved]) -> None:
    for s in reversed(saved):
        if s.copy is None:
            try:
                os.close(s.fd)
            except OSError:
                pass
        else:
            os.dup2(s.copy, s.fd)
            os.close(s.copy)


def discard(saved: list[Saved]) -> None:
    """Make redirections permanent (`exec >file`): drop the saved copies."""
    for s in saved:
        if s.copy is not None:
            os.close(s.copy)


def _heredoc_fd(text: str) -> int:
    data = text.encode("utf-8", "surrogateescape")
    if len(data) <= _HEREDOC_PIPE_LIMIT:
        r, w = os.pipe()
        try:
            os.write(w, data)
        finally:
            os.close(w)
        return r
    import tempfile  # only for bodies larger than a pipe: keep it off start-up

    fd, path = tempfile.mkstemp(prefix="onesh-heredoc-")
    os.unlink(path)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def apply(redirs: tuple[A.Redir, ...], expand_target: Callable[[A.Word], str],
          expand_heredoc: Callable[[A.HereDoc], str], noclobber: bool) -> list[Saved]:
    """Apply in order; on error undo what was done and raise RedirError."""
    saved: list[Saved] = []
    seen: set[int] = set()
    try:
        for r in redirs:
            _apply_one(r, saved, seen, expand_target, expand_heredoc, noclobber)
    except BaseException:
        restore(saved)
        raise
    return saved


def _open(path: str, flags: int, r: A.Redir) -> int:
    try:
        return os.open(path, flags | os.O_CLOEXEC, 0o666)
    except OSError as e:
        raise RedirError(f"{path}: {e.strerror}", r.span) from None


def _apply_one(r: A.Redir, saved: list[Saved], seen: set[int], expand_target: Callable[[A.Word], str],
               expand_heredoc: Callable[[A.HereDoc], str], noclobber: bool) -> None:
    op = r.op
    default_fd = 0 if op in ("<", "<>", "<<", "<<-", "<<<", "<&") else 1
    fd = default_fd if r.fd is None else r.fd
    if op in ("<<", "<<-"):
        assert r.heredoc is not None
        src = _heredoc_fd(expand_heredoc(r.heredoc))
        _install(src, fd, saved, seen)
        return
    target = expand_target(r.target)
    if op == "<<<":
        _install(_heredoc_fd(target + "\n"), fd, saved, seen)
        return
    if op in ("<&", ">&"):
        if target == "-":
            _save(fd, saved, seen)
            try:
                os.close(fd)
            except OSError:
                pass
            return
        move = target.endswith("-") and target[:-1].isascii() and target[:-1].isdigit()
        num = target[:-1] if move else target
        if num.isascii() and num.isdigit():
            src = int(num)
            try:
                os.fstat(src)
            except OSError:
                raise RedirError(f"{num}: Bad file descriptor", r.span) from None
            if src != fd:
                _save(fd, saved, seen)
                os.dup2(src, fd)
                if move:
                    _save(src, saved, seen)
                    os.close(src)
            return
        if op == ">&" and r.fd is None:
            op = "&>"  # `>& file` means `&> file`
        else:
            raise RedirError(f"{target}: ambiguous redirect", r.span)
    if op == "<":
        src = _open(target, os.O_RDONLY, r)
    elif op == "<>":
        src = _open(target, os.O_RDWR | os.O_CREAT, r)
    elif op in (">", ">|", "&>"):
        if noclobber and op != ">|":
            try:
                st = os.stat(target)
                if stat.S_ISREG(st.st_mode):
                    raise RedirError(f"{target}: cannot overwrite existing file", r.span)
            except FileNotFoundError:
                pass
        src = _open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, r)
    elif op in (">>", "&>>"):
        src = _open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, r)
    else:  # pragma: no cover - parser guarantees the set
        raise RedirError(f"unsupported redirection {op}", r.span)
    if op in ("&>", "&>>"):
        _save(1, saved, seen)
        _save(2, saved, seen)
        os.dup2(src, 1)
        os.dup2(src, 2)
        os.close(src)
        return
    _install(src, fd, saved, seen)


def _install(src: int, fd: int, saved: list[Saved], seen: set[int]) -> None:
    if src == fd:
        # fd was closed, so open() reused its number: restoring means closing it.
        if fd not in seen:
            seen.add(fd)
            saved.append(Saved(fd, None))
        os.set_inheritable(fd, True)
        return
    _save(fd, saved, seen)
    os.dup2(src, fd)
    os.close(src)
