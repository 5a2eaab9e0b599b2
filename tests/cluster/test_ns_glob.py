"""Pathname expansion on the cluster namespace (`echo /dev/sensor/*`),
against a real 3-runtime cluster with two simulated sensors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, running_cluster

from onesh.runtime.nsclient import NamespaceSync

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("glob") / "c", nodes=3, sensors=2)


def onesh(cluster: Cluster | None, code: str, cwd: Path,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    attach = ["--cluster", cluster.info.directory] if cluster is not None else []
    return subprocess.run([sys.executable, "-m", "onesh", *attach, "-c", code], capture_output=True, text=True,
                          cwd=cwd, stdin=subprocess.DEVNULL, timeout=60, env=env)


def test_sensors_and_runtimes_expand(cluster: Cluster, tmp_path: Path) -> None:
    r = onesh(cluster, "echo /dev/sensor/*; echo /dev/sensor/[2-9]; echo /net/*; echo /net/r*/; "
                       'for s in /dev/sensor/?; do echo "<$s>"; done', tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["/dev/sensor/1 /dev/sensor/2", "/dev/sensor/2",
                                     "/net/r1 /net/r2 /net/r3", "/net/r1/ /net/r2/ /net/r3/",
                                     "</dev/sensor/1>", "</dev/sensor/2>"]


def test_several_levels_and_host_files(cluster: Cluster, tmp_path: Path) -> None:
    for name in ("a.txt", "b.txt", "c.log", ".hidden.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "sub").mkdir()
    d = f"/net/r2{tmp_path}"
    r = onesh(cluster, f"echo {d}/*.txt; echo {d}/*/; echo /net/r[13]{tmp_path}/c.*; echo {d}/.h*; "
                       f"shopt -s dotglob; echo {d}/*.txt", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"{d}/a.txt {d}/b.txt", f"{d}/sub/",
                                     f"/net/r1{tmp_path}/c.log /net/r3{tmp_path}/c.log", f"{d}/.hidden.txt",
                                     f"{d}/.hidden.txt {d}/a.txt {d}/b.txt"]


def test_no_match_stays_literal_and_options_apply(cluster: Cluster, tmp_path: Path) -> None:
    r = onesh(cluster, "echo /dev/sensor/x* /net/nosuch/* '/dev/sensor/*'", tmp_path)
    assert r.stdout == "/dev/sensor/x* /net/nosuch/* /dev/sensor/*\n", r.stderr
    r = onesh(cluster, "shopt -s nullglob; echo a /dev/sensor/x* /pipes/none* b", tmp_path)
    assert r.stdout == "a b\n", r.stderr
    r = onesh(cluster, "shopt -s failglob; echo /dev/sensor/x*; echo after", tmp_path)
    assert "no match: /dev/sensor/x*" in r.stderr
    assert (r.returncode, r.stdout) == (1, "")  # like bash, the -c line stops there


def test_named_pipes_and_files_pipelines_wrote(cluster: Cluster, tmp_path: Path) -> None:
    with NamespaceSync(cluster.info.boot, cluster.info.secret) as ns:
        ns.write_bytes("/home/globbed/one.log", b"1\n")
        ns.write_bytes("/home/globbed/two.log", b"2\n")
        ns.write_bytes("/home/globbed/notes.md", b"x\n")
    r = onesh(cluster, "mkfifo /pipes/g1 /pipes/g2; echo /pipes/g*; rm /pipes/g*; echo /pipes/g*", tmp_path)
    assert r.stdout.splitlines() == ["/pipes/g1 /pipes/g2", "/pipes/g*"], r.stderr
    # Not under a namespace root: an attached shell finds no local match,
    # then asks the namespace.
    r = onesh(cluster, "echo /home/globbed/*.log", tmp_path)
    assert r.stdout == "/home/globbed/one.log /home/globbed/two.log\n", r.stderr


def test_a_local_match_wins_over_the_namespace(cluster: Cluster, tmp_path: Path) -> None:
    (tmp_path / "local.txt").write_text("x")
    with NamespaceSync(cluster.info.boot, cluster.info.secret) as ns:
        ns.write_bytes(f"{tmp_path}/remote.txt", b"y")
    r = onesh(cluster, f"echo {tmp_path}/*.txt; echo {tmp_path}/r*", tmp_path)
    assert r.stdout.splitlines() == [f"{tmp_path}/local.txt", f"{tmp_path}/remote.txt"], r.stderr


def test_local_globs_start_and_import_nothing(tmp_path: Path) -> None:
    """Without a cluster attached, a glob outside the namespace roots never
    starts the embedded cluster, nor imports the cluster client."""
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "data"), HOME=str(tmp_path))
    env.pop("ONESH_CLUSTER", None)
    (tmp_path / "f.txt").write_text("")
    code = ("import sys; from onesh.cli import main; "
            f"s = main(['-c', 'echo {tmp_path}/*.txt /nonexistent/* /dev/nul?']); "
            "print(s, sorted(m for m in sys.modules if m.startswith(('zmq', 'onesh.runtime', 'onesh.net'))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.stdout == f"{tmp_path}/f.txt /nonexistent/* /dev/null\n0 []\n", r.stderr
    assert not (tmp_path / "data").exists()


def test_cd_pwd_ls_in_namespace_directories(cluster: Cluster, tmp_path: Path) -> None:
    """`cd` into a directory only the namespace has: $PWD follows, `pwd`
    and `ls` (and relative names, globs, pipelines) work there."""
    with NamespaceSync(cluster.info.boot, cluster.info.secret) as ns:
        ns.write_bytes("/home/cdtest/notes.txt", b"hello\n")
    r = onesh(cluster, "cd /home/cdtest && pwd && ls && cat notes.txt && echo *.txt; "
                       "cd /dev/sensor && ls && cd .. && pwd; cd -; cd /dev/nope-zz; echo $?", tmp_path)
    assert r.stdout == ("/home/cdtest\nnotes.txt\nhello\nnotes.txt\n"
                        "1\n2\n/dev\n/dev/sensor\n1\n"), r.stderr
    assert "cd: /dev/nope-zz: No such file or directory" in r.stderr
    # A mistyped local directory is an ordinary error and starts nothing.
    r = onesh(None, "cd /nonexistent-dir-zz; echo $?", tmp_path)
    assert r.stdout == "1\n" and "No such file or directory" in r.stderr
