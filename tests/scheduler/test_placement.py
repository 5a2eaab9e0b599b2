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
