"""A builtin agent alone in its segment between two network pipes owns them
(runtime/agentpipes.py): no OS pipe between it and the network, no pump in
its stage host.  The bytes are the same as through the pumps; a killed
agent ends its output as a killed writer's OS pipe does; a killed stage
host takes its agent with it.

Real runtimes; the process tree and fds are read from /proc."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import Cluster, agent_on, alive, running_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path_factory.mktemp("agentpipes") / "c", nodes=3)


def onesh(cluster: Cluster, code: str, cwd: Path, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)  # type: ignore[call-overload]


def run_on_r2(cluster: Cluster, tmp_path: Path, code: str, data: bytes,
              agents: tuple[str, ...]) -> tuple[bytes, dict[str, list[str]], dict[str, Any]]:
    """`code` fed `data`: its output, the fds 0 and 1 of the `agents` on r2
    while it ran, and r2's ps --cluster row of it (counters reported by
    the agents themselves where they own the pipes)."""
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    with open(src, "rb") as fin:
        job = onesh(cluster, code, tmp_path, stdin=fin)
        pids = {name: agent_on(cluster, "r2", name) for name in agents}
        fds = {name: [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in ("0", "1")] for name, pid in pids.items()}
        out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err.decode()
    rows = cluster.call(cluster.info.runtimes["r2"].listen, "stage.list")["rows"]
    row = max((r for r in rows if len(r["stages"]) == len(agents)), key=lambda r: r["started"])
    return out, fds, row


def test_the_middle_agent_reads_and_writes_the_network_itself(cluster: Cluster, tmp_path: Path) -> None:
    data = b"".join(b"%d some text to carry\n" % k for k in range(2_000_000))
    out, fds, row = run_on_r2(cluster, tmp_path, "cat @r1 | cat @r2 | cat @r3", data, ("cat",))
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data).hexdigest()
    # Its stdin and stdout are /dev/null: its data never touches an OS pipe.
    assert fds == {"cat": [os.devnull, os.devnull]}, fds
    assert row["bytes_in"] == row["bytes_out"] == len(data), row


def test_a_file_the_shell_feeds_is_read_by_the_first_agent_itself(cluster: Cluster, tmp_path: Path) -> None:
    """The shell's stdin, a regular file, goes to the first agent on its
    host as the file itself (SCM_RIGHTS) and spans of it: the agent has
    it open, reads it from where the shell's offset stood, and the
    offset is left at the end, as a read loop leaves it."""
    data = b"".join(b"%d some text to carry\n" % k for k in range(1_000_000))
    src = tmp_path / "in.txt"
    src.write_bytes(data)
    with open(src, "rb") as fin:
        fin.seek(100)
        job = onesh(cluster, "cat @r2 | cat @r3", tmp_path, stdin=fin)
        held = agent_on(cluster, "r3", "cat")
        os.kill(held, signal.SIGSTOP)  # (the job waits for it: r2's cat is there to look at)
        try:
            first = agent_on(cluster, "r2", "cat")
            deadline = time.monotonic() + 10
            while str(src) not in {os.readlink(f"/proc/{first}/fd/{fd}") for fd in os.listdir(f"/proc/{first}/fd")}:
                assert time.monotonic() < deadline, "the first agent never had the shell's file"
                time.sleep(0.05)
        finally:
            os.kill(held, signal.SIGCONT)
        out, err = job.communicate(timeout=120)
        assert job.returncode == 0, err.decode()
        assert fin.tell() == len(data)  # (the open file description is the shell's too)
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data[100:]).hexdigest()


def test_in_a_longer_segment_its_first_and_last_agents_own_its_ends(cluster: Cluster, tmp_path: Path) -> None:
    # (a segment of several commands that can be restarted elsewhere is
    # the stage host's to pump instead, runtime/programreplay.py: `2>&1`
    # on its middle command makes this one not restartable)
    data = b"".join(b"%d abc\n" % k for k in range(1_000_000))
    out, fds, row = run_on_r2(cluster, tmp_path, "cat @r1 | cat @r2 | tr a b 2>&1 @r2 | cut -c1-20 @r2 | cat @r3",
                              data, ("cat", "tr", "cut"))
    assert out == data.replace(b"a", b"b")
    assert fds["cat"][0] == os.devnull and fds["cat"][1].startswith("pipe:"), fds  # owns the input
    assert all(fd.startswith("pipe:") for fd in fds["tr"]), fds  # between two OS pipes, as before
    assert fds["cut"][0].startswith("pipe:") and fds["cut"][1] == os.devnull, fds  # owns the output
    assert row["bytes_in"] == row["bytes_out"] == len(data), row


def flowing(cluster: Cluster, runtime: str, name: str, timeout: float = 20) -> int:
    """The agent `name` on `runtime`, once its segment has started (its
    stage host reported it) and bytes have gone out: a kill before that
    would be a failed start, not the death of a running stage."""
    agent = agent_on(cluster, runtime, name, timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = cluster.call(cluster.info.runtimes[runtime].listen, "stage.list")["rows"]
        if any(r["state"] == "running" and agent in r["pids"] and r["bytes_out"] > 0 for r in rows):
            return agent
        time.sleep(0.05)
    raise AssertionError(f"{name} on {runtime} never got going")


def test_a_killed_agent_ends_its_output_and_a_killed_stage_host_takes_its_agent(cluster: Cluster,
                                                                                  tmp_path: Path) -> None:
    job = onesh(cluster, "seq 1 300000000 @r1 | cat @r2 | wc -l @r3; echo ${PIPESTATUS[@]}", tmp_path,
                stdin=subprocess.DEVNULL)
    cat = flowing(cluster, "r2", "cat")
    os.kill(cat, signal.SIGKILL)
    out, err = job.communicate(timeout=60)
    count, statuses = out.decode().split("\n")[:2]
    # As with OS pipes: the reader gets what was written, then its end.
    assert 0 < int(count) < 300000000, out
    assert statuses == "141 137 0", (out, err)

    # (the last segment: the shell reads its output, and gives up on a
    # silent pipe whose writer is gone once every segment has reported)
    # (its output flows to /dev/null through the shell; the statuses go to stderr)
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c",
                            "seq 1 300000000 @r1 | cat @r2; echo ${PIPESTATUS[@]} >&2"],
                           cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    cat = flowing(cluster, "r2", "cat")
    with open(f"/proc/{cat}/stat", "rb") as f:
        host = int(f.read().rsplit(b")", 1)[1].split()[1])
    os.kill(host, signal.SIGKILL)
    _, err = job.communicate(timeout=60)
    assert err.decode().split()[-1] == "137", err  # (the stage host's statuses are lost: 137)
    deadline = time.monotonic() + 5
    while alive([cat]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive([cat]), "the agent outlived its stage host"
