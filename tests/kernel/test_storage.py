"""Chunk store on disk, and the client's writer logic against an in-memory cluster."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from onesh.kernel import namespace
from onesh.kernel.storage import CHUNK, ChunkStore, rank
from onesh.net.rpc import HandlerError
from onesh.runtime import nsclient
from onesh.runtime.nsclient import FileWriter, _net, _raise


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_chunk_store_put_get(tmp_path: Path) -> None:
    store = ChunkStore(str(tmp_path / "chunks"))
    data = b"hello" * 1000
    store.put(sha(data), data)
    assert (tmp_path / "chunks" / sha(data)[:2] / sha(data)[2:]).read_bytes() == data
    assert store.get(sha(data)) == data and store.has(sha(data))
    store.put(sha(data), data)  # again: fine
    with pytest.raises(HandlerError, match="does not match"):
        store.put(sha(b"other"), data)
    with pytest.raises(HandlerError, match="bad chunk id"):
        store.get("../../etc/passwd")
    with pytest.raises(HandlerError, match="not stored"):
        store.get(sha(b"missing"))
    (tmp_path / "chunks" / sha(data)[:2] / sha(data)[2:]).write_bytes(b"rot")
    with pytest.raises(HandlerError, match="corrupt"):
        store.get(sha(data))
    assert not [p for p in (tmp_path / "chunks").rglob("*.tmp")]


def test_collection_spares_young_and_restored_chunks(tmp_path: Path) -> None:
    store = ChunkStore(str(tmp_path))
    a, b = b"a" * 10, b"b" * 10
    store.put(sha(a), a)
    store.put(sha(b), b)
    assert store.list_old(60) == []
    past = time.time() - 120
    for x in (a, b):
        os.utime(store.path(sha(x)), (past, past))
    assert store.list_old(60) == sorted([sha(a), sha(b)])
    assert store.list_old(60, after=min(sha(a), sha(b))) == [max(sha(a), sha(b))]
    store.put(sha(a), a)  # stored again: young
    assert store.drop([sha(a), sha(b)], 60) == 1
    assert store.has(sha(a)) and not store.has(sha(b))
    assert store.stats() == {"chunks": 1, "bytes": 10}


def test_rank_is_stable_and_complete() -> None:
    rts = ["r1", "r2", "r3", "r4"]
    assert sorted(rank("x" * 64, rts)) == rts
    assert rank("x" * 64, rts) == rank("x" * 64, list(reversed(rts)))


def test_errors_map_to_oserror() -> None:
    with pytest.raises(FileNotFoundError) as e:
        _raise({"error": "ENOENT: /a/b"})
    assert e.value.filename == "/a/b"
    with pytest.raises(OSError) as e2:
        _raise({"error": "ENOTEMPTY: /a"})
    assert e2.value.errno == errno.ENOTEMPTY
    with pytest.raises(OSError) as e3:
        _raise({"error": "something odd"})
    assert e3.value.errno == errno.EIO
    assert _raise({"ok": True}) == {"ok": True}
    assert _net("/net/r2/etc/hosts") == ("r2", "/etc/hosts")
    assert _net("/net/r2") == ("r2", "/")
    assert _net("/network") is None


class FakeNs:
    """What FileWriter needs of Namespace, with an in-memory index and store."""

    local = "r1"

    def __init__(self) -> None:
        self.entries = namespace.initial()
        self.chunks: dict[str, bytes] = {}
        self.puts = 0

    async def place(self, n: int) -> tuple[list[list[str]], dict[str, str]]:
        return [["r1", "r2"]] * n, {"r1": "e1", "r2": "e2"}

    async def put_chunk(self, data: bytes, targets: list[str], endpoints: dict[str, str]) -> list[Any]:
        await asyncio.sleep(0)
        self.chunks[sha(data)] = data
        self.puts += 1
        return [sha(data), len(data), list(targets)]

    async def change(self, op: str, **fields: Any) -> dict[str, Any]:
        return _raise(namespace.apply(self.entries, dict(fields, op=op)))

    def content(self, path: str) -> bytes:
        entry = namespace.stat(self.entries, path)
        assert entry is not None
        return b"".join(self.chunks[c[0]] for c in entry["chunks"])


def test_writer_chunks_commits_and_rewrites_small_tails() -> None:
    async def go() -> None:
        ns = FakeNs()
        w = FileWriter(ns, "/tmp/f", append=False)  # type: ignore[arg-type]
        big = os.urandom(CHUNK * 2 + 100)
        await w.write(big)
        assert namespace.stat(ns.entries, "/tmp/f") is None  # nothing committed yet
        await w.flush_commit()
        assert ns.content("/tmp/f") == big
        for i in range(20):  # a slow stream flushed often
            await w.write(b"line %d\n" % i)
            await w.flush_commit()
        expect = big + b"".join(b"line %d\n" % i for i in range(20))
        assert ns.content("/tmp/f") == expect
        entry = namespace.stat(ns.entries, "/tmp/f")
        assert entry is not None and len(entry["chunks"]) == 3  # 2 full, then the 100 bytes and every line
        # someone else appends: the tail is not rewritten over their bytes
        await ns.change("append", path="/tmp/f", chunks=[[sha(b"X"), 1, ["r3"]]])
        ns.chunks[sha(b"X")] = b"X"
        await w.write(b"after\n")
        await w.close()
        assert ns.content("/tmp/f") == expect + b"X" + b"after\n"
        # a second writer replaces the file on its first commit
        async with FileWriter(ns, "/tmp/f", append=False) as w2:  # type: ignore[arg-type]
            await w2.write(b"new")
        assert ns.content("/tmp/f") == b"new"
        async with FileWriter(ns, "/tmp/f", append=True) as w3:  # type: ignore[arg-type]
            await w3.write(b"+more")
        assert ns.content("/tmp/f") == b"new+more"
        async with FileWriter(ns, "/tmp/empty", append=False):  # type: ignore[arg-type]
            pass
        assert ns.content("/tmp/empty") == b""

    asyncio.run(go())


def test_writer_commits_what_is_durable_when_interrupted() -> None:
    async def go() -> None:
        ns = FakeNs()
        with pytest.raises(KeyboardInterrupt):
            async with FileWriter(ns, "/tmp/cut", append=False) as w:  # type: ignore[arg-type]
                await w.write(b"partial")
                raise KeyboardInterrupt
        assert ns.content("/tmp/cut") == b"partial"

    asyncio.run(go())


def test_writer_auto_commits_old_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nsclient, "AUTO_COMMIT", 0.0)

    async def go() -> None:
        ns = FakeNs()
        w = FileWriter(ns, "/tmp/long", append=False)  # type: ignore[arg-type]
        await w.write(b"x" * (CHUNK + 1))
        await w.write(b"y")
        entry = namespace.stat(ns.entries, "/tmp/long")
        assert entry is not None and entry["size"] == CHUNK  # the full chunk, committed
        await w.close()
        assert ns.content("/tmp/long") == b"x" * (CHUNK + 1) + b"y"

    asyncio.run(go())
