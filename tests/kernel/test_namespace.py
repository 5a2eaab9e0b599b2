"""The namespace index (sans-IO): semantics, errors and invariants."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onesh.kernel import namespace as ns

SHA = "a" * 64
SHB = "b" * 64


def fresh() -> ns.Entries:
    return ns.initial()


def ok(entries: ns.Entries, **op: Any) -> dict[str, Any]:
    result = ns.apply(entries, op)
    assert "error" not in result, result
    return result


def err(entries: ns.Entries, **op: Any) -> str:
    result = ns.apply(entries, op)
    assert "error" in result, result
    return str(result["error"]).split(":")[0]


def test_default_tree() -> None:
    e = fresh()
    assert [r["name"] for r in ns.listdir(e, "/")] == ["dev", "home", "net", "pipes", "tmp"]
    assert ns.stat(e, "/")["kind"] == "dir"  # type: ignore[index]


def test_norm() -> None:
    assert ns.norm("//a/./b/../c/") == "/a/c"
    assert ns.norm("/..") == "/"
    for bad in ("a/b", "", "/a\0b", None):
        with pytest.raises(ns.PathError):
            ns.norm(bad)


def test_mkdir() -> None:
    e = fresh()
    ok(e, op="mkdir", path="/home/a")
    assert err(e, op="mkdir", path="/home/a") == "EEXIST"
    assert err(e, op="mkdir", path="/home/x/y") == "ENOENT"
    ok(e, op="mkdir", path="/home/x/y/z", parents=True)
    ok(e, op="mkdir", path="/home/x/y/z", parents=True)  # -p: an existing dir is fine
    assert ns.stat(e, "/home/x/y")["kind"] == "dir"  # type: ignore[index]
    ok(e, op="commit", path="/home/f", chunks=[])
    assert err(e, op="mkdir", path="/home/f/g") == "ENOTDIR"
    assert err(e, op="mkdir", path="/home/f/g", parents=True) == "ENOTDIR"
    assert err(e, op="mkdir", path="/home/f") == "EEXIST"
    assert ns.check(e) == []


def test_files_commit_append() -> None:
    e = fresh()
    ok(e, op="commit", path="/tmp/f", chunks=[[SHA, 10, ["r1", "r2"]]], owner="r1", mtime=5.0)
    f = ns.stat(e, "/tmp/f")
    assert f is not None and f["size"] == 10 and f["owner"] == "r1" and f["mtime"] == 5.0
    ok(e, op="append", path="/tmp/f", chunks=[[SHB, 3, ["r2", "r3"]]])
    f = ns.stat(e, "/tmp/f")
    assert f is not None and f["size"] == 13 and [c[0] for c in f["chunks"]] == [SHA, SHB]
    ok(e, op="commit", path="/tmp/f", chunks=[[SHB, 3, ["r2"]]])  # replace
    assert ns.stat(e, "/tmp/f")["size"] == 3  # type: ignore[index]
    ok(e, op="append", path="/tmp/new", chunks=[[SHA, 1, ["r1"]]])  # append creates
    assert err(e, op="commit", path="/tmp", chunks=[]) == "EISDIR"
    assert err(e, op="commit", path="/nope/f", chunks=[]) == "ENOENT"
    ok(e, op="commit", path="/nope/f", chunks=[], parents=True)
    assert err(e, op="commit", path="/tmp/f/x", chunks=[]) == "ENOTDIR"
    assert err(e, op="commit", path="/tmp/g", chunks=[["short", 1, []]]) == "EINVAL"
    # a writer's small last chunk replaced by a bigger one holding it and more
    ok(e, op="append", path="/tmp/f", chunks=[[SHA, 5, ["r1"]]], replace_last=SHB)
    assert ns.stat(e, "/tmp/f")["chunks"] == [[SHA, 5, ["r1"]]]  # type: ignore[index]
    assert err(e, op="append", path="/tmp/f", chunks=[[SHB, 6, ["r1"]]], replace_last=SHB) == "ESTALE"
    assert err(e, op="append", path="/tmp/zz", chunks=[], replace_last=SHB, parents=True) == "ESTALE"
    assert ns.check(e) == []


def test_rm() -> None:
    e = fresh()
    ok(e, op="mkdir", path="/home/d/e", parents=True)
    ok(e, op="commit", path="/home/d/e/f", chunks=[])
    assert err(e, op="rm", path="/home/d") == "ENOTEMPTY"
    assert err(e, op="rm", path="/home/zz") == "ENOENT"
    assert err(e, op="rm", path="/home") == "EPERM"
    assert err(e, op="rm", path="/", recursive=True) == "EPERM"
    ok(e, op="rm", path="/home/d/e/f")
    ok(e, op="rm", path="/home/d/e")  # an empty dir
    ok(e, op="mkdir", path="/home/d/e/g", parents=True)
    assert ok(e, op="rm", path="/home/d", recursive=True)["removed"] == 3
    assert ns.listdir(e, "/home") == []
    ok(e, op="device", path="/dev/sensor/1", owner="r1", spec="sim:sine")
    assert err(e, op="rm", path="/dev/sensor", recursive=True) == "EPERM"
    assert err(e, op="rm", path="/dev/sensor/1") == "EPERM"


def test_mv_is_rename() -> None:
    e = fresh()
    ok(e, op="mkdir", path="/home/a/b", parents=True)
    ok(e, op="commit", path="/home/a/b/f", chunks=[[SHA, 4, ["r1"]]])
    ok(e, op="mv", path="/home/a", dst="/tmp/z", mtime=9.0)
    assert ns.stat(e, "/home/a") is None
    assert ns.stat(e, "/tmp/z/b/f")["size"] == 4  # type: ignore[index]
    assert err(e, op="mv", path="/tmp/z", dst="/tmp/z/b/q") == "EINVAL"
    assert err(e, op="mv", path="/tmp/nope", dst="/tmp/q") == "ENOENT"
    assert err(e, op="mv", path="/tmp/z/b/f", dst="/tmp/z") == "EISDIR"  # file onto a dir
    ok(e, op="commit", path="/tmp/g", chunks=[])
    assert err(e, op="mv", path="/tmp/z", dst="/tmp/g") == "ENOTDIR"
    ok(e, op="mv", path="/tmp/z/b/f", dst="/tmp/g")  # file replaces file
    assert ns.stat(e, "/tmp/g")["size"] == 4  # type: ignore[index]
    ok(e, op="mkdir", path="/tmp/empty")
    ok(e, op="mv", path="/tmp/z", dst="/tmp/empty")  # dir replaces an empty dir
    ok(e, op="mkdir", path="/tmp/full/x", parents=True)
    assert err(e, op="mv", path="/tmp/empty", dst="/tmp/full") == "ENOTEMPTY"
    assert err(e, op="mv", path="/home", dst="/tmp/h") == "EPERM"
    assert err(e, op="mv", path="/tmp/g", dst="/nope/g") == "ENOENT"
    ok(e, op="mv", path="/tmp/g", dst="/tmp/g")
    assert ns.check(e) == []


def test_cp_shares_chunks() -> None:
    e = fresh()
    ok(e, op="mkdir", path="/home/a")
    ok(e, op="commit", path="/home/a/f", chunks=[[SHA, 4, ["r1", "r2"]]])
    ok(e, op="cp", path="/home/a/f", dst="/home/g")
    assert ns.stat(e, "/home/g")["chunks"] == [[SHA, 4, ["r1", "r2"]]]  # type: ignore[index]
    assert err(e, op="cp", path="/home/a", dst="/home/b") == "EISDIR"
    ok(e, op="cp", path="/home/a", dst="/home/b", recursive=True)
    assert ns.stat(e, "/home/b/f") is not None
    assert err(e, op="cp", path="/home/a", dst="/home/b", recursive=True) == "EISDIR"
    assert err(e, op="cp", path="/home/a", dst="/home/a/c", recursive=True) == "EINVAL"
    # the copy's chunk list is its own: a replica update reaches both by sha
    ok(e, op="replicas", updates=[[SHA, ["r3"], ["r1"]]])
    assert ns.stat(e, "/home/g")["chunks"][0][2] == ["r2", "r3"]  # type: ignore[index]
    assert ns.stat(e, "/home/a/f")["chunks"][0][2] == ["r2", "r3"]  # type: ignore[index]
    assert ns.usage(e) == {"r2": 4, "r3": 4}
    assert ns.check(e) == []


def test_pages_of_chunks() -> None:
    e = fresh()
    shas = [f"{i:064x}" for i in range(10)]
    ok(e, op="commit", path="/tmp/f", chunks=[[x, 1, ["r1"]] for x in shas])
    f = ns.stat(e, "/tmp/f", 4, 3)
    assert f is not None and f["nchunks"] == 10 and [c[0] for c in f["chunks"]] == shas[4:7]
    assert "chunks" not in ns.listdir(e, "/tmp")[0]  # type: ignore[operator]
    assert list(ns.chunk_table(e, shas[2], 3)) == shas[3:6]
    assert len(ns.chunk_table(e)) == 10


def test_devices_and_nodes() -> None:
    e = fresh()
    ok(e, op="device", path="/dev/sensor/1", owner="r2", spec="sim:sine")
    d = ns.stat(e, "/dev/sensor/1")
    assert d is not None and d["kind"] == "device" and d["owner"] == "r2" and d["spec"] == "sim:sine"
    assert err(e, op="device", path="/home/x", owner="r1") == "EINVAL"
    assert err(e, op="commit", path="/dev/sensor/1", chunks=[]) == "EPERM"
    assert err(e, op="undevice", path="/dev/sensor/1", owner="r1") == "EPERM"
    ok(e, op="undevice", path="/dev/sensor/1", owner="r2")
    ok(e, op="mknod", path="/pipes/x", kind="pipe", owner="r1", attrs={"topic": "t1"})
    assert ns.stat(e, "/pipes/x")["attrs"] == {"topic": "t1"}  # type: ignore[index]
    assert err(e, op="mknod", path="/pipes/x", kind="pipe") == "EEXIST"
    assert err(e, op="mknod", path="/pipes/y", kind="file") == "EINVAL"


def test_bad_operations_are_errors_not_exceptions() -> None:
    e = fresh()
    before = copy.deepcopy(e)
    for op in ({}, {"op": "nope", "path": "/x"}, {"op": "mkdir"}, {"op": "mkdir", "path": "rel"},
               {"op": "mv", "path": "/tmp"}, {"op": "replicas", "updates": "x"},
               {"op": "commit", "path": "/tmp/f", "chunks": "x"}, {"op": "mkdir", "path": "/a", "mtime": "x"}):
        assert "error" in ns.apply(e, op)
    assert e == before


def test_apply_once_deduplicates_retries() -> None:
    e, recent = fresh(), {}  # type: ignore[var-annotated]
    op = {"op": "mkdir", "path": "/home/a", "rid": "r-1"}
    assert ns.apply_once(e, recent, op) == {"ok": True}
    assert ns.apply_once(e, recent, op) == {"ok": True}  # not EEXIST: the same request
    assert "error" in ns.apply_once(e, recent, dict(op, rid="r-2"))
    for i in range(ns.RECENT + 10):
        ns.apply_once(e, recent, {"op": "mkdir", "path": f"/tmp/{i}", "rid": f"x{i}"})
    assert len(recent) == ns.RECENT


# --------------------------------------------------------------- property
NAMES = st.sampled_from(["a", "b", "c"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(
    lambda parts: "/" + "/".join(parts)) | st.sampled_from(["/", "/home", "/tmp", "/dev", "/pipes"])
PREFIXED = st.tuples(st.sampled_from(["/home", "/tmp", "/dev/s", ""]), PATHS).map(
    lambda t: (t[0] + t[1]).rstrip("/") or "/")
CHUNKS = st.lists(st.tuples(st.sampled_from([SHA, SHB]), st.integers(0, 9),
                            st.lists(st.sampled_from(["r1", "r2", "r3"]), max_size=2, unique=True)).map(list),
                  max_size=3)
OPS = st.one_of(
    st.builds(lambda p, par: {"op": "mkdir", "path": p, "parents": par}, PREFIXED, st.booleans()),
    st.builds(lambda p, c, par, app: {"op": "append" if app else "commit", "path": p, "chunks": c,
                                      "parents": par}, PREFIXED, CHUNKS, st.booleans(), st.booleans()),
    st.builds(lambda p, c, par, last: {"op": "append", "path": p, "chunks": c, "parents": par,
                                       "replace_last": last}, PREFIXED, CHUNKS, st.booleans(),
              st.sampled_from([SHA, SHB])),
    st.builds(lambda p, r: {"op": "rm", "path": p, "recursive": r}, PREFIXED, st.booleans()),
    st.builds(lambda p, d: {"op": "mv", "path": p, "dst": d}, PREFIXED, PREFIXED),
    st.builds(lambda p, d: {"op": "cp", "path": p, "dst": d, "recursive": True}, PREFIXED, PREFIXED),
    st.builds(lambda p: {"op": "device", "path": p, "owner": "r1", "spec": "sim:sine"}, PREFIXED),
    st.builds(lambda p: {"op": "mknod", "path": p, "kind": "pipe"}, PREFIXED),
    st.builds(lambda sha, add, rem: {"op": "replicas", "updates": [[sha, add, rem]]},
              st.sampled_from([SHA, SHB]), st.lists(st.sampled_from(["r1", "r4"]), max_size=1),
              st.lists(st.sampled_from(["r2", "r3"]), max_size=1)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(OPS, max_size=25))
def test_random_operations_keep_the_invariants(ops: list[dict[str, Any]]) -> None:
    e = fresh()
    replay = fresh()
    for op in ops:
        before = copy.deepcopy(e)
        result = ns.apply(e, op)
        if "error" in result:
            assert e == before, (op, result)  # a failed operation changes nothing
        assert ns.check(e) == [], (op, result)
        for root in ns.ROOT_DIRS:
            assert e[root]["kind"] == "dir"
        for p in e:
            assert ns.norm(p) == p
    for op in ops:  # deterministic: replaying the log gives the same index
        ns.apply(replay, copy.deepcopy(op))
    assert replay == e
