"""A handle on a test cluster (shared by conftest and the tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from onesh.runtime.client import ClusterClient, _call
from onesh.runtime.localcluster import ClusterError, ClusterInfo


class Cluster:
    def __init__(self, info: ClusterInfo) -> None:
        self.info = info
        self.client = ClusterClient(info.boot, info.secret)

    def status(self) -> dict[str, Any]:
        return self.client.status()

    def call(self, endpoint: str, method: str, body: dict[str, Any] | None = None,
             timeout: float = 1.0) -> dict[str, Any]:
        return asyncio.run(_call([endpoint], self.info.secret, method, body, timeout))

    def wait_for(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last: dict[str, Any] = {}
        while time.monotonic() < deadline:
            try:
                last = self.status()
                if pred(last):
                    return last
            except ClusterError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"condition not reached; last status: {last}")


def running_cluster(directory: Path, **kw: Any) -> Iterator[Cluster]:
    """A real cluster for a module-scoped fixture: started here, always
    stopped (`yield from running_cluster(...)`)."""
    from onesh.runtime.localcluster import start_cluster, stop_cluster

    info = start_cluster(str(directory), **kw)
    try:
        yield Cluster(info)
    finally:
        # (from the directory: a test may have restarted some of them)
        stop_cluster(ClusterInfo.load(str(directory)))


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it, by parent links in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def job_processes(runtime_pid: int) -> list[int]:
    """What a runtime runs for jobs: every process below it but its zygote
    (the warm parent of its stage hosts, kept between jobs)."""
    return [p for p in descendants(runtime_pid)[1:] if not is_zygote(p, runtime_pid)]


def is_zygote(pid: int, runtime_pid: int) -> bool:
    """`pid` is the zygote of the runtime `runtime_pid`: its child running
    `-m onesh.runtime.zygote`.  (Not by its name: a zygote just started
    has not named itself yet; and the stage hosts and agents forked from
    it have its command line, one level down or more.)"""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            ppid = int(f.read().rsplit(b")", 1)[1].split()[1])
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return ppid == runtime_pid and b"\0onesh.runtime.zygote\0" in f.read()
    except (OSError, ValueError, IndexError):
        return False


def kill_device(pid: int) -> list[int]:
    """A device dies: its runtime daemon and every process it started (stage
    hosts in their own sessions, their commands) stop at the same instant.
    Frozen first (SIGSTOP), so none of them reacts to another's death."""
    tree = descendants(pid)
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for p in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, sig)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    return tree


def alive(pids: Iterable[int]) -> list[int]:
    """Those of `pids` still running (zombies count as gone)."""
    out = []
    for p in pids:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] != b"Z":
                    out.append(p)
        except OSError:
            pass
    return out


def listening_sockets(pids: Iterable[int]) -> list[tuple[str, int, int]]:
    """(address, port, pid) of every TCP socket these processes listen on."""
    inodes = _socket_inodes(pids)
    out = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with contextlib.suppress(OSError), open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A" or inode not in inodes:  # 0A: LISTEN
                    continue
                hexaddr, hexport = local.split(":")
                raw = bytes.fromhex(hexaddr)
                # /proc prints each 32-bit word in host (little-endian) order
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                import ipaddress

                addr = str(ipaddress.ip_address(words if width == 32 else words[:4]))
                out.append((addr, int(hexport, 16), inodes[inode]))
    return out


def unix_socket_paths(pids: Iterable[int]) -> set[str]:
    """Paths of the Unix sockets these processes have open (bound or
    connected ends, as /proc/net/unix names them)."""
    inodes = _socket_inodes(pids)
    paths = set()
    with contextlib.suppress(OSError), open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[6] in inodes:
                paths.add(fields[7])
    return paths


def _socket_inodes(pids: Iterable[int]) -> dict[str, int]:
    """The inode of every socket these processes have open → its pid."""
    inodes: dict[str, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes[target[8:-1]] = pid
    return inodes


def comm(pid: int) -> str:
    """What ps -o comm shows for `pid` ("" once it is gone)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cmdline(pid: int) -> bytes:
    """Its command line, NUL-separated (b"" once it is gone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def start_job(cluster: Cluster, code: str, cwd: Path) -> subprocess.Popen[bytes]:
    """`onesh -c code` on the cluster, in a session of its own (killpg)."""
    return subprocess.Popen([sys.executable, "-m", "onesh", "--cluster", cluster.info.directory, "-c", code],
                            cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)


def end_job(job: subprocess.Popen[bytes]) -> None:
    """Kill a job's whole session if it still runs (a test that failed
    half-way must leave nothing running)."""
    if job.poll() is None:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()


def agent_on(cluster: Cluster, runtime: str, name: str, timeout: float = 20) -> int:
    """The pid of the command `name` a job runs on `runtime`, once there is one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in job_processes(cluster.info.pids[runtime]):
            if comm(p) == name:
                return p
        time.sleep(0.05)
    raise AssertionError(f"no {name} on {runtime}")
