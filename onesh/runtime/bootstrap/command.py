"""The `bootstrap` command line, for `onesh bootstrap` and the builtin.

    bootstrap [user@]host[:port] [--name N] [--tags k=v,...] [--device SPEC]...
              [--python PATH] [--identity KEY] [--accept-new] [--listen ADDR] [--dial-out]
    bootstrap --remove [user@]host[:port]

Both front ends parse with `parser()` and call `run()`; they differ only
in where the cluster, the streams and the yes/no prompt come from.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from onesh.errors import OneshError
from onesh.runtime.bootstrap.ssh import Confirm
from onesh.runtime.bootstrap.steps import ClusterRef, Options


class UsageError(OneshError):
    status = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}\n{self.format_usage().rstrip()}")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bootstrap", description="Install onesh on a device over SSH and start a runtime there "
                "that joins this cluster (again: upgrade in place).")
    p.add_argument("target", metavar="[user@]host[:port]", help="an ~/.ssh/config Host, a name or an address")
    p.add_argument("--name", help="runtime name (default: the host's first label)")
    p.add_argument("--tags", default="", help="k=v,... for placement (`cmd @k=v`)")
    p.add_argument("--device", action="append", default=[], metavar="SPEC",
                   help="a device of the runtime, e.g. sensor:9=sim:sine (repeatable)")
    p.add_argument("--python", help="the device's Python (default: python3.13 ... python3, the first >= 3.11)")
    p.add_argument("--identity", metavar="KEY", help="private key file (default: ~/.ssh/config, ~/.ssh/id_*)")
    p.add_argument("--accept-new", action="store_true", help="record an unknown host key without asking")
    p.add_argument("--listen", metavar="ADDR", help="address the device's runtime listens on "
                   "(default: the one SSH reached)")
    p.add_argument("--dial-out", action="store_true",
                   help="the cluster cannot connect to the device (NAT, a firewall): its runtime keeps "
                        "outbound connections to the cluster instead")
    p.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the runtime to join")
    p.add_argument("--remove", action="store_true", help="stop the runtime, leave the cluster, delete ~/.onesh")
    p.add_argument("--cluster", metavar="DIR", help="the cluster to join (default: $ONESH_CLUSTER, else the "
                   "`onesh cluster up` one)")
    return p


@dataclass
class Frontend:
    out: TextIO  # results
    err: TextIO  # progress and messages
    confirm: Confirm
    cluster: Callable[[str | None], ClusterRef]


def _tags(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in filter(None, text.split(",")):
        k, eq, v = item.partition("=")
        if not eq or not k.strip():
            raise UsageError(f"--tags: expected k=v, got {item!r}")
        out[k.strip()] = v.strip()
    return out


def run(argv: list[str], ui: Frontend) -> int:
    """Parse and run; errors are raised as OneshError (a one-line message)."""
    import platformdirs

    from onesh.aio import run_sync
    from onesh.runtime.bootstrap import steps
    from onesh.runtime.bootstrap.progress import Progress, make_progress
    from onesh.runtime.bootstrap.target import parse_target, resolve

    if any(x in ("-h", "--help") for x in argv):
        ui.out.write(parser().format_help())
        return 0
    a = parser().parse_args(argv)
    for spec in a.device:
        if "=" not in spec:
            raise UsageError(f"--device: expected KIND:N=DRIVER, got {spec!r}")
    opts = Options(name=a.name, tags=_tags(a.tags), devices=list(a.device), python=a.python,
                   accept_new=a.accept_new, listen=a.listen, wait=a.wait, dial_out=a.dial_out)
    dev = resolve(parse_target(a.target), a.identity)

    def notify(text: str) -> None:
        ui.err.write(f"{dev.alias}: {text}\n")
        ui.err.flush()

    def display() -> Progress:  # made once the host key is settled (the prompt comes first)
        return make_progress(ui.err, dev.alias)

    if a.remove:
        try:
            cluster: ClusterRef | None = ui.cluster(a.cluster)
        except OneshError as e:
            notify(f"no cluster to leave ({e.message}); removing from the device only")
            cluster = None
        name = run_sync(steps.remove(dev, opts, cluster, display, ui.confirm, notify))
        ui.out.write(f"removed runtime {name} from {dev.alias} (~/.onesh deleted)\n")
        return 0
    ref = ui.cluster(a.cluster)
    cache = os.path.join(platformdirs.user_cache_dir("onesh"), "wheels")
    result = run_sync(steps.bootstrap(dev, opts, ref, display, ui.confirm, notify, cache))
    ui.out.write(f"{result.name}: runtime on {dev.alias} joined the cluster at {result.endpoint} "
                 f"({result.seconds:.1f}s)\n")
    return 0


def cluster_from_config(explicit: str | None) -> ClusterRef:
    """--cluster DIR | tcp://HOST:PORT,... (with $ONESH_SECRET), else
    $ONESH_CLUSTER, else the `onesh cluster up` default."""
    from onesh.runtime.client import default_cluster_dir
    from onesh.runtime.localcluster import ClusterError, ClusterInfo

    where = explicit or os.environ.get("ONESH_CLUSTER") or default_cluster_dir()
    if where.startswith("tcp://"):
        secret = os.environ.get("ONESH_SECRET")
        if not secret:
            raise ClusterError(f"{where}: set ONESH_SECRET to the cluster's secret file")
        return ClusterRef(where.split(","), secret)
    info = ClusterInfo.load(where)
    return ClusterRef(info.boot, info.secret)


def ask_on(stream_in: TextIO, stream_out: TextIO) -> Confirm:
    """A yes/no prompt on a terminal (None without one: a script cannot
    vouch for a host key; --accept-new can)."""
    def confirm(question: str) -> bool | None:
        try:
            if not (os.isatty(stream_in.fileno()) and os.isatty(stream_out.fileno())):
                return None
        except (OSError, ValueError, AttributeError):
            return None
        while True:
            stream_out.write(question)
            stream_out.flush()
            answer = stream_in.readline().strip().lower()
            if answer in ("yes", "no", ""):
                return answer == "yes"
            question = "Please type 'yes' or 'no': "
    return confirm


def main(argv: list[str]) -> int:
    """`onesh bootstrap ...` (errors reach the caller as OneshError)."""
    return run(argv, Frontend(sys.stdout, sys.stderr, ask_on(sys.stdin, sys.stderr), cluster_from_config))
