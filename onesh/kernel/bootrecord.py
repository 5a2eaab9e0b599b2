"""The boot record: what a new runtime (or a client) needs to find the cluster.

Any runtime serves it as the name server method `boot.record`.  It carries
the cluster id, the voters (name, Raft host:port, RPC endpoint), the init
manifest (version and text) and the server public key.  A record coming off
the wire is checked field by field before anything uses it: it is data from
the network, even if Curve authenticated its sender.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from onesh.kernel.manifest import parse_manifest


class BootRecordError(Exception):
    pass


def build_boot_record(snapshot: Mapping[str, Any], manifest_text: str, cluster_id: str,
                      server_public_key: str) -> dict[str, Any]:
    members = snapshot.get("members", {})
    voters = [{"name": n, "raft": m.get("raft"), "endpoint": m.get("endpoint"), "lease": m.get("lease")}
              for n, m in sorted(members.items()) if m.get("raft")]
    version = parse_manifest(manifest_text).version if manifest_text else 0
    return {"cluster_id": cluster_id, "voters": voters, "manifest_version": version,
            "manifest": manifest_text, "server_public_key": server_public_key}


def check_boot_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a received boot record; raise BootRecordError saying what is wrong."""
    if not isinstance(record.get("cluster_id"), str):
        raise BootRecordError("boot record: cluster_id missing")
    voters = record.get("voters")
    if not isinstance(voters, list):
        raise BootRecordError("boot record: voters must be a list")
    for v in voters:
        if not (isinstance(v, dict) and isinstance(v.get("name"), str)
                and isinstance(v.get("raft"), str) and isinstance(v.get("endpoint"), str)
                and isinstance(v.get("lease"), str | None)):
            raise BootRecordError(f"boot record: malformed voter entry {v!r}")
    manifest = record.get("manifest", "")
    if not isinstance(manifest, str):
        raise BootRecordError("boot record: manifest must be text")
    if not isinstance(record.get("manifest_version", 0), int):
        raise BootRecordError("boot record: manifest_version must be an integer")
    return dict(record)
