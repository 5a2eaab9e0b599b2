"""Reverse connectivity for real: a device the cluster cannot reach.

The device's network namespace drops every inbound connection it did not
open itself (an nftables rule inside the namespace; established and
related traffic passes, and its SSH port stays open for the bootstrap), as
NAT or a home router would.  A plain bootstrap joins (joining is outbound)
but is refused, clearly, because the cluster cannot call its runtime; with
--dial-out the runtime keeps outbound connections to a relay and serves
pipeline stages, its pipes dialled from the device."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from controller import Controller
from netdevice import NetDevice, NoFirewall, dropped_inbound, firewall_inbound
from test_bootstrap_device import EDGE, check_edge_log, headline_pipeline, nothing_installed

from onesh.runtime.client import _call
from onesh.runtime.localcluster import ClusterInfo

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def firewalled(device: NetDevice) -> Iterator[NetDevice]:
    try:
        firewall_inbound(device)
    except NoFirewall as e:
        pytest.skip(f"cannot firewall the device's namespace: {e}")
    yield device  # (the rules go with the namespace)


def _stage_rows(cluster: ClusterInfo, runtime: str) -> list[dict[str, Any]]:
    """The segments a runtime ran (stage.list), asked at its endpoint (a
    dial-out runtime's is its relay's)."""
    snap = asyncio.run(_call(cluster.boot, cluster.secret, "cluster.status"))
    endpoint = snap["members"][runtime]["endpoint"]
    return list(asyncio.run(_call([endpoint], cluster.secret, "stage.list", {}, 5.0))["rows"])


def test_a_device_behind_a_firewall_joins_by_dialling_out(controller: Controller, firewalled: NetDevice,
                                                          clean_device: NetDevice, cluster: ClusterInfo,
                                                          tmp_path: Path) -> None:
    device = clean_device
    # Without --dial-out: the runtime joins (it can reach the cluster), but
    # the cluster cannot call it back: refused, in words, and stopped.
    before = dropped_inbound(device)
    r = controller.onesh("bootstrap", "edge1", "--accept-new", *EDGE)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "edge1: step 6/6 (join cluster) failed: edge1 joined, but the cluster cannot reach its runtime" \
        in r.stderr, r.stderr
    assert "bootstrap with --dial-out" in r.stderr and "Traceback" not in r.stderr
    assert dropped_inbound(device) > before  # the firewall is what stopped it
    nodes = controller.onesh("-c", "nodes").stdout
    assert not any(line.startswith("edge1 ") for line in nodes.splitlines()), nodes

    # With --dial-out it joins, and it is a member like any other.
    r = controller.onesh("bootstrap", "edge1", "--dial-out", *EDGE)
    assert r.returncode == 0, r.stderr
    assert "(dialling out)" in r.stderr
    assert f"joined the cluster at tcp://{device.host_addr}:" in r.stdout  # its relay, on the cluster's side
    r = controller.onesh("-c", "nodes")
    row = next(line for line in r.stdout.splitlines() if line.startswith("edge1 "))
    assert "kind=sensor,zone=edge" in row and row.split()[5] == "yes", r.stdout

    # The headline pipeline: the sensor's stage on the device.  (stdin is
    # /dev/null, not a terminal: the shell feeds it to the first stage, a
    # pipe the device dials, too.)
    dropped = dropped_inbound(device)
    peers = headline_pipeline(controller, device, tmp_path, timeout=30)
    assert device.host_addr in peers, peers  # TCP (+ TLS) to the cluster's side, dialled by the device
    lines = check_edge_log(controller)

    # The other way: a stage on the cluster feeds one on the device (which
    # dials it), which feeds one on the cluster (which it dials).
    line = "cat /data/edge.log @r1 | grep seq @edge1 | wc -l @r2"
    plan = controller.onesh("-c", f"plan '{line}'").stdout
    assert "on r1: pinned" in plan and "on edge1: pinned" in plan and "on r2: pinned" in plan, plan
    r = controller.onesh("-c", line)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.split()[0]) == len(lines)
    assert dropped_inbound(device) == dropped, "the cluster tried to connect to the device"
    # Both pipes into the device (the shell's, then r1's) were turned round
    # over the default transport between hosts: TLS, dialled by the device.
    rows = {r["stages"][0].strip(): r for r in _stage_rows(cluster, "edge1")}
    for first in ("cat /dev/sensor/9 @edge1", "grep seq @edge1"):
        assert rows[first]["stdin_transport"] == "tls", rows

    # Again: an upgrade in place (the name is its own, though its endpoint is a relay's).
    r = controller.onesh("bootstrap", "edge1", "--dial-out", *EDGE)
    assert r.returncode == 0, r.stderr
    assert "upgraded in place" in r.stderr

    r = controller.onesh("bootstrap", "--remove", "edge1")
    assert r.returncode == 0, r.stderr
    assert nothing_installed(device)
    assert "edge1" not in controller.onesh("-c", "nodes").stdout
