"""Tab completion of cluster namespace paths, against a real 3-runtime
cluster with two simulated sensors (the shell attached as `--cluster DIR`
does it: through onesh.runtime.client.ClusterHandle)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from onesh.engine.interp import Interpreter
from onesh.engine.state import ShellState
from onesh.repl.app import run_repl
from onesh.repl.completer import OneshCompleter
from onesh.runtime.client import ClusterHandle
from onesh.runtime.localcluster import ClusterInfo
from onesh.runtime.nsclient import NamespaceSync

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    from onesh.runtime.localcluster import start_cluster, stop_cluster

    info = start_cluster(str(tmp_path_factory.mktemp("complete") / "c"), nodes=3, sensors=2)
    try:
        yield info
    finally:
        stop_cluster(info)


def shell(tmp_path: Path, cluster: str | None) -> Interpreter:
    st = ShellState(environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PWD": str(tmp_path)})
    interp = Interpreter(st, interactive=True)
    if cluster is not None:
        handle = ClusterHandle(cluster)
        interp.cluster = handle.client
        interp.cluster_attached = lambda: True
    return interp


@pytest.fixture
def attached(cluster: ClusterInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Interpreter:
    monkeypatch.chdir(tmp_path)
    return shell(tmp_path, cluster.directory)


def complete(c: OneshCompleter, text: str) -> list[str]:
    return [x.text for x in c.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_devices_runtimes_and_roots(attached: Interpreter) -> None:
    c = OneshCompleter(attached)
    assert complete(c, "cat /dev/sen") == ["/dev/sensor/"]
    assert complete(c, "cat /dev/sensor/") == ["/dev/sensor/1", "/dev/sensor/2"]
    assert complete(c, "cat /dev/sensor/2") == ["/dev/sensor/2"]
    assert complete(c, "ls /net/") == ["/net/r1/", "/net/r2/", "/net/r3/"]
    assert complete(c, "ls /ne") == ["/net/"]
    assert "/pipes/" in complete(c, "ls /") and "/usr/" in complete(c, "ls /")
    # Local entries are still there, merged.
    assert complete(c, "cat /dev/nul") == ["/dev/null"]
    shown = [x.display_text for x in c.get_completions(Document("ls /net/r"), CompleteEvent())]
    assert shown == ["r1/", "r2/", "r3/"]


def test_host_files_and_files_in_the_namespace(attached: Interpreter, cluster: ClusterInfo,
                                              tmp_path: Path) -> None:
    (tmp_path / "host file.txt").write_text("x")
    (tmp_path / ".dot").write_text("x")
    (tmp_path / "d").mkdir()
    c = OneshCompleter(attached)
    d = f"/net/r3{tmp_path}"
    assert complete(c, f"cat {d}/") == [f"{d}/d/", f"{d}/host\\ file.txt"]
    assert complete(c, f"cat {d}/.") == [f"{d}/.dot"]
    with NamespaceSync(cluster.boot, cluster.secret) as ns:
        ns.write_bytes("/home/tabbed/report.log", b"data\n")
        ns.write_bytes("/home/tabbed/sub/x", b"")
    assert complete(c, "cat /home/tabbed/") == ["/home/tabbed/report.log", "/home/tabbed/sub/"]
    # Relative to $PWD, as a pipeline's `> report.log` is.
    attached.state.set("PWD", "/home/tabbed")
    assert complete(c, "cat re") == ["report.log"]


def test_only_arguments_get_namespace_paths(attached: Interpreter) -> None:
    c = OneshCompleter(attached)
    assert complete(c, "cd /ne") == []  # cd is local
    assert complete(c, "/dev/sen") == []  # nothing there to execute
    assert complete(c, "echo $HOM") == ["HOME"]


def test_never_starts_a_cluster(tmp_path: Path) -> None:
    interp = shell(tmp_path, None)

    def start() -> object:
        raise AssertionError("completion started the cluster")

    interp.cluster = start
    c = OneshCompleter(interp)
    assert complete(c, "cat /dev/sensor/") == []
    assert complete(c, "cat /dev/nul") == ["/dev/null"]


def test_listings_are_cached_briefly(attached: Interpreter, cluster: ClusterInfo) -> None:
    c = OneshCompleter(attached)
    c.listings().ttl = 0.5
    assert complete(c, "cat /pipes/tab") == []
    with NamespaceSync(cluster.boot, cluster.secret) as ns:
        ns.run(ns.ns.mknod("/pipes/tabbed", "pipe"))
        try:
            assert complete(c, "cat /pipes/tab") == []  # the remembered listing
            time.sleep(0.6)
            assert complete(c, "cat /pipes/tab") == ["/pipes/tabbed"]
        finally:
            ns.rm("/pipes/tabbed")


def test_an_unresponsive_cluster_costs_one_short_wait(tmp_path: Path, cluster: ClusterInfo,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # A runtime that accepts connections and never answers.
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        monkeypatch.setenv("ONESH_SECRET", cluster.secret)
        interp = shell(tmp_path, f"tcp://127.0.0.1:{hung.getsockname()[1]}")
        c = OneshCompleter(interp)
        t = time.monotonic()
        assert complete(c, "cat /dev/sensor/") == []
        assert time.monotonic() - t < 1.5
        t = time.monotonic()
        assert complete(c, "cat /dev/nul") == ["/dev/null"]
        assert complete(c, "cat /dev/sensor/") == []
        assert time.monotonic() - t < 0.3  # the failure is remembered too


def test_async_completion_awaits_on_the_running_loop(attached: Interpreter) -> None:
    c = OneshCompleter(attached)

    async def go() -> list[str]:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        try:
            got = [x.text async for x in c.get_completions_async(Document("cat /net/"), CompleteEvent())]
        finally:
            ticker.cancel()
        assert ticks > 1  # the loop kept running while the cluster answered
        return got

    assert asyncio.run(go()) == ["/net/r1/", "/net/r2/", "/net/r3/"]


def test_tab_in_the_repl(attached: Interpreter, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text("echo /dev/sen\t")

        def later() -> None:
            time.sleep(1.0)  # the completion is asynchronous
            inp.send_text("\recho /net/*\rexit\r")  # and a glob, from inside the prompt's loop

        typist = threading.Thread(target=later)
        typist.start()
        try:
            run_repl(attached, input=inp, output=DummyOutput(), history_path=str(tmp_path / "h"))
        finally:
            typist.join()
    out = capfd.readouterr().out
    assert "/dev/sensor/\n" in out
    assert "/net/r1 /net/r2 /net/r3\n" in out
