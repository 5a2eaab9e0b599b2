"""Name server, boot record, spawn requests, agent-state slot and the
client API, on one small real cluster (1 voter + 1 non-voting runtime)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq.asyncio
from cluster_helpers import Cluster

from onesh.kernel.bootrecord import BootRecordError, check_boot_record
from onesh.kernel.manifest import KERNEL_AGENTS
from onesh.kernel.nameserver import NoBootRecord, lookup_boot_record
from onesh.net.keys import ClusterKeys, load_secret
from onesh.runtime.localcluster import ClusterError, free_ports, start_cluster, stop_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    info = start_cluster(str(tmp_path_factory.mktemp("svc")), nodes=2, voters=1, sensors=1)
    try:
        c = Cluster(info)
        c.wait_for(lambda s: set(s["assign"]) == set(KERNEL_AGENTS)
                   and all(m.get("alive") for m in s["members"].values()) and len(s["members"]) == 2)
        yield c
    finally:
        stop_cluster(info)


def _lookup(c: Cluster, endpoints: list[str]) -> dict:  # type: ignore[type-arg]
    keys = ClusterKeys.from_secret(load_secret(c.info.secret))

    async def go() -> dict:  # type: ignore[type-arg]
        ctx = zmq.asyncio.Context()
        try:
            return await lookup_boot_record(ctx, endpoints, keys, timeout=0.5)
        finally:
            ctx.destroy(linger=0)

    return asyncio.run(go())


def test_name_server_tries_each_address(cluster: Cluster) -> None:
    dead = f"tcp://127.0.0.1:{free_ports(1)[0]}"
    record = _lookup(cluster, [dead, cluster.info.boot[-1]])
    assert [v["name"] for v in record["voters"]] == ["r1"]
    assert record["manifest_version"] == 1 and "[agents.scheduler]" in record["manifest"]
    assert record["cluster_id"] == ClusterKeys.from_secret(load_secret(cluster.info.secret)).cluster_id
    # every runtime, voter or not, is a name server and gives the same record
    assert _lookup(cluster, [cluster.info.boot[0]])["voters"] == record["voters"]
    with pytest.raises(NoBootRecord, match=r"127\.0\.0\.1"):
        _lookup(cluster, [dead])


@pytest.mark.parametrize("record, msg", [
    ({}, "cluster_id"),
    ({"cluster_id": "x", "voters": "r1"}, "voters must be a list"),
    ({"cluster_id": "x", "voters": [{"name": "r1"}]}, "malformed voter"),
    ({"cluster_id": "x", "voters": [], "manifest": 3}, "manifest must be text"),
])
def test_bad_boot_records_are_refused(record: dict, msg: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(BootRecordError, match=msg):
        check_boot_record(record)


def test_spawn_runs_a_real_child_on_the_chosen_runtime(cluster: Cluster, tmp_path: Path) -> None:
    rows = cluster.client.nodes()
    member = next(r for r in rows if not r["raft"])  # the non-voting runtime
    out = cluster.client.spawn(member["endpoint"], ["sh", "-c", f"echo $$ > {tmp_path}/pid; echo hi; exit 3"])
    assert out["runtime"] == member["name"] and out["status"] == 3 and out["stdout"] == "hi\n"
    assert int((tmp_path / "pid").read_text()) == out["pid"]
    killed = cluster.client.spawn(member["endpoint"], ["sh", "-c", "kill -9 $$"])
    assert killed["status"] == 137
    with pytest.raises(ClusterError, match="No such file"):
        cluster.client.spawn(member["endpoint"], ["/nonexistent/prog"])
    with pytest.raises(ClusterError, match="argv must be"):
        cluster.call(member["endpoint"], "agent.spawn", {"argv": "ls"})


def test_nodes_rows_show_devices_and_agents(cluster: Cluster) -> None:
    rows = cluster.client.nodes()
    assert [r["name"] for r in rows] == ["r1", "r2"] and all(r["alive"] for r in rows)
    assert sorted(a for r in rows for a in r["agents"]) == sorted(KERNEL_AGENTS)
    assert any(r["devices"] for r in rows)


def test_agent_state_slot_is_replicated(cluster: Cluster) -> None:
    voter = next(r for r in cluster.client.nodes() if r["raft"])
    cluster.call(voter["endpoint"], "raft.submit",
                 {"method": "put_agent_state", "args": ["scheduler", {"queue": [1, 2]}]})
    member = next(r for r in cluster.client.nodes() if not r["raft"])
    # the non-voter reads it through a voter
    snap = cluster.call(member["endpoint"], "cluster.status")
    assert snap["agent_state"]["scheduler"] == {"queue": [1, 2]}
