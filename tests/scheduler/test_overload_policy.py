"""When a runtime counts as overloaded, which segment it offers to move,
and where a shell moves it (runtime/cpuload.py, engine/restarts.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from onesh.engine.planner import PlannedStage
from onesh.engine.restarts import roomiest_runtime
from onesh.kernel.liveness import Leases
from onesh.kernel.scheduler import StageNeeds
from onesh.runtime.cpuload import Overload, cpu_seconds


def feed(o: Overload, rates: dict[str, float], seconds: int, movable: set[str], t0: float = 0.0) -> list[str]:
    """Feed `seconds` one-second samples of segments using `rates` CPUs;
    → what was offered to move, second by second."""
    totals = dict.fromkeys(rates, 0.0)
    offered = []
    for t in range(seconds + 1):
        got = o.sample(t0 + t, dict(totals), set(movable))
        if got is not None:
            offered.append(f"{t}:{got}")
        totals = {k: v + rates[k] for k, v in totals.items()}
    return offered


def test_only_an_overload_that_lasts_moves_a_segment_and_the_busiest_movable_one() -> None:
    o = Overload(cpus=1, after=5)
    # 1.5 CPUs on a 1-CPU runtime: offered after 5 s of it, then again 5 s later
    assert feed(o, {"a": 1.0, "b": 0.5}, 12, {"a", "b"}) == ["6:a", "12:a"]
    assert 1.4 < o.used < 1.6
    o = Overload(cpus=1, after=5)
    assert feed(o, {"a": 1.0, "b": 0.5}, 12, {"b"}) == ["6:b", "12:b"]  # (a cannot move)
    o = Overload(cpus=1, after=5)
    assert feed(o, {"a": 1.0, "b": 0.5}, 12, set()) == []
    o = Overload(cpus=2, after=5)
    assert feed(o, {"a": 1.0, "b": 0.5}, 12, {"a", "b"}) == []  # (room enough)
    o = Overload(cpus=1, after=0)
    assert feed(o, {"a": 3.0}, 12, {"a"}) == []  # (0: never)


def test_a_pause_in_the_overload_starts_its_clock_again() -> None:
    o = Overload(cpus=1, after=5)
    assert feed(o, {"a": 2.0}, 4, {"a"}) == []
    o.idle()  # (nothing ran for a while)
    assert feed(o, {"a": 2.0}, 4, {"a"}, t0=100) == []
    assert o.since is not None


def test_the_cpu_time_of_a_process_group_is_measured() -> None:
    burn = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 1.5: pass"],
                            process_group=0)
    try:
        time.sleep(1.2)
        used = cpu_seconds([burn.pid])[burn.pid]
    finally:
        burn.wait()
    assert 0.5 < used < 1.6, used
    assert cpu_seconds([os.getpid()]) .get(os.getpid(), 0.0) >= 0.0


def test_a_segment_goes_where_there_is_most_room_for_it_and_nowhere_without() -> None:
    members = {
        "r1": {"alive": True, "cpus": 2.0, "stage_cpu": 1.5},
        "r2": {"alive": True, "cpus": 1.0, "stage_cpu": 2.0},  # (the overloaded one)
        "r3": {"alive": True, "cpus": 4.0, "stage_cpu": 1.0, "tags": {"zone": "b"}},
        "r4": {"alive": False, "cpus": 8.0, "stage_cpu": 0.0},
        "r5": {"alive": True},  # (an older runtime: says nothing of its CPUs)
    }
    snap = {"members": members}
    stage = [PlannedStage("f", ["f"], "exec", StageNeeds("f"))]
    assert roomiest_runtime(snap, {"r2"}, stage, 1.0) == "r3"
    pinned = [PlannedStage("f", ["f"], "exec", StageNeeds("f", pin_tag=("zone", "a")))]
    assert roomiest_runtime(snap, {"r2"}, pinned, 1.0) is None
    assert roomiest_runtime(snap, {"r2", "r3"}, stage, 1.0) is None  # (r1 would be past 90% of its 2)


def test_a_lease_carries_what_the_stages_use_to_the_leaders_view() -> None:
    leases = Leases()
    member = {"alive": True, "pid": 1, "started": 2.0}
    assert leases.renew("r2", member, (1, 2.0), 0.5, 10.0, stages=[1.25, 2])
    assert not leases.renew("r3", None, (1, 2.0), 0.5, 10.0)
    assert leases.renew("r4", member, (1, 2.0), 0.5, 10.0, stages=["x", 2])  # (ignored, not refused)
    view = {"r2": {}, "r4": {}}
    leases.overlay(view, 11.0)
    assert view["r2"]["stage_cpu"] == 1.25 and view["r2"]["cpus"] == 2.0
    assert "cpus" not in view["r4"]
