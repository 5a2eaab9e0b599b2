"""A cluster always re-forms: after a restart on other ports, after a log
compaction, with a voter whose journal is unusable; and it listens only
where it is told."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, descendants, listening_sockets

from onesh.kernel.membership import ClusterState
from onesh.kernel.raftfiles import RaftFilesUnusable, check_raft_files, journal_problem
from onesh.kernel.statusread import leader_problem
from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster

pytestmark = pytest.mark.slow


def shell(info: ClusterInfo, code: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onesh", "--cluster", info.directory, "-c", code],
                          capture_output=True, text=True, cwd=cwd, timeout=60, stdin=subprocess.DEVNULL,
                          env=dict(os.environ, **env))


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "c"
    yield d
    if (d / "cluster.json").exists():
        stop_cluster(ClusterInfo.load(str(d)))


def test_every_listening_socket_is_where_it_was_told(directory: Path, tmp_path: Path) -> None:
    """Runtimes (RPC, Raft), stage hosts and the shell's pipe ends, wired
    as between hosts (TCP): all on loopback, none on the wildcard."""
    info = start_cluster(str(directory), nodes=3, sensors=2)
    job = subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", info.directory, "-c",
                            "cat /dev/sensor/1 | cat @r2 | cat @r3"], cwd=tmp_path, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, ONESH_NO_IPC="1"))
    try:
        assert job.stdout is not None
        job.stdout.readline()  # data flows end to end: every pipe is bound
        pids = [p for pid in info.pids.values() for p in descendants(pid)] + descendants(job.pid)
        sockets = listening_sockets(pids)
    finally:
        job.kill()
        job.communicate()
    raft_ports = {int(r.raft.rsplit(":", 1)[1]) for r in info.runtimes.values() if r.raft}
    assert raft_ports <= {port for _, port, _ in sockets}, "the Raft ports were not found listening"
    assert len(sockets) > 9  # 3 RPC + 3 Raft + pipe receivers of stage hosts and shell
    assert {addr for addr, _, _ in sockets} == {"127.0.0.1"}, sockets


def test_restart_reuses_raft_addresses_and_reforms_after_compaction_on_new_ports(
        directory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Compact the Raft log within seconds (pysyncobj then records the voter
    # addresses in its full dump: the trap a restart on new ports fell in).
    monkeypatch.setenv("ONESH_RAFT_COMPACT_ENTRIES", "20")
    monkeypatch.setenv("ONESH_RAFT_COMPACT_SECONDS", "1")
    info = start_cluster(str(directory), nodes=3, sensors=1)
    assert shell(info, "echo kept | cat > /tmp/kept.txt @r2", tmp_path).returncode == 0
    deadline = time.monotonic() + 20
    while not all((directory / n / "raft.dump").exists() for n in ("r1", "r2", "r3")):
        assert time.monotonic() < deadline, "no log compaction happened"
        time.sleep(0.2)
    first = {n: r.raft for n, r in info.runtimes.items()}
    stop_cluster(info)

    again = start_cluster(str(directory))
    assert {n: r.raft for n, r in again.runtimes.items()} == first  # free: reused
    stop_cluster(again)

    # Another program takes two voters' Raft ports meanwhile.
    squatters = []
    for name in ("r1", "r2"):
        host, port = str(first[name]).rsplit(":", 1)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (past TIME_WAIT)
        s.bind((host, int(port)))
        s.listen()
        squatters.append(s)
    try:
        moved = start_cluster(str(directory), wait=30)
        assert moved.runtimes["r1"].raft != first["r1"] and moved.runtimes["r3"].raft == first["r3"]
        r = shell(moved, "cat /tmp/kept.txt @r1", tmp_path)
        assert r.stdout == "kept\n", r.stderr
        snap = Cluster(moved).status()
        assert snap["members"]["r1"]["raft"] == moved.runtimes["r1"].raft  # updated in the replicated state
    finally:
        for s in squatters:
            s.close()


def test_a_voter_with_an_unusable_journal_says_so_and_the_others_form(directory: Path, tmp_path: Path) -> None:
    info = start_cluster(str(directory), nodes=3)
    assert shell(info, "echo ok | cat > /tmp/ok.txt @r1", tmp_path).returncode == 0
    stop_cluster(info)
    journal = directory / "r3" / "raft.journal"
    data = bytearray(journal.read_bytes())
    (end,) = struct.unpack_from("<I", data, 36)
    assert end > 40, "r3's journal holds no record"
    # A torn write: the end of the log says more than was written.
    struct.pack_into("<I", data, 36, end + 3)
    journal.write_bytes(bytes(data))
    assert journal_problem(str(journal))

    p = subprocess.run([sys.executable, "-m", "onesh", "cluster", "up", "--data-dir", str(directory)],
                       capture_output=True, text=True, timeout=90)
    assert p.returncode == 1
    assert f"runtime r3 exited during start-up: onesh runtime: raft file {journal} is unusable" in p.stderr
    assert f"mv {journal} {journal}.bad" in p.stderr and "Traceback" not in p.stderr
    assert "cluster up: 2 runtimes" in p.stdout
    info = ClusterInfo.load(str(directory))
    assert sorted(info.alive_pids()) == ["r1", "r2"]
    assert shell(info, "cat /tmp/ok.txt @r2", tmp_path).stdout == "ok\n"

    # Doing what the message says brings it back, with the whole state.
    journal.rename(journal.with_name("raft.journal.bad"))
    info = start_cluster(str(directory))
    assert info.started == ["r3"] and not info.failed
    assert shell(info, "cat /tmp/ok.txt @r3", tmp_path).stdout == "ok\n"


def test_journal_check(tmp_path: Path) -> None:
    check_raft_files(str(tmp_path))  # none yet: fine
    (tmp_path / "raft.journal").write_bytes(b"")
    check_raft_files(str(tmp_path))  # empty: removed, starts over
    assert not (tmp_path / "raft.journal").exists()
    (tmp_path / "raft.journal").write_bytes(b"garbage" * 10)
    with pytest.raises(RaftFilesUnusable, match="bad header"):
        check_raft_files(str(tmp_path))
    (tmp_path / "raft.journal").unlink()
    (tmp_path / "raft.dump").write_bytes(b"\x1f\x8b\x08\x00truncated")
    with pytest.raises(RaftFilesUnusable, match=r"raft\.dump is unusable"):
        check_raft_files(str(tmp_path))


def test_a_voter_without_a_quorum_says_which_voters_it_cannot_reach(tmp_path: Path) -> None:
    ports = [s.getsockname()[1] for s in [socket.socket() for _ in range(3)] if not s.bind(("127.0.0.1", 0))]
    addrs = [f"127.0.0.1:{p}" for p in ports]
    state = ClusterState(addrs[0], addrs[1:], password="x" * 32, data_dir=str(tmp_path), manifest_text="")
    state.start()
    try:
        time.sleep(0.5)
        problem = leader_problem(state.snapshot())
    finally:
        state.stop()
    assert problem == f"no leader reachable: {addrs[0]} is cut off from 2 of 3 voters ({', '.join(sorted(addrs[1:]))})"
