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
from onesh.runtime.client import ClusterClient, ClusterHandle
from onesh.runtime.localcluster import ClusterError, ClusterInfo
from onesh.runtime.nsclient import NamespaceSync

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterInfo]:
    from onesh.runtime.localcluster import start_cluster, stop_cluster

    info = start_cluster(str(tmp_path_factory.mktemp("complete") / "c"), nodes=3, sensors=2)
    try:
        # Ready when the namespace answers: a Tab waits half a second at
        # most, which a cluster still placing its agents may not meet.
        deadline = time.monotonic() + 30
        with NamespaceSync(info.boot, info.secret) as ns:
            while time.monotonic() < deadline:
                try:
                    if len(ns.listdir("/dev/sensor")) == 2:
                        break
                except Exception:  # noqa: BLE001 - not ready yet
                    pass
                time.sleep(0.2)
        yield info
    finally:
        stop_cluster(info)


class Attached:
    """A ClusterLink to an explicit cluster, as cli.py gives the
    interpreter one for `--cluster DIR`."""

    def __init__(self, directory: str) -> None:
        self.handle = ClusterHandle(directory)

    def client(self) -> ClusterClient:
        return self.handle.client()

    def attached(self) -> bool:
        return True

    def close(self) -> None:
        self.handle.close()


class NeverStarted:
    """A ClusterLink with no cluster yet: records every call that would
    attach (or start) one."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def client(self) -> ClusterClient:
        self.started.append("client")
        raise ClusterError("no cluster in this test")

    def attached(self) -> bool:
        return False

    def close(self) -> None:
        return None


def shell(tmp_path: Path, cluster: str | None) -> Interpreter:
    st = ShellState(environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PWD": str(tmp_path)})
    return Interpreter(st, interactive=True, cluster=Attached(cluster) if cluster is not None else None)


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
    link = NeverStarted()
    st = ShellState(environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PWD": str(tmp_path)})
    c = OneshCompleter(Interpreter(st, interactive=True, cluster=link))
    assert complete(c, "cat /dev/sensor/") == []
    assert complete(c, "cat /dev/nul") == ["/dev/null"]
    assert complete(c, "cat x @r") == []
    assert complete(c, "kill ") == []
    # A Tab never attaches (the completer swallows errors, so count the calls).
    assert link.started == []


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
            run_repl(attached, input=inp, output=DummyOutput())
        finally:
            typist.join()
    out = capfd.readouterr().out
    assert "/dev/sensor/\n" in out
    assert "/net/r1 /net/r2 /net/r3\n" in out


def test_pin_completes_runtime_names_and_tags(attached: Interpreter) -> None:
    c = OneshCompleter(attached)
    assert complete(c, "cat x @r") == ["@r1", "@r2", "@r3"]
    assert complete(c, "cat x @r2") == ["@r2"]
    assert complete(c, "@r") == []  # a command word is not a pin
    assert complete(c, "cat x @zz") == []


def test_kill_completes_cluster_job_ids(attached: Interpreter, cluster: ClusterInfo, tmp_path: Path) -> None:
    """A job running on the cluster (started by another shell) is offered
    by its `ps --cluster` id after `kill`."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.directory, "-c",
                             "cat /dev/sensor/2 | grep x @r3"],
                            cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        c = OneshCompleter(attached)
        want = f":{proc.pid}:1"
        ids: list[str] = []
        deadline = time.monotonic() + 30
        while not any(i.endswith(want) for i in ids) and time.monotonic() < deadline:
            c._cluster_words.clear()  # no remembered answer: ask the session agent again
            ids = complete(c, "kill ")
            time.sleep(0.2)
        assert any(i.endswith(want) for i in ids), ids
        job = next(i for i in ids if i.endswith(want))
        assert complete(c, f"kill -INT {job[:3]}") == [i for i in ids if i.startswith(job[:3])]
        assert attached.run_text(f"kill -INT {job}\n", "<test>") == 0  # its stages stop everywhere
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
