"""A write is acknowledged only when stored: a device dies during a burst
of namespace writes — the Raft leader's, the fs agent's host, the storage
agent's host — and every write that was acknowledged, before or after the
death, reads back whole.

Real runtimes; the death is `kill_device` (the daemon and every
process it started)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster, kill_device, running_cluster

from onesh.runtime.nsclient import NamespaceSync

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    yield from running_cluster(tmp_path / "c", nodes=3)


def _body(n: int) -> bytes:
    # Sizes vary so a torn or mixed-up file shows in the comparison.
    return (f"write {n} ".encode() * (1 + n % 97)) + b"\n"


@pytest.mark.parametrize("role", ["leader", "fs", "storage"])
def test_every_acknowledged_write_survives_a_death(cluster: Cluster, role: str) -> None:
    status = cluster.status()
    if role == "leader":
        victim = next(name for name, m in status["members"].items() if m["raft"] == status["leader"])
    else:
        victim = status["assign"][role]
    others = [name for name in cluster.info.runtimes if name != victim]
    # The writer never talks to the dying runtime: the client's own
    # death is not what this tests.
    boot = [cluster.info.runtimes[name].listen for name in others]

    acked: list[int] = []
    times: list[float] = []
    failed: list[tuple[int, str]] = []
    stop = threading.Event()

    def burst() -> None:
        with NamespaceSync(boot, cluster.info.secret) as ns:
            ns.mkdir("/home/burst", parents=True)
            n = 0
            while not stop.is_set():
                try:
                    ns.write_bytes(f"/home/burst/f{n}", _body(n))
                except Exception as e:  # noqa: BLE001 - an unacknowledged write may fail any way
                    failed.append((n, f"{type(e).__name__}: {e}"))
                    time.sleep(0.05)
                else:
                    acked.append(n)
                    times.append(time.monotonic())
                n += 1

    writer = threading.Thread(target=burst)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while len(acked) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(acked) >= 20, f"the burst did not start: {failed[-3:]}"
        before = len(acked)
        died = time.monotonic()
        kill_device(cluster.info.pids[victim])
        killed_at = len(acked) + len(failed)
        # The two left re-elect and go on taking writes.
        deadline = time.monotonic() + 30
        while len(acked) < before + 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        writer.join(60)
    assert not writer.is_alive()
    after = [n for n in acked if n >= killed_at]
    assert len(after) >= 20, f"no writes were acknowledged after {victim} died; last errors: {failed[-3:]}"

    with NamespaceSync(boot, cluster.info.secret) as ns:
        wrong = []
        for n in acked:
            try:
                data = ns.read_bytes(f"/home/burst/f{n}")
            except Exception as e:  # noqa: BLE001
                wrong.append(f"f{n}: {type(e).__name__}: {e}")
                continue
            if data != _body(n):
                wrong.append(f"f{n}: {len(data)} bytes, expected {len(_body(n))}")
    around = [t for t in times if t > died - 1.0]
    pause = max((b - a for a, b in itertools.pairwise(around)), default=float("nan"))
    print(f"{role} {victim} killed: {len(acked)} writes acknowledged ({len(after)} after the death), {len(failed)} refused; "
          f"the longest wait between two acknowledgements: {pause * 1000:.0f} ms")
    assert not wrong, f"{len(wrong)} of {len(acked)} acknowledged writes lost or wrong: {wrong[:5]}"
