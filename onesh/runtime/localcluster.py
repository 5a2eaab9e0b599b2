"""A cluster of runtime processes on this machine: start, restart, stop.

A local cluster lives in a directory holding `secret` (mode 0600),
`cluster.json` and one data directory per runtime (its Raft journal,
chunks and `runtime.log`).  `cluster.json` records the layout: each
runtime's name, RPC endpoint, Raft address (voters) and devices, plus the
pids of the running processes.  Starting again from that directory reuses
the layout, so the voters come back on the Raft addresses their journals
know; a port some other program took meanwhile is replaced (every voter is
then given the new voter list).  Starting while some runtimes are still
running restarts only the missing ones, as a device coming back would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from onesh.errors import OneshError


class ClusterError(OneshError):
    status = 1


def free_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """n distinct free TCP ports (bound briefly to reserve them)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(_family(host))
            s.bind((host, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def port_free(host: str, port: int) -> bool:
    """Can a listener bind host:port now (as a runtime does, SO_REUSEADDR)?"""
    with socket.socket(_family(host)) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class RuntimeSpec:
    """How one runtime of a local cluster is started."""

    name: str
    listen: str  # tcp://HOST:PORT
    raft: str | None = None  # HOST:PORT for a voter
    devices: list[str] = field(default_factory=list)  # KIND:N=DRIVER

    def to_json(self) -> dict[str, Any]:
        return {"listen": self.listen, "raft": self.raft, "devices": self.devices}

    @classmethod
    def from_json(cls, name: str, data: Any) -> RuntimeSpec:
        if not isinstance(data, dict) or not isinstance(data.get("listen"), str):
            raise ValueError(f"runtime {name}: listen endpoint missing")
        raft = data.get("raft")
        devices = data.get("devices") or []
        if (raft is not None and not isinstance(raft, str)) or not isinstance(devices, list):
            raise ValueError(f"runtime {name}: bad raft address or devices")
        return cls(name, data["listen"], raft, [str(d) for d in devices])


@dataclass
class ClusterInfo:
    directory: str
    boot: list[str]
    secret: str
    pids: dict[str, int]
    runtimes: dict[str, RuntimeSpec] = field(default_factory=dict)
    idle_stop: float = 0.0  # the embedded service stops itself after this long idle
    started: list[str] = field(default_factory=list)  # what the last start_cluster started (not saved)
    failed: dict[str, str] = field(default_factory=dict)  # of those, which exited, and why (not saved)

    @classmethod
    def load(cls, directory: str) -> ClusterInfo:
        path = os.path.join(directory, "cluster.json")
        try:
            with open(path) as f:
                data = json.load(f)
            runtimes = {n: RuntimeSpec.from_json(n, d) for n, d in (data.get("runtimes") or {}).items()}
            return cls(directory, list(data["boot"]), data["secret"],
                       {k: int(v) for k, v in data["pids"].items()}, runtimes, float(data.get("idle_stop", 0)))
        except FileNotFoundError:
            raise ClusterError(f"no cluster in {directory} (start one with `onesh cluster up`)") from None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
            raise ClusterError(f"{path}: unreadable ({e})") from None

    def save(self) -> None:
        path = os.path.join(self.directory, "cluster.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"boot": self.boot, "secret": self.secret, "pids": self.pids, "idle_stop": self.idle_stop,
                       "runtimes": {n: r.to_json() for n, r in self.runtimes.items()}}, f, indent=2)
        os.replace(tmp, path)
        from onesh.contexts import write_pids

        write_pids(self.directory, self.pids)  # (what a shell reads to tell "running", cheaply)

    def alive_pids(self) -> dict[str, int]:
        """The recorded runtimes whose process still runs (a recycled pid
        running something else does not count)."""
        out = {}
        for name, pid in self.pids.items():
            if _is_runtime(pid, name):
                out[name] = pid
        return out

    def voters(self) -> list[str]:
        return [r.raft for r in self.runtimes.values() if r.raft]

    def boot_from_voters(self) -> None:
        """The name servers members join through: the voters' endpoints
        (after the voters or their addresses changed)."""
        self.boot = [r.listen for r in self.runtimes.values() if r.raft]

    def argv(self, name: str) -> list[str]:
        r = self.runtimes[name]
        rdir = os.path.join(self.directory, name)
        argv = [sys.executable, "-m", "onesh", "runtime", "--name", name, "--listen", r.listen,
                "--data-dir", rdir, "--secret", self.secret]
        if r.raft:
            argv += ["--raft", r.raft, "--voters", ",".join(self.voters())]
        else:
            argv += ["--join", ",".join(self.boot)]
        for d in r.devices:
            argv += ["--device", d]
        if self.idle_stop:
            argv += ["--idle-stop", f"{self.idle_stop:g}"]
        return argv


def _is_runtime(pid: int, name: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
        with open(f"/proc/{pid}/stat", "rb") as f:
            zombie = f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return True  # no /proc here: trust the pid
    if zombie:
        return False
    return b"runtime" in args and name.encode() in args


def _layout(directory: str, secret: str, nodes: int, voters: int, sensors: int,
            host: str) -> ClusterInfo:
    if host == "127.0.0.1":  # (one call: ports held at once are distinct)
        ports = free_ports(nodes + voters)
        rpc_ports, raft_ports = ports[:nodes], ports[nodes:]
    else:
        rpc_ports, raft_ports = free_ports(nodes, host), free_ports(voters)
    info = ClusterInfo(directory, [], secret, {})
    for k in range(nodes):
        name = f"r{k + 1}"
        devices = [f"sensor:{s + 1}=sim:sine" for s in range(sensors) if s % nodes == k]
        info.runtimes[name] = RuntimeSpec(name, f"tcp://{_bracket(host)}:{rpc_ports[k]}",
                                          f"127.0.0.1:{raft_ports[k]}" if k < voters else None, devices)
    info.boot_from_voters()
    return info


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _move(info: ClusterInfo, host: str) -> None:
    """`cluster up --listen ADDR` on a recorded cluster: its runtimes'
    endpoints move to ADDR (ports kept where free).  Only a stopped cluster
    moves: a running runtime keeps the address it has."""
    if all(_split(r.listen)[0] == host for r in info.runtimes.values()):
        return
    if info.alive_pids():
        raise ClusterError(f"the cluster in {info.directory} is running on another address; "
                           "`onesh cluster down` first to move it")
    for r in info.runtimes.values():
        r.listen = f"tcp://{_bracket(host)}:{_split(r.listen)[1]}"
    info.boot_from_voters()


def _grow(info: ClusterInfo, nodes: int) -> None:
    """Members added to a recorded layout (`cluster up --nodes 5` on 3)."""
    host = _split(next(iter(info.runtimes.values())).listen)[0]
    k = len(info.runtimes)
    while len(info.runtimes) < nodes:
        k += 1
        name = f"r{k}"
        if name not in info.runtimes:
            info.runtimes[name] = RuntimeSpec(name, f"tcp://{_bracket(host)}:{free_ports(1, host)[0]}")


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    return host.strip("[]"), int(port)


def _adopt_voter_changes(info: ClusterInfo) -> None:
    """A voter gone for good was replaced by a member while the cluster
    ran (runtime/voterswap.py): take the newest Raft configuration any
    runtime recorded, so the new voter comes back as one and the old one
    as a member."""
    from onesh.kernel.raftfiles import read_voters

    records = {n: read_voters(os.path.join(info.directory, n)) for n in info.runtimes}
    known = {n: r for n, r in records.items() if r is not None}
    if not known:
        return
    newest = max(known.values(), key=lambda r: float(r["at"]))
    voters = set(newest["voters"])
    by_address = {str(r["self"]): n for n, r in known.items()}
    if not voters <= set(by_address) or voters == set(info.voters()):
        return  # (a voter's record missing: keep the layout as it is)
    for name, spec in info.runtimes.items():
        record = known.get(name)
        spec.raft = str(record["self"]) if record is not None and record["self"] in voters else None
    info.boot_from_voters()


def _repair_ports(info: ClusterInfo, starting: list[str], restarting_all: bool) -> None:
    """Ports of the runtimes about to start that another program holds
    now get new ones.  A voter's Raft address can only change when every
    voter restarts (they are all given the voter list)."""
    for r in (info.runtimes[n] for n in starting):
        host, port = _split(r.listen)
        if not port_free(host, port):
            r.listen = f"tcp://{_bracket(host)}:{free_ports(1, host)[0]}"
        if r.raft:
            host, port = _split(r.raft)
            if not port_free(host, port):
                if not restarting_all:
                    raise ClusterError(f"runtime {r.name}'s Raft address {r.raft} is in use by another "
                                       "program; free it, or `onesh cluster down` and `up` to move it")
                r.raft = f"{host}:{free_ports(1, host)[0]}"
    info.boot_from_voters()


def start_cluster(directory: str, *, nodes: int | None = None, voters: int = 3, sensors: int = 0,
                  wait: float = 60.0, listen: str | None = None, idle_stop: float | None = None,
                  progress: Callable[[int, int], None] | None = None) -> ClusterInfo:
    """Start the cluster recorded in `directory` (or a new one of `nodes`
    runtimes, 3 by default); return once every runtime is a live member
    and every kernel agent is placed.  Runtimes already running are kept;
    `nodes` beyond the recorded ones join as members.  `listen` is the
    address their RPC endpoints bind, one that devices can reach (default:
    loopback, or the recorded one); Raft stays on loopback: every voter of
    a local cluster is on this machine.  `idle_stop`: the cluster stops
    itself after this many seconds idle (the embedded service; None: as
    recorded).  `progress(alive, total)` hears how far it got."""
    from onesh.net.keys import create_secret

    if nodes is not None and nodes < 1:
        raise ClusterError("--nodes must be at least 1")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    secret = os.path.join(directory, "secret")
    if not os.path.exists(secret):
        create_secret(secret)
    try:
        info = ClusterInfo.load(directory)
    except ClusterError:
        info = None
    if info is None or not info.runtimes:
        # New, or recorded before layouts were: nothing running to keep.
        if info is not None and info.alive_pids():
            raise ClusterError(f"a cluster is already running from {directory} "
                               "(`onesh cluster status`, `onesh cluster down`)")
        n = 3 if nodes is None else nodes
        info = _layout(directory, secret, n, max(1, min(voters, 5, n)), sensors, listen or "127.0.0.1")
    elif listen is not None:
        _move(info, listen)
    _grow(info, nodes or 0)
    if idle_stop is not None:
        info.idle_stop = idle_stop
    _adopt_voter_changes(info)
    running = info.alive_pids()
    if len(running) == len(info.runtimes):
        raise ClusterError(f"a cluster is already running from {directory} "
                           "(`onesh cluster status`, `onesh cluster down`)")
    starting = [n for n in info.runtimes if n not in running]
    _repair_ports(info, starting, restarting_all=not running)
    info.secret = secret
    info.pids = dict(running)
    procs = {name: _spawn(info, name) for name in starting}
    info.pids.update((name, p.pid) for name, p in procs.items())
    info.started = starting
    info.save()
    _wait_formed(info, procs, wait, progress)
    return info


def _spawn(info: ClusterInfo, name: str) -> subprocess.Popen[bytes]:
    rdir = os.path.join(info.directory, name)
    os.makedirs(rdir, mode=0o700, exist_ok=True)
    with open(os.path.join(rdir, "runtime.log"), "ab") as logf:
        return subprocess.Popen(info.argv(name), stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                start_new_session=True, close_fds=True)


def _wait_formed(info: ClusterInfo, procs: dict[str, subprocess.Popen[bytes]], wait: float,
                 progress: Callable[[int, int], None] | None = None) -> None:
    """Until every runtime still running is a live member and the kernel
    agents are placed.  A runtime that exits meanwhile is recorded in
    `info.failed` with its reason; the others form without it (a voter
    with an unusable journal must not keep the rest from a quorum)."""
    from onesh.runtime.client import ClusterClient

    client = ClusterClient(info.boot, info.secret)
    deadline = time.monotonic() + wait
    last = ""
    while time.monotonic() < deadline:
        # (our own children: poll() is exact, where a pid just forked may not
        # show its command line yet)
        for name in [n for n, p in procs.items() if p.poll() is not None and n in info.pids]:
            info.failed[name] = last_words(os.path.join(info.directory, name, "runtime.log"))
            del info.pids[name]
        if not info.pids:
            break
        try:
            snap = client.status()
            # Alive as the process we know: the replicated state remembers
            # the runtimes of the last start as they were when it stopped.
            alive = [n for n, m in snap["members"].items()
                     if m.get("alive") and n in info.pids and m.get("pid") == info.pids[n]]
            if progress is not None:
                progress(len(alive), len(info.pids))
            if len(alive) >= len(info.pids) and len(snap["assign"]) >= 5:
                info.save()
                return
            last = f"{len(alive)}/{len(info.pids)} members, {len(snap['assign'])} agents placed"
        except ClusterError as e:
            last = e.message
        time.sleep(0.1)
    stop_cluster(info)
    why = "".join(f"; {n} exited: {w}" for n, w in sorted(info.failed.items()))
    raise ClusterError(f"cluster did not form within {wait:g}s ({last or 'no runtime running'}){why}")


def last_words(log: str) -> str:
    """The reason a runtime gave for exiting: the last line it logged."""
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.path.getsize(log) - 4096))
            lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        lines = []
    return f"{lines[-1].strip()} (log: {log})" if lines else f"see {log}"


def stop_cluster(info: ClusterInfo, grace: float = 5.0) -> list[str]:
    """SIGTERM (graceful leave) → wait → SIGKILL.  Returns the names stopped."""
    alive = info.alive_pids()
    for pid in alive.values():
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and info.alive_pids():
        _reap(alive.values())
        time.sleep(0.05)
    for pid in info.alive_pids().values():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _reap(alive.values(), wait=2.0)
    info.pids = {}
    info.save()
    return sorted(alive)


def _reap(pids: Iterable[int], wait: float = 0.0) -> None:
    """Collect the runtimes this process started (they would linger as
    zombies), waiting up to `wait` seconds for those still exiting; only
    those: the shell's own jobs are not ours to reap."""
    todo = set(pids)
    deadline = time.monotonic() + wait
    while todo:
        for pid in list(todo):
            try:
                if os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue  # still running (or not yet a zombie)
            except ChildProcessError:
                pass  # not our child, or already collected
            todo.discard(pid)
        if not todo or time.monotonic() > deadline:
            return
        time.sleep(0.01)
