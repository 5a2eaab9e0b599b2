"""Init manifest validation and the deterministic placement function."""

from __future__ import annotations

import pytest

from onesh.kernel.manifest import DEFAULT_MANIFEST, KERNEL_AGENTS, ManifestError, parse_manifest
from onesh.kernel.membership import place


def test_default_manifest_has_the_five_kernel_agents() -> None:
    m = parse_manifest(DEFAULT_MANIFEST)
    assert sorted(m.slots()) == sorted(KERNEL_AGENTS)


@pytest.mark.parametrize(("text", "msg"), [
    ("version = 1\n[agents.pubsub]\n", "kernel agents missing"),
    (DEFAULT_MANIFEST + "[agents.bogus]\n", "unknown kernel agent"),
    (DEFAULT_MANIFEST + "[services.s]\nreplicas = 2\n", "`command' (a list of strings) is required"),
    (DEFAULT_MANIFEST + "[services.s]\ncommand = 'x'\n", "must be a list of strings"),
    (DEFAULT_MANIFEST.replace("replicas = 1", "replicas = 0", 1), "from 1 to 16"),
    ("version = [", "manifest"),
    (DEFAULT_MANIFEST + "color = 'red'\n", "unknown keys"),
])
def test_bad_manifests_are_explained(text: str, msg: str) -> None:
    with pytest.raises(ManifestError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        parse_manifest(text)


def test_services_with_replicas_and_tags() -> None:
    m = parse_manifest(DEFAULT_MANIFEST + "[services.web]\ncommand = ['true']\nreplicas = 2\ntags = {zone = 'b'}\n")
    assert {"web#0", "web#1"} <= set(m.slots())


def members(*names: str, dead: tuple[str, ...] = (), tags: dict[str, dict[str, str]] | None = None) -> dict:  # type: ignore[type-arg]
    return {n: {"alive": n not in dead, "tags": (tags or {}).get(n, {})} for n in names}


def test_placement_spreads_and_is_stable() -> None:
    slots = parse_manifest(DEFAULT_MANIFEST).slots()
    first = place(slots, members("a", "b", "c"), {})
    assert set(first) == set(KERNEL_AGENTS)
    assert max(list(first.values()).count(n) for n in "abc") == 2
    assert place(slots, members("a", "b", "c"), first) == first  # nothing moves without a reason
    # a dead runtime's agents move; the others stay
    dead_host = first["scheduler"]
    moved = place(slots, members("a", "b", "c", dead=(dead_host,)), first)
    assert dead_host not in moved.values()
    assert all(moved[s] == h for s, h in first.items() if h != dead_host)


def test_placement_honours_tags_and_replicas() -> None:
    text = DEFAULT_MANIFEST + "[services.gpu]\ncommand = ['true']\nreplicas = 2\ntags = {gpu = 'yes'}\n"
    slots = parse_manifest(text).slots()
    ms = members("a", "b", "c", tags={"b": {"gpu": "yes"}, "c": {"gpu": "yes"}})
    got = place(slots, ms, {})
    assert {got["gpu#0"], got["gpu#1"]} == {"b", "c"}
    only_a = place(slots, members("a"), {})
    assert "gpu#0" not in only_a  # no eligible runtime: stays unplaced, reported by status
