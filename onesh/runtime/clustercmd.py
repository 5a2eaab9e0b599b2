"""`onesh cluster up|down|drain|status|use|list`: local clusters and contexts.

`up` starts (or completes) a cluster and makes it the current one, which
`onesh`, `onesh -c` and scripts then use (onesh.contexts); `use` picks
another (`use embedded`: the user's embedded cluster); `list` shows them
all; `down` stops one, and a stopped current cluster is no longer current;
`drain RUNTIME` stops one runtime in order (its stages that can move go on
elsewhere first).  Without --data-dir, `status`, `down` and `drain` act on
the current cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from onesh import contexts
from onesh.errors import OneshError
from onesh.progress import progress
from onesh.runtime.commands import SubcommandParser
from onesh.tables import format_table

DRAIN_WAIT = 15.0  # seconds `cluster drain` waits for the runtime to be gone (its stages get 5 s to move)


def format_status(snap: dict[str, Any]) -> str:
    hosted: dict[str, list[str]] = {}
    for slot, host in sorted(snap["assign"].items()):
        hosted.setdefault(host, []).append(slot)
    from onesh.builtins.cluster import lease_age

    rows = [["NAME", "ENDPOINT", "ROLE", "ALIVE", "LEASE", "LOAD", "TAGS", "DEVICES", "KERNEL AGENTS"]]
    leader = snap.get("leader") or ""
    for name, m in sorted(snap["members"].items()):
        role = "voter" if m.get("raft") else "member"
        if m.get("raft") and m.get("raft") == leader:
            role = "leader"
        tags = ",".join(f"{k}={v}" for k, v in sorted(m.get("tags", {}).items())) or "-"
        devices = ",".join(sorted(m.get("devices", {}))) or "-"
        rows.append([name, m.get("endpoint", "?"), role, "yes" if m.get("alive") else "NO", lease_age(m),
                     f"{m.get('load', 0):.2f}", tags, devices, ",".join(hosted.get(name, [])) or "-"])
    unplaced = sorted(set(_slots(snap)) - set(snap["assign"]))
    out = format_table(rows)
    out += f"\n\nleader: {leader or 'none'}   epoch: {snap.get('epoch')}   answered by: {snap.get('answered_by', '?')}"
    if unplaced:
        out += f"\nunplaced: {', '.join(unplaced)}"
    from onesh.kernel.statusread import leader_problem

    problem = leader_problem(snap)
    if problem:
        out += f"\n{problem}: this view may be out of date"
    return out


def _slots(snap: dict[str, Any]) -> list[str]:
    text = snap.get("manifest")
    if not isinstance(text, str):
        return list(snap["assign"])
    from onesh.kernel.manifest import parse_manifest

    return list(parse_manifest(text).slots())


def _check_listen(addr: str) -> None:
    """An address this machine has, that others can dial: a runtime
    advertises the address it listens on, so a wildcard will not do."""
    import ipaddress
    import socket

    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        raise OneshError(f"--listen: {addr!r} is not an IP address", status=2) from None
    if ip.is_unspecified:
        raise OneshError(f"--listen: {addr} is a wildcard; give the address devices will reach "
                         "(one of this machine's, e.g. 192.168.1.10)", status=2)
    with socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET) as s:
        try:
            s.bind((addr, 0))
        except OSError as e:
            raise OneshError(f"--listen: cannot listen on {addr}: {e.strerror}", status=2) from None


def _parser() -> SubcommandParser:
    p = SubcommandParser(prog="onesh cluster", description="Start, stop and choose onesh clusters.")
    sub = p.add_subparsers(dest="action", required=True, parser_class=SubcommandParser)
    up = sub.add_parser("up", help="start a local cluster (or its missing runtimes); it becomes the current one")
    up.add_argument("--nodes", type=int, default=None,
                    help="runtimes (3 for a new cluster; more adds members to an existing one)")
    up.add_argument("--voters", type=int, default=3, help="Raft voters (3 by default, up to 5)")
    up.add_argument("--sensors", type=int, default=2, help="simulated sensors /dev/sensor/N")
    up.add_argument("--data-dir", default=None, help="where it lives (default: the user data dir's clusters/default)")
    up.add_argument("--name", default=None, help="the name `cluster use` knows it by (default: the directory's)")
    up.add_argument("--listen", default=None, metavar="ADDR",
                    help="address the runtimes listen on, one that devices can reach "
                         "(default: loopback, or what the cluster used before)")
    st = sub.add_parser("status", help="members, leader, kernel-agent placement, liveness")
    st.add_argument("--json", action="store_true")
    st.add_argument("--data-dir", default=None)
    down = sub.add_parser("down", help="stop a cluster (its data is kept)")
    down.add_argument("--data-dir", default=None)
    drain = sub.add_parser("drain", help="stop one runtime in order: its movable stages go on elsewhere first")
    drain.add_argument("runtime", metavar="RUNTIME")
    drain.add_argument("--data-dir", default=None)
    use = sub.add_parser("use", help="make a cluster the current one (`use embedded`: the embedded cluster)")
    use.add_argument("cluster", metavar="NAME|DIR")
    sub.add_parser("list", help="the clusters onesh knows, and which is current")
    return p


def _chosen(data_dir: str | None) -> str:
    """The cluster a command acts on: --data-dir, else the current one,
    else the default directory."""
    if data_dir:
        return os.path.abspath(data_dir)
    return contexts.current() or contexts.default_dir()


def cluster_main(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    if a.action == "up":
        return _up(a)
    if a.action == "use":
        return _use(a.cluster)
    if a.action == "list":
        return _list()
    from onesh.runtime.localcluster import ClusterInfo, stop_cluster

    directory = _chosen(a.data_dir)
    info = ClusterInfo.load(directory)
    if a.action == "status":
        from onesh.runtime.client import ClusterClient

        snap = ClusterClient(info.boot, info.secret).status()
        print(json.dumps(snap, indent=2, sort_keys=True) if a.json else format_status(snap))
        return 0
    if a.action == "drain":
        return _drain(info, a.runtime)
    stopped = stop_cluster(info)
    print(f"stopped {len(stopped)} runtime(s)" + (f": {', '.join(stopped)}" if stopped else ""))
    if contexts.current() == directory:
        contexts.set_current(None)
        print(f"{contexts.name_of(directory)} was the current cluster: onesh now uses the embedded cluster "
              "(`onesh cluster up` brings it back)")
    return 0


def _drain(info: Any, name: str, wait: float = DRAIN_WAIT) -> int:
    """Ask runtime `name` to leave (runtime.leave: what SIGTERM does), and
    wait until it is gone.  Its stages that can move are moved by their
    shells (they say so); the rest end with their jobs, as at any stop."""
    from onesh.net.rpc import RpcError
    from onesh.runtime.client import ClusterClient

    client = ClusterClient(info.boot, info.secret)
    try:
        member = client.status()["members"].get(name)
    except (RpcError, OSError) as e:
        print(f"onesh cluster: drain: the cluster does not answer: {e}", file=sys.stderr)
        return 1
    if member is None:
        print(f"onesh cluster: drain: {name}: no such runtime", file=sys.stderr)
        return 2
    if not member.get("alive"):
        print(f"onesh cluster: drain: {name} is not running", file=sys.stderr)
        return 1
    try:
        pid = int(client.call_endpoint(str(member["endpoint"]), "runtime.info")["pid"])
        client.call_endpoint(str(member["endpoint"]), "runtime.leave")
    except (RpcError, OSError, KeyError, ValueError) as e:
        print(f"onesh cluster: drain: {name} did not answer: {e}", file=sys.stderr)
        return 1
    local = info.pids.get(name) == pid  # (a runtime of this machine: we see it exit)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if local and name not in info.alive_pids():
            break
        if not local:
            with contextlib.suppress(RpcError, OSError):
                if not client.status()["members"].get(name, {}).get("alive"):
                    break
        time.sleep(0.1)
    else:
        print(f"onesh cluster: drain: {name} is still running after {wait:g}s", file=sys.stderr)
        return 1
    print(f"{name} left the cluster (`onesh cluster up` starts it again)")
    return 0


def _up(a: Any) -> int:
    from onesh.runtime.localcluster import start_cluster

    if a.listen is not None:
        _check_listen(a.listen)
    directory = os.path.abspath(a.data_dir or contexts.default_dir())
    if directory == os.path.abspath(contexts.embedded_dir()):
        raise OneshError("the embedded cluster starts by itself when a shell needs one; "
                         "give `cluster up` another --data-dir", status=2)
    t0 = time.monotonic()
    with contextlib.ExitStack() as stack:
        shown = [0]
        advance: list[Callable[[float], None]] = []

        def on_progress(alive: int, total: int) -> None:
            if not advance:
                advance.append(stack.enter_context(progress(f"cluster up: {directory}", total, "runtimes")))
            advance[0](max(0, alive - shown[0]))
            shown[0] = max(shown[0], alive)

        info = start_cluster(directory, nodes=a.nodes, voters=a.voters, sensors=a.sensors, listen=a.listen,
                             progress=on_progress)
    kept = sorted(set(info.runtimes) - set(info.started))
    running = len(info.runtimes) - len(info.failed)
    print(f"cluster up: {running} runtimes in {time.monotonic() - t0:.1f}s"
          + (f" (started {', '.join(info.started)}; {', '.join(kept)} kept running)" if kept else ""))
    for name, why in sorted(info.failed.items()):
        sys.stderr.write(f"onesh cluster: runtime {name} exited during start-up: {why}\n")
    name = a.name or contexts.name_of(directory)
    if name == contexts.EMBEDDED:
        name = os.path.basename(directory) + "-cluster"
    contexts.record(name, directory)
    contexts.set_current(directory)
    print(f"boot record: {', '.join(info.boot)}")
    print(f"secret: {info.secret}")
    print(f"data: {directory}")
    print(f"current cluster: {name} (onesh, onesh -c and scripts use it; `onesh cluster use` picks another)")
    return 1 if info.failed else 0


def _use(which: str) -> int:
    if which == contexts.EMBEDDED:
        contexts.set_current(None)
        print("current cluster: embedded (started on first need, stops by itself when idle)")
        return 0
    directory = contexts.lookup(which)
    if directory is None:
        names = ", ".join(sorted(contexts.known()))
        raise OneshError(f"no cluster named or in {which!r} (known: {names}; a directory must hold a "
                         "cluster started by `onesh cluster up`)", status=1)
    if not any(os.path.abspath(d) == os.path.abspath(directory) for d in contexts.known().values()):
        contexts.record(contexts.name_of(directory), directory)
    contexts.set_current(directory)
    state = "running" if contexts.running(directory) else "not running: `onesh cluster up --data-dir " + directory + "`"
    print(f"current cluster: {contexts.name_of(directory)} ({state})")
    return 0


def _list() -> int:
    from onesh.runtime.localcluster import ClusterError, ClusterInfo

    current = contexts.current() or contexts.embedded_dir()
    rows = [["", "NAME", "RUNTIMES", "STATE", "DIRECTORY"]]
    for name, directory in sorted(contexts.known().items()):
        try:
            info = ClusterInfo.load(directory)
            alive, total = len(info.alive_pids()), len(info.runtimes) or len(info.pids)
            state = f"running {alive}/{total}" if alive else "stopped"
            count = str(total)
        except ClusterError:
            state, count = "not started", "-"
        marker = "*" if os.path.abspath(directory) == os.path.abspath(current) else ""
        rows.append([marker, name, count, state, directory])
    print(format_table(rows))
    return 0
