"""Leases kept by the Raft leader (sans-IO): who is declared dead, when."""

from __future__ import annotations

from onesh.kernel.liveness import LEASE_RENEWALS, RENEW_EVERY, VOTER_GRACE, Leases, renew_period

LEASE = LEASE_RENEWALS * RENEW_EVERY
ME = (100, 1.0)  # (pid, started) of a runtime's run


def members(**alive: bool) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for name, up in alive.items():
        out[name] = {"alive": up, "pid": ME[0], "started": ME[1], "raft": f"{name}:1" if name.startswith("v") else None}
    return out


def test_a_member_that_stops_renewing_is_dead_after_its_lease() -> None:
    ms = members(v1=True, m1=True, m2=True)
    leases = Leases()
    leases.take_over(ms, 0.0)
    t = 0.0
    while t < 10:
        t += RENEW_EVERY
        assert leases.renew("m1", ms["m1"], ME, 0.5, t)
        dead = leases.verdict(ms, "v1", t)
        if t < LEASE:
            assert dead == []
    assert leases.verdict(ms, "v1", t) == ["m2"]  # m2 never renewed
    # ... and no earlier than a whole lease after the last renewal
    ms["m2"]["alive"] = False  # (declared dead: committed by the leader)
    leases2 = Leases()
    leases2.take_over(members(v1=True), 20.0)
    leases2.renew("m1", ms["m1"], ME, 0.5, 20.0)
    assert leases2.verdict(ms, "v1", 20.0 + LEASE - 0.01) == []
    assert leases2.verdict(ms, "v1", 20.0 + LEASE + 1e-9) == ["m1"]


def test_a_new_leader_gives_everyone_a_whole_lease() -> None:
    ms = members(v1=True, m1=True)
    leases = Leases()
    leases.take_over(ms, 100.0)
    assert leases.verdict(ms, "v1", 100.0 + LEASE - 0.01) == []
    assert leases.verdict(ms, "v1", 100.0 + LEASE + 1e-9) == ["m1"]


def test_voters_go_by_their_raft_connection() -> None:
    ms = members(v1=True, v2=True, v3=True)
    leases = Leases()
    leases.take_over(ms, 0.0)
    leases.voters_seen({"v2": True, "v3": False}, 1.0)
    assert leases.verdict(ms, "v1", 1.0 + VOTER_GRACE - 0.01) == []
    assert leases.verdict(ms, "v1", 1.0 + VOTER_GRACE + 1e-9) == ["v3"]
    leases.voters_seen({"v2": True, "v3": True}, 1.1)  # back within the grace: nothing happened
    assert leases.verdict(ms, "v1", 5.0) == []


def test_the_dead_and_strangers_must_join_again() -> None:
    ms = members(v1=True, m1=False)
    leases = Leases()
    assert not leases.renew("m1", ms["m1"], ME, 0.1, 1.0)  # declared dead
    assert not leases.renew("mx", None, ME, 0.1, 1.0)  # unknown
    ms["m1"]["alive"] = True
    assert not leases.renew("m1", ms["m1"], (101, 2.0), 0.1, 1.0)  # a new run under the old name
    assert leases.renew("m1", ms["m1"], ME, 0.1, 1.0)


def test_the_leader_shows_lease_age_and_load() -> None:
    ms = members(v1=True, m1=True)
    leases = Leases()
    leases.take_over(ms, 0.0)
    leases.renew("m1", ms["m1"], ME, 0.25, 1.0)
    view = {k: dict(v) for k, v in ms.items()}
    leases.overlay(view, 1.5)
    assert view["m1"]["lease_age"] == 0.5 and view["m1"]["load"] == 0.25


def test_a_leader_that_was_not_running_declares_nobody_dead_for_it() -> None:
    ms = members(v1=True, v2=True, m1=True)
    leases = Leases()
    leases.take_over(ms, 0.0)
    leases.voters_seen({"v2": False}, 0.0)
    leases.paused(5.0)  # a 5 s stall of the leader's loop
    assert leases.verdict(ms, "v1", 5.0) == []
    assert leases.verdict(ms, "v1", 5.0 + LEASE + 1e-9) == ["m1", "v2"]


def test_large_clusters_renew_less_often() -> None:
    assert renew_period(3) == RENEW_EVERY
    assert renew_period(200) == RENEW_EVERY
    assert renew_period(1000) > RENEW_EVERY


def test_a_runtime_back_after_its_death_gets_a_whole_lease() -> None:
    """(It used to be declared dead again at once, by its old lease: a
    restarted runtime rejoined forever.)"""
    ms = members(v1=True, m1=True)
    leases = Leases()
    leases.take_over(ms, 0.0)
    assert leases.verdict(ms, "v1", LEASE + 1) == ["m1"]
    ms["m1"]["alive"] = False  # committed
    assert leases.verdict(ms, "v1", LEASE + 2) == []
    ms["m1"] = {"alive": True, "pid": 5, "started": 9.0, "raft": None}  # it joins again, a new run
    assert leases.verdict(ms, "v1", LEASE + 3) == []
    assert leases.renew("m1", ms["m1"], (5, 9.0), 0.0, LEASE + 3.1)
    assert leases.verdict(ms, "v1", LEASE + 3.2) == []
