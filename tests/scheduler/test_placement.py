"""Stage placement (the scheduler's pure core): locality, pins, load."""

from __future__ import annotations

import pytest

from onesh.kernel.scheduler import PlacementError, RuntimeFacts, StageNeeds, place_stages


def facts(**extra: dict[str, object]) -> dict[str, RuntimeFacts]:
    base = {
        "r1": RuntimeFacts("r1", True, {"role": "edge"}, commands=frozenset({"sort", "awk"})),
        "r2": RuntimeFacts("r2", True, {}, commands=frozenset({"sort"})),
        "r3": RuntimeFacts("r3", True, {"role": "edge", "gpu": "1"}, commands=frozenset()),
    }
    for name, kw in extra.items():
        for k, v in kw.items():
            setattr(base[name], k, v)
    return base


def test_device_stage_runs_on_its_runtime_and_neighbours_follow() -> None:
    st = [StageNeeds("cat /dev/sensor/1", devices=[("/dev/sensor/1", "r2")]), StageNeeds("grep x")]
    placed = place_stages(st, facts(), home="r1")
    assert [p[0] for p in placed] == ["r2", "r2"]
    assert "device on r2" in placed[0][1] and "next to its input" in placed[1][1]


def test_pins_by_node_and_tag() -> None:
    st = [StageNeeds("cat", pin_node="r1"), StageNeeds("cat", pin_tag=("gpu", "1")), StageNeeds("cat", pin_node="r2")]
    assert [p[0] for p in place_stages(st, facts(), home="r2")] == ["r1", "r3", "r2"]


def test_external_command_only_where_it_exists() -> None:
    st = [StageNeeds("cat /dev/sensor/1", devices=[("/dev/sensor/1", "r3")]), StageNeeds("awk", command="awk")]
    placed = place_stages(st, facts(), home="r2")
    assert placed[1][0] == "r1"


def test_unconstrained_pipeline_goes_home() -> None:
    st = [StageNeeds("cat"), StageNeeds("sort", command="sort")]
    assert [p[0] for p in place_stages(st, facts(), home="r2")] == ["r2", "r2"]


def test_errors_name_the_problem() -> None:
    with pytest.raises(PlacementError, match="r2 is down"):
        place_stages([StageNeeds("cat", devices=[("/dev/sensor/1", "r2")])], facts(r2={"alive": False}), "r1")
    with pytest.raises(PlacementError, match="command not found on any live runtime"):
        place_stages([StageNeeds("nosuch", command="nosuch")], facts(), "r1")
    with pytest.raises(PlacementError, match="no runtime named"):
        place_stages([StageNeeds("cat", pin_node="r9")], facts(), "r1")
    with pytest.raises(PlacementError, match="no live runtime with that tag"):
        place_stages([StageNeeds("cat", pin_tag=("zone", "mars"))], facts(), "r1")


def test_file_locality_prefers_home_replica() -> None:
    st = [StageNeeds("cat f", files=[("/f", ["r2", "r3"])])]
    assert place_stages(st, facts(), home="r3")[0][0] == "r3"
    assert place_stages(st, facts(r2={"stages": 5}), home="r1")[0][0] == "r3"


class LaggingScheduler:
    """The shell's side of `scheduler.place`, answered by place_stages with
    the facts of a scheduler whose view of r2 lags the shell's: r2 down
    for the first `lag` placements, up after."""

    def __init__(self, lag: int) -> None:
        self.lag, self.calls = lag, 0
        self.snap = {"assign": {"scheduler#0": "r1"}, "raft": {"has_quorum": True},
                     "members": {n: {"alive": True, "endpoint": f"tcp://{n}"} for n in ("r1", "r2", "r3")}}

    async def status(self) -> dict[str, object]:
        return self.snap

    async def call(self, endpoint: str, method: str, body: dict[str, object], timeout: float) -> dict[str, object]:
        assert (endpoint, method) == ("tcp://r1", "scheduler.place")
        self.calls += 1
        stages = [StageNeeds.from_wire(d) for d in body["stages"]]  # type: ignore[attr-defined]
        try:
            placed = place_stages(stages, facts(r2={"alive": self.calls > self.lag}), str(body["home"]))
        except PlacementError as e:
            return {"error": str(e), "down": e.down} if e.down else {"error": str(e)}
        return {"placement": [list(p) for p in placed]}


@pytest.mark.parametrize("lag", [0, 3])
def test_the_shell_asks_again_while_the_schedulers_view_of_a_runtime_lags_its_own(lag: int) -> None:
    """`onesh: @r2: runtime r2 is down` right after r2 came back (the
    scheduler ran on a voter that had not applied it yet) was a job
    refused for nothing."""
    import asyncio

    from onesh.engine.distributed import _place_agreed

    sc = LaggingScheduler(lag)
    body = {"stages": [StageNeeds("seq", pin_node="r2").to_wire()], "home": "r1"}
    reply, _ = asyncio.run(_place_agreed(sc, sc.snap, body))  # type: ignore[arg-type]
    assert reply["placement"] == [["r2", "pinned with @r2"]] and sc.calls == lag + 1


def test_a_runtime_down_in_both_views_is_reported_at_once() -> None:
    import asyncio

    from onesh.engine.distributed import _place_agreed

    sc = LaggingScheduler(lag=100)
    sc.snap["members"]["r2"]["alive"] = False  # type: ignore[index]
    body = {"stages": [StageNeeds("seq", pin_node="r2").to_wire()], "home": "r1"}
    reply, _ = asyncio.run(_place_agreed(sc, sc.snap, body))  # type: ignore[arg-type]
    assert reply == {"error": "@r2: runtime r2 is down", "down": "r2"} and sc.calls == 1
