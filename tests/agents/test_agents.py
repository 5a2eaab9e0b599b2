"""Unmodified Python and Node.js programs as pipeline stages, on a real
3-runtime cluster.

The programs under programs/ know nothing of onesh.  Each test pins its
program to the runtime that does NOT hold a replica of the data it reads
(k=2 of 3), so the data really comes through the namespace, and checks
the result by content."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster
from onesh.runtime.nsclient import NamespaceSync

pytestmark = pytest.mark.slow

PROGRAMS = Path(__file__).parent / "programs"
WORDS = "the quick brown fox\njumps over the lazy dog\nand then some more words\n"
LINES = "".join(f"line {i} {'fox' if i % 3 == 0 else 'dog'}\n" for i in range(60))
NODE = shutil.which("node") is not None
needs_node = pytest.mark.skipif(not NODE, reason="node is not installed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    info = start_cluster(str(tmp_path_factory.mktemp("agents") / "c"), nodes=3)
    try:
        with NamespaceSync(info.boot, info.secret) as ns:
            ns.mkdir("/data")
            ns.write_bytes("/data/words.txt", WORDS.encode())
            ns.write_bytes("/data/lines.txt", LINES.encode())
            ns.mkdir("/results")
        yield info
    finally:
        stop_cluster(info)


@pytest.fixture(scope="module")
def ns(cluster: ClusterInfo) -> Iterator[NamespaceSync]:
    with NamespaceSync(cluster.boot, cluster.secret) as client:
        yield client


def elsewhere(ns: NamespaceSync, path: str) -> str:
    """The runtime that holds no replica of `path`."""
    entry = ns.stat(path)
    assert entry is not None, path
    holders = {r for c in entry["chunks"] for r in c[2]}
    others = sorted({"r1", "r2", "r3"} - holders)
    assert others, f"{path} is on every runtime: {holders}"
    return others[0]


def onesh(cluster: ClusterInfo, code: str, cwd: Path, *, env: dict[str, str] | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "HOME": str(cwd), "XDG_DATA_HOME": str(cwd / ".data"),
            "XDG_CONFIG_HOME": str(cwd / ".config"), **(env or {})}
    return subprocess.run([sys.executable, "-m", "onesh", "--cluster", cluster.directory, "-c", code],
                          capture_output=True, text=True, cwd=cwd, env=full, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def program(name: str) -> str:
    return str(PROGRAMS / name)


@pytest.mark.parametrize("name", ["wordcount.py", pytest.param("wordcount.cjs", marks=needs_node),
                                  pytest.param("wordcount.mjs", marks=needs_node)])
def test_word_count_reads_and_writes_namespace_files(cluster: ClusterInfo, ns: NamespaceSync,
                                                     tmp_path: Path, name: str) -> None:
    rt = elsewhere(ns, "/data/words.txt")
    interp = "python3" if name.endswith(".py") else "node"
    out = f"/results/count-{name}.txt"
    r = onesh(cluster, f"plan '{interp} {program(name)} /data/words.txt {out} @{rt}'; "
                       f"{interp} {program(name)} /data/words.txt {out} @{rt}", tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"[{'python' if interp == 'python3' else 'node'} agent]" in r.stdout
    words = len(WORDS.split())
    assert f"/data/words.txt: {words} words" in r.stdout
    assert ns.read_bytes(out) == f"{words}\n".encode()


@pytest.mark.parametrize("name", ["linefilter.py", pytest.param("linefilter.cjs", marks=needs_node),
                                  pytest.param("linefilter.mjs", marks=needs_node)])
def test_stdin_line_filter(cluster: ClusterInfo, ns: NamespaceSync, tmp_path: Path, name: str) -> None:
    holder = ns.stat("/data/lines.txt")["chunks"][0][2][0]
    rt = elsewhere(ns, "/data/lines.txt")
    interp = "python3" if name.endswith(".py") else "node"
    r = onesh(cluster, f"cat /data/lines.txt @{holder} | {interp} {program(name)} fox @{rt}", tmp_path)
    assert r.returncode == 0, r.stderr
    expected = [f"{n + 1}: {ln.upper()}" for n, ln in enumerate(x for x in LINES.splitlines() if "fox" in x)]
    assert r.stdout.splitlines() == expected
    assert "20 matching" in r.stderr


@pytest.mark.parametrize("name", ["filework.py", pytest.param("filework.cjs", marks=needs_node),
                                  pytest.param("filework.mjs", marks=needs_node)])
def test_everyday_file_calls(cluster: ClusterInfo, ns: NamespaceSync, tmp_path: Path, name: str) -> None:
    top = f"/work-{name.replace('.', '-')}"
    ns.mkdir(top)
    ns.write_bytes(f"{top}/config.json", json.dumps({"name": "demo"}).encode())
    ns.write_bytes(f"{top}/notes.txt", b"first\nsecond\nthird\n")
    ns.write_bytes(f"{top}/log.txt", b"earlier entry\n")
    rt = elsewhere(ns, f"{top}/notes.txt")
    interp = "python3" if name.endswith(".py") else "node"
    # relative names: the shell's $PWD is a directory only the namespace has
    r = onesh(cluster, f"cd {top} && {interp} {program(name)} . @{rt}", tmp_path)
    assert r.returncode == 0, r.stderr
    after = ["config.json", "log.txt", "notes.done"]
    assert after[0] in r.stdout and after[2] in r.stdout and "notes.txt" not in r.stdout
    assert ns.read_bytes(f"{top}/log.txt") == (b"earlier entry\n"
                                                b"demo: 3 notes, files config.json log.txt notes.txt\n")
    assert ns.read_bytes(f"{top}/notes.done") == b"first\nsecond\nthird\n"
    assert ns.stat(f"{top}/notes.txt") is None
    assert not os.path.exists(top)  # nothing went to this host's disk


@pytest.mark.parametrize("name", ["counter.py", pytest.param("counter.cjs", marks=needs_node),
                                  pytest.param("counter.mjs", marks=needs_node)])
def test_ctrl_c_ends_a_counter_with_130(cluster: ClusterInfo, tmp_path: Path, name: str) -> None:
    interp = "python3" if name.endswith(".py") else "node"
    proc = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.directory, "-c",
                             f"{interp} {program(name)} @r3"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "HOME": str(tmp_path)})
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline(), proc.stdout.readline()]  # numbers arrive as they are printed
        proc.send_signal(signal.SIGINT)  # what Ctrl-C does to the foreground job
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert seen == ["0\n", "1\n"], err
    assert proc.returncode == 130, err
    numbers = [int(x) for x in (seen + rest.splitlines())]
    assert numbers == list(range(len(numbers)))


@pytest.mark.parametrize("name", ["escape.py", pytest.param("escape.cjs", marks=needs_node)])
def test_a_child_process_given_a_namespace_path_is_reported(cluster: ClusterInfo, ns: NamespaceSync,
                                                            tmp_path: Path, name: str) -> None:
    rt = elsewhere(ns, "/data/words.txt")
    interp = "python3" if name.endswith(".py") else "node"
    r = onesh(cluster, f"{interp} {program(name)} /data/words.txt @{rt}", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "done\n"
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("onesh: ")]
    assert lines == ["onesh: `cat /data/words.txt` runs outside the onesh context: it sees only this "
                     "host's files, not namespace path /data/words.txt"], r.stderr
    assert "No such file" in r.stderr  # cat's own error: the escape is loud, never a silent wrong answer


@pytest.mark.parametrize("demo,interp,main", [("pydemo", "python3", "main.py"),
                                              pytest.param("jsdemo", "node", "main.js", marks=needs_node)])
def test_a_program_stored_in_the_namespace_runs_with_its_modules(cluster: ClusterInfo, ns: NamespaceSync,
                                                                 tmp_path: Path, demo: str, interp: str,
                                                                 main: str) -> None:
    ns.mkdir(f"/apps/{demo}", parents=True)
    for f in (PROGRAMS / demo).iterdir():
        ns.write_bytes(f"/apps/{demo}/{f.name}", f.read_bytes())
    rt = elsewhere(ns, f"/apps/{demo}/{main}")
    r = onesh(cluster, f"{interp} /apps/{demo}/{main} @{rt}", tmp_path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "hello, stage, from a sibling module"
    assert lines[1].startswith("from onesh-job-")  # run from the runtime's per-job cache
    # a script named by its file alone (`./main.py`) is recognized too
    r = onesh(cluster, f"cd /apps/{demo} && ./{main} @{rt}", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "hello, stage, from a sibling module"


def test_a_local_program_is_shipped_to_another_host(cluster: ClusterInfo, tmp_path: Path) -> None:
    demo = tmp_path / "pydemo"
    shutil.copytree(PROGRAMS / "pydemo", demo)
    # ONESH_NO_IPC: the shell cannot tell that the runtimes share its host,
    # so it treats them as other hosts (TCP + Curve pipes, shipped programs).
    r = onesh(cluster, f"python3 -u {demo}/main.py @r2", tmp_path, env={"ONESH_NO_IPC": "1"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["hello, stage, from a sibling module",
                                     r.stdout.splitlines()[1]]
    assert r.stdout.splitlines()[1].startswith("from onesh-job-shipped-")
    # on the same host it runs in place
    r = onesh(cluster, f"python3 -u {demo}/main.py @r2", tmp_path)
    assert r.stdout.splitlines()[1] == "from pydemo", r.stderr


@pytest.mark.parametrize("name", ["fileops.py", pytest.param("fileops.cjs", marks=needs_node)])
def test_file_calls_on_the_namespace_behave_as_on_a_local_disk(cluster: ClusterInfo, ns: NamespaceSync,
                                                               tmp_path: Path, name: str) -> None:
    """The same program, run plainly on a local directory and by the
    launcher on a namespace directory, prints the same transcript."""
    python = name.endswith(".py")
    local = tmp_path / "local"
    local.mkdir()
    plain = subprocess.run([sys.executable if python else "node", program(name), str(local)],
                           capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0, plain.stderr
    top = f"/ops-{name.replace('.', '-')}"
    ns.mkdir(top)
    launcher = "onesh.runtime.agent" if python else "onesh.runtime.nodeagent"
    env = {**os.environ, "ONESH_BOOT": ",".join(cluster.boot), "ONESH_SECRET": cluster.secret,
           "ONESH_RUNTIME": "r3", "ONESH_PWD": str(tmp_path)}
    agent = subprocess.run([sys.executable, "-m", launcher, program(name), top], capture_output=True, text=True,
                           timeout=60, env=env, cwd=tmp_path)
    assert agent.returncode == 0, agent.stderr
    assert agent.stdout == plain.stdout
    assert not os.path.exists(top)
    names = sorted(e["name"] for e in ns.listdir(top))
    assert names == sorted(os.listdir(local))
    for n in names:
        assert ns.read_bytes(f"{top}/{n}") == (local / n).read_bytes(), n


def test_a_module_runs_with_python3_dash_m(cluster: ClusterInfo, ns: NamespaceSync, tmp_path: Path) -> None:
    ns.write_bytes("/data/conf.json", b'{"b": 2, "a": [1, 2]}')
    rt = elsewhere(ns, "/data/conf.json")
    r = onesh(cluster, f"python3 -m json.tool --sort-keys /data/conf.json @{rt}; "
                       "plan 'cat /data/conf.json | tac @r2'", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('{\n    "a": [\n        1,\n        2\n    ],\n    "b": 2\n}\n')
    assert "stage 2: tac @r2\n    on r2: pinned with @r2 [external]" in r.stdout
