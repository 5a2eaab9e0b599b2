"""`onesh runtime`, and the dispatch of `onesh cluster ...` (runtime.clustercmd)
and `onesh bootstrap` (runtime.bootstrap)."""

from __future__ import annotations

import argparse
import logging
import sys

from onesh.errors import OneshError


class SubcommandParser(argparse.ArgumentParser):
    """argparse for `onesh SUBCOMMAND`: a usage error is one line and status 2."""

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
    # A runtime speaks CurveZMQ, and AES-GCM on its lease channel: never TLS.
    # asyncio imports ssl for the TLS it could offer, which maps OpenSSL
    # (about 5 MB) into every runtime on every device: keep it out.  (Its
    # children, stage hosts and the programs they run, are not affected.)
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]
    p = SubcommandParser(prog="onesh runtime", description="Run a onesh runtime daemon (one per device).")
    p.add_argument("--name", required=True, help="runtime name, unique in the cluster")
    p.add_argument("--listen", default="tcp://127.0.0.1:0", help="RPC endpoint to bind (tcp://HOST:PORT)")
    p.add_argument("--data-dir", required=True, help="where this runtime keeps its journal and logs")
    p.add_argument("--secret", required=True, help="cluster secret file (mode 0600)")
    p.add_argument("--raft", help="HOST:PORT of this runtime's Raft node (voters only)")
    p.add_argument("--voters", default="", help="comma-separated HOST:PORT of all Raft voters")
    p.add_argument("--join", default="", help="comma-separated name-server endpoints (non-voters)")
    p.add_argument("--dial-out", action="store_true",
                   help="the cluster cannot connect to this device (NAT, a firewall): keep outbound "
                        "connections to a cluster runtime that relays requests, and dial its pipes from here")
    p.add_argument("--tags", default="", help="k=v,... used by placement constraints")
    p.add_argument("--device", action="append", default=[], help="local device, e.g. sensor:1=sim:sine")
    p.add_argument("--manifest", help="init manifest (TOML) file; voters only")
    p.add_argument("--idle-stop", type=float, default=0.0, metavar="SECONDS",
                   help="stop the whole cluster after this long with no attached shell and no running "
                        "stage (the embedded cluster's runtimes get it)")
    p.add_argument("--cpus", type=float, default=0.0, metavar="N",
                   help="CPUs this device offers stages (default: all of its host's); its stages using more "
                        "than 90%% of them for --overload-after seconds is an overload")
    p.add_argument("--overload-after", type=float, default=30.0, metavar="SECONDS",
                   help="move a stage that can go on elsewhere off this runtime after this long overloaded "
                        "(default 30; 0: never)")
    p.add_argument("--verbose", action="store_true")
    a = p.parse_args(argv)
    if a.cpus < 0 or a.overload_after < 0:
        raise OneshError("--cpus and --overload-after cannot be negative", status=2)
    import asyncio  # (after ssl is kept out above)

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
    if a.dial_out and (a.raft or not a.join):
        raise OneshError("--dial-out is for a member that joins (--join), not a voter", status=2)
    if a.raft and a.raft not in a.voters.split(","):
        raise OneshError("--raft must be one of --voters", status=2)
    cfg = RuntimeConfig(name=a.name, listen=a.listen, data_dir=a.data_dir, secret_path=a.secret,
                        raft=a.raft, voters=[v for v in a.voters.split(",") if v],
                        join=[j for j in a.join.split(",") if j], tags=_kv(a.tags, "--tags"),
                        devices=devices, manifest_text=manifest, idle_stop=a.idle_stop,
                        dial_out=a.dial_out, cpus=a.cpus, overload_after=a.overload_after)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO,
                        format=f"%(asctime)s {a.name} %(name)s %(levelname)s %(message)s")
    logging.getLogger("pysyncobj").setLevel(logging.WARNING)
    return asyncio.run(Runtime(cfg).run())


def main(argv: list[str], subcommand: str) -> int:
    try:
        if subcommand == "runtime":
            return runtime_main(argv)
        if subcommand == "cluster":
            from onesh.runtime.clustercmd import cluster_main

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
