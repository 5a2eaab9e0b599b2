"""File objects for namespace files, as `open()` returns them to a program.

Each is an `io.RawIOBase`; `layer()` stacks the usual buffered and text
layers on top, exactly as `io.open` does, so a program sees the objects it
knows (`json.load(f)`, `for line in f`, `f.seek()`, `f.name`).

- `ChunkReader`: a stored file, read chunk by chunk from the nearest live
  replica (checked against its sha256, as for builtin agents), a few chunks
  fetched ahead; seekable.
- `StreamReader`: a named pipe or a `/net/<runtime>/...` file, as a stream.
- `Writer`: a new content for a file (`w`, `x`) or more of it (`a`), cut
  into chunks each stored on k replicas; committed (visible to readers)
  on close, on `os.fsync`, and on a flush at most once a second, so a
  long-running writer's file grows visibly without a commit per line.
- `PipeWriter`: into a named pipe, fanned out to every reader.
- `MemFile`: read-write modes (`r+`, `w+`, `a+`): the content in memory,
  stored back on close when changed.
- `DeviceRaw`: a device of this runtime (`/dev/sensor/1`).

A namespace file has no real file descriptor: `fileno()` raises, so handing
it to a child process or to mmap fails loudly instead of silently reading
something else.
"""

from __future__ import annotations

import bisect
import errno
import io
import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import concurrent.futures

    from _typeshed import ReadableBuffer, WriteableBuffer

    from onesh.runtime.syncns import ProgramNamespace

READ_AHEAD = 4  # chunks fetched ahead of the reader
COMMIT_EVERY = 1.0  # seconds: a flush commits at most this often
HANDOVER = 1 << 20  # bytes a Writer gathers before handing them to the loop thread
BUFFER = 256 * 1024  # the buffered layer's size over a namespace file


class NsRaw(io.RawIOBase):
    """What every namespace raw file shares: its name and mode, no fd."""

    def __init__(self, name: str, mode: str) -> None:
        super().__init__()
        self.name = name
        self.mode = mode

    def fileno(self) -> int:
        raise io.UnsupportedOperation(f"{self.name}: a namespace file has no file descriptor")

    def commit(self) -> None:
        """Make what was written durable and visible (os.fsync)."""

    def size(self) -> int:
        return 0

    def _finish(self) -> None:
        """What closing does first (store, let go of the stream)."""

    def close(self) -> None:
        if self.closed:
            return
        try:
            self._finish()
        finally:
            super().close()

    def __repr__(self) -> str:
        return f"<onesh namespace file {self.name!r} mode={self.mode!r}>"


class ChunkReader(NsRaw):
    def __init__(self, pns: ProgramNamespace, path: str, entry: dict[str, Any],
                 members: dict[str, dict[str, Any]]) -> None:
        super().__init__(path, "rb")
        self._pns = pns
        self._members = members
        chunks: list[list[Any]] = list(entry.get("chunks") or [])
        total = int(entry.get("nchunks", len(chunks)))
        while len(chunks) < total:  # a file of more than one page of chunks
            more, self._members = pns.run(pns.ns.resolve(path, first=len(chunks)))
            page = (more or {}).get("chunks") or []
            if not page:
                break
            chunks += page
        self._chunks = chunks
        self._starts: list[int] = []
        at = 0
        for c in chunks:
            self._starts.append(at)
            at += int(c[1])
        self._size = at
        self._pos = 0
        self._ahead: dict[int, concurrent.futures.Future[bytes]] = {}
        self._current: tuple[int, bytes] = (-1, b"")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        return self._size

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = _seek(self._pos, self._size, offset, whence, self.name)
        return self._pos

    def _chunk(self, i: int) -> bytes:
        if self._current[0] == i:
            return self._current[1]
        from onesh.runtime.syncns import wait

        for j in list(self._ahead):
            if not i <= j < i + READ_AHEAD:
                self._ahead.pop(j).cancel()
        for j in range(i, min(i + READ_AHEAD, len(self._chunks))):
            if j not in self._ahead:
                sha, _size, reps = self._chunks[j]
                self._ahead[j] = self._pns.submit(
                    self._pns.ns.get_chunk(sha, list(reps), self._members, self.name, j))
        data = wait(self._ahead.pop(i))
        self._current = (i, data)
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._checkClosed()
        view = memoryview(buffer).cast("B")
        if self._pos >= self._size or not len(view):
            return 0
        i = bisect.bisect_right(self._starts, self._pos) - 1
        data = self._chunk(i)
        off = self._pos - self._starts[i]
        n = min(len(view), len(data) - off)
        view[:n] = data[off:off + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        parts = []
        while self._pos < self._size:
            i = bisect.bisect_right(self._starts, self._pos) - 1
            data = self._chunk(i)
            parts.append(data[self._pos - self._starts[i]:])
            self._pos = self._starts[i] + len(data)
        return b"".join(parts)

    def _finish(self) -> None:
        for fut in self._ahead.values():
            fut.cancel()
        self._ahead.clear()
        self._current = (-1, b"")


class StreamReader(NsRaw):
    """A namespace stream: a named pipe (each reader gets what is written
    while it is attached) or a file of another runtime's disk (/net)."""

    def __init__(self, pns: ProgramNamespace, path: str) -> None:
        super().__init__(path, "rb")
        self._pns = pns
        self._blocks = pns.ns.read(path)
        self._left = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._checkClosed()
        view = memoryview(buffer).cast("B")
        while not self._left and not self._eof:
            try:
                self._left = self._pns.run(self._blocks.__anext__())
            except StopAsyncIteration:
                self._eof = True
        n = min(len(view), len(self._left))
        view[:n] = self._left[:n]
        self._left = self._left[n:]
        return n

    def _finish(self) -> None:
        self._pns.run(self._blocks.aclose())


class Writer(NsRaw):
    """`at`: going on from byte `at` of the file, what lies past it cut
    off (a builtin agent restarted from its checkpoint: nsresolver.write).
    `parents`: its missing directories are made (as for a pipeline's
    `> FILE`), not ENOENT (as for a program's open())."""

    def __init__(self, pns: ProgramNamespace, path: str, append: bool, at: int | None = None,
                 parents: bool = False) -> None:
        super().__init__(path, "ab" if append else "wb")
        self._pns = pns
        if at is not None:
            self._w = pns.run(pns.ns.writer_at(path, at))
            self.base = at
        else:
            self._w = pns.ns.writer(path, append=append, parents=parents)
            entry = pns.run(pns.ns.stat(path, chunks=False)) if append else None
            self.base = int((entry or {}).get("size") or 0)  # (where our bytes start in the file)
        self._gathered = bytearray()
        self._last_commit = time.monotonic()
        self._size = 0

    def writable(self) -> bool:
        return True

    def size(self) -> int:
        return self._size

    def write(self, data: ReadableBuffer) -> int:
        self._checkClosed()
        view = memoryview(data).cast("B")
        self._gathered += view
        self._size += len(view)
        if len(self._gathered) >= HANDOVER:
            self._hand_over()
        return len(view)

    def _hand_over(self) -> None:
        data, self._gathered = bytes(self._gathered), bytearray()
        if data:
            self._pns.run(self._w.write(data))

    def flush(self) -> None:
        if not self.closed and time.monotonic() - self._last_commit >= COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        self._hand_over()
        self._pns.run(self._w.flush_commit())
        self._last_commit = time.monotonic()

    def _finish(self) -> None:
        self._hand_over()
        self._pns.run(self._w.close())


class PipeWriter(NsRaw):
    """Into a named pipe: like opening a FIFO, this waits for a reader."""

    def __init__(self, pns: ProgramNamespace, path: str) -> None:
        from onesh.runtime.namedpipes import Publisher

        super().__init__(path, "wb")
        self._pns = pns
        self._pub = Publisher(pns.ns, path)
        pns.run(self._pub.__aenter__())

    def writable(self) -> bool:
        return True

    def write(self, data: ReadableBuffer) -> int:
        self._checkClosed()
        block = bytes(memoryview(data).cast("B"))
        self._pns.run(self._pub.write(block))
        return len(block)

    def _finish(self) -> None:
        self._pns.run(self._pub.__aexit__(None, None, None))


class MemFile(NsRaw):
    """Read and write (`r+`, `w+`, `a+`, os.O_RDWR): the whole content in
    memory, written back (as a new version, durable on k) when closed."""

    def __init__(self, pns: ProgramNamespace, path: str, content: bytes, mode: str, *,
                 created: bool, append: bool = False) -> None:
        super().__init__(path, mode)
        self._pns = pns
        self._data = bytearray(content)
        self._pos = len(content) if append else 0
        self._append = append
        self._dirty = created

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def size(self) -> int:
        return len(self._data)

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = _seek(self._pos, len(self._data), offset, whence, self.name)
        return self._pos

    def readinto(self, buffer: WriteableBuffer) -> int:
        self._checkClosed()
        view = memoryview(buffer).cast("B")
        chunk = self._data[self._pos:self._pos + len(view)]
        view[:len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)

    def write(self, data: ReadableBuffer) -> int:
        self._checkClosed()
        block = memoryview(data).cast("B")
        if self._append:
            self._pos = len(self._data)
        if self._pos > len(self._data):
            self._data += bytes(self._pos - len(self._data))
        self._data[self._pos:self._pos + len(block)] = block
        self._pos += len(block)
        self._dirty = True
        return len(block)

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        del self._data[size:]
        self._dirty = True
        return size

    def commit(self) -> None:
        if self._dirty:
            self._pns.run(self._pns.ns.write_bytes(self.name, bytes(self._data)))
            self._dirty = False

    def _finish(self) -> None:
        self.commit()


class DeviceRaw(NsRaw):
    """A device of this runtime, as the builtin agents read it."""

    def __init__(self, path: str, reader: Any) -> None:
        super().__init__(path, "rb")
        self._dev = reader

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        read1 = getattr(self._dev, "read1", None) or self._dev.read
        data: bytes = read1(len(view))
        view[:len(data)] = data
        return len(data)

    def _finish(self) -> None:
        self._dev.close()


def parse_mode(mode: str) -> tuple[str, bool, bool]:
    """(one of r w x a, '+', binary) for a valid open() mode; ValueError else."""
    chars = set(mode)
    if len(chars) != len(mode) or not chars <= set("rwxabt+") or len(chars & set("rwxa")) != 1 or {"b", "t"} <= chars:
        raise ValueError(f"invalid mode: {mode!r}")
    kind = next(c for c in "rwxa" if c in chars)
    return kind, "+" in chars, "b" in chars


def layer(raw: io.RawIOBase, mode: str, buffering: int, encoding: str | None, errors: str | None,
          newline: str | None) -> Any:
    """The buffered and text layers over `raw`, as `io.open` would stack them."""
    _kind, _plus, binary = parse_mode(mode)
    if binary and (encoding is not None or errors is not None or newline is not None):
        raise ValueError("binary mode doesn't take an encoding, errors or newline argument")
    line_buffering = buffering == 1 and not binary
    if buffering in (1, -1):
        buffering = BUFFER
    if buffering == 0:
        if not binary:
            raise ValueError("can't have unbuffered text I/O")
        return raw
    buffered: io.BufferedIOBase
    if raw.readable() and raw.writable():
        buffered = io.BufferedRandom(raw, buffering)
    elif raw.writable():
        buffered = io.BufferedWriter(raw, buffering)
    else:
        buffered = io.BufferedReader(raw, buffering)
    if binary:
        return buffered
    text = io.TextIOWrapper(buffered, encoding, errors, newline, line_buffering)
    text.mode = mode  # type: ignore[misc]
    return text


def _seek(pos: int, size: int, offset: int, whence: int, name: str) -> int:
    """The new position of a seek (io's rules: whence SET, CUR or END)."""
    base = {io.SEEK_SET: 0, io.SEEK_CUR: pos, io.SEEK_END: size}.get(whence)
    if base is None:
        raise ValueError(f"invalid whence ({whence})")
    if base + offset < 0:
        raise OSError(errno.EINVAL, os.strerror(errno.EINVAL), name)
    return base + offset
