"""`onesh runtime`, `onesh cluster up|status|down`, `onesh bootstrap`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from typing import Any

from onesh.errors import OneshError
from onesh.tables import format_table


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"onesh {self.prog.split()[-1]}: {message}\n")
        raise SystemExit(2)


def _kv(text: str, what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        if "=" not in item:
            raise OneshError(f"{what}: expected k=v, got {item!r}", status=2)
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def runtime_main(argv: list[str]) -> int:
    p = _Parser(prog="onesh runtime", description="Run a onesh runtime daemon (one per device).")
    p.add_argument("--name", required=True, help="runtime name, unique in the cluster")
    p.add_argument("--listen", default="tcp://127.0.0.1:0", help="RPC endpoint to bind (tcp://HOST:PORT)")
    p.add_argument("--data-dir", required=True, help="where this runtime keeps its journal and logs")
    p.add_argument("--secret", required=True, help="cluster secret file (mode 0600)")
    p.add_argument("--raft", help="HOST:PORT of this runtime's Raft node (voters only)")
    p.add_argument("--voters", default="", help="comma-separated HOST:PORT of all Raft voters")
    p.add_argument("--join", default="", help="comma-separated name-server endpoints (non-voters)")
    p.add_argument("--tags", default="", help="k=v,... used by placement constraints")
    p.add_argument("--device", action="append", default=[], help="local device, e.g. sensor:1=sim:sine")
    p.add_argument("--manifest", help="init manifest (TOML) file; voters only")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    from onesh.kernel.manifest import DEFAULT_MANIFEST, parse_manifest
    from onesh.runtime.daemon import Runtime, RuntimeConfig

    devices: dict[str, str] = {}
    for d in a.device:
        if "=" not in d:
            raise OneshError(f"--device: expected KIND:N=DRIVER, got {d!r}", status=2)
        k, v = d.split("=", 1)
        devices[k] = v
    manifest = DEFAULT_MANIFEST
    if a.manifest:
        with open(a.manifest) as f:
            manifest = f.read()
        parse_manifest(manifest, a.manifest)
    if a.raft and a.raft not in a.voters.split(","):
        raise OneshError("--raft must be one of --voters", status=2)
    cfg = RuntimeConfig(name=a.name, listen=a.listen, data_dir=a.data_dir, secret_path=a.secret,
                        raft=a.raft, voters=[v for v in a.voters.split(",") if v],
                        join=[j for j in a.join.split(",") if j], tags=_kv(a.tags, "--tags"),
                        devices=devices, manifest_text=manifest)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format=f"%(asctime)s {a.name} %(name)s %(levelname)s %(message)s")
    logging.getLogger("pysyncobj").setLevel(logging.WARNING)
    return asyncio.run(Runtime(cfg).run())


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


def cluster_main(argv: list[str]) -> int:
    from onesh.runtime.client import ClusterClient, default_cluster_dir
    from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster

    p = _Parser(prog="onesh cluster", description="Manage a local onesh cluster on this machine.")
    sub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    up = sub.add_parser("up", help="start a local cluster and return")
    up.add_argument("--nodes", type=int, default=None,
                    help="runtimes (3 for a new cluster; more adds members to an existing one)")
    up.add_argument("--voters", type=int, default=3, help="Raft voters (3 by default, up to 5)")
    up.add_argument("--sensors", type=int, default=2, help="simulated sensors /dev/sensor/N")
    up.add_argument("--data-dir", default=None)
    up.add_argument("--listen", default=None, metavar="ADDR",
                    help="address the runtimes listen on, one that devices can reach "
                         "(default: loopback, or what the cluster used before)")
    st = sub.add_parser("status", help="members, leader, kernel-agent placement, liveness")
    st.add_argument("--json", action="store_true")
    st.add_argument("--data-dir", default=None)
    down = sub.add_parser("down", help="stop the local cluster (data is kept)")
    down.add_argument("--data-dir", default=None)
    a = p.parse_args(argv)
    directory = a.data_dir or default_cluster_dir()
    if a.action == "up":
        if a.listen is not None:
            _check_listen(a.listen)
        t0 = time.monotonic()
        info = start_cluster(directory, nodes=a.nodes, voters=a.voters, sensors=a.sensors, listen=a.listen)
        kept = sorted(set(info.runtimes) - set(info.started))
        running = len(info.runtimes) - len(info.failed)
        print(f"cluster up: {running} runtimes in {time.monotonic() - t0:.1f}s"
              + (f" (started {', '.join(info.started)}; {', '.join(kept)} kept running)" if kept else ""))
        for name, why in sorted(info.failed.items()):
            sys.stderr.write(f"onesh cluster: runtime {name} exited during start-up: {why}\n")
        print(f"boot record: {', '.join(info.boot)}")
        print(f"secret: {info.secret}")
        print(f"data: {directory}")
        return 1 if info.failed else 0
    info = ClusterInfo.load(directory)
    if a.action == "status":
        snap = ClusterClient(info.boot, info.secret).status()
        if a.json:
            print(json.dumps(snap, indent=2, sort_keys=True))
        else:
            print(format_status(snap))
        return 0
    stopped = stop_cluster(info)
    print(f"stopped {len(stopped)} runtime(s)" + (f": {', '.join(stopped)}" if stopped else ""))
    return 0


def main(argv: list[str], subcommand: str) -> int:
    try:
        if subcommand == "runtime":
            return runtime_main(argv)
        if subcommand == "cluster":
            return cluster_main(argv)
        from onesh.runtime.bootstrap.command import main as bootstrap_main

        return bootstrap_main(argv)
    except OneshError as e:
        sys.stderr.write(f"onesh {subcommand}: {e.message}\n")
        return e.status
    except SystemExit as e:
        return int(e.code or 0) if isinstance(e.code, int) else 2
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        import os

        if os.environ.get("ONESH_DEBUG"):
            raise
        sys.stderr.write(f"onesh {subcommand}: internal error: {type(e).__name__}: {e} "
                         "(set ONESH_DEBUG=1 for details)\n")
        return 70
