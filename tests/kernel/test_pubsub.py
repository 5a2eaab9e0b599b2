"""The pubsub topic directory (sans-IO): joins, links, leases, views."""

from __future__ import annotations

import pytest

from onesh.kernel.pubsub import TopicDirectory


def test_a_subscriber_sees_publishers_and_a_publisher_sees_its_links() -> None:
    d = TopicDirectory(lease=5.0)
    d.join("/pipes/x", "sub", "s1", "r1", now=0.0)
    d.join("/pipes/x", "sub", "s2", "r2", now=0.0)
    d.join("/pipes/x", "pub", "p1", "r3", now=0.0)
    assert d.view("/pipes/x", "sub", "s1")["pubs"] == {"p1": False}
    assert d.view("/pipes/x", "pub", "p1")["subs"] == ["s1", "s2"]
    d.link("/pipes/x", "p1", "s1", "tcp://127.0.0.1:5000")
    view = d.view("/pipes/x", "pub", "p1")
    assert view["links"] == {"s1": "tcp://127.0.0.1:5000"}
    assert view["known"] is True
    d.finish("/pipes/x", "p1")
    assert d.view("/pipes/x", "sub", "s2")["pubs"] == {"p1": True}


def test_every_change_bumps_the_version_and_a_renewal_does_not() -> None:
    d = TopicDirectory(lease=5.0)
    d.join("/pipes/x", "sub", "s1", "r1", now=0.0)
    v = d.version
    d.join("/pipes/x", "sub", "s1", "r1", now=1.0)  # a watch renewing its lease
    assert d.version == v
    d.join("/pipes/x", "pub", "p1", "r1", now=1.0)
    assert d.version == v + 1
    d.link("/pipes/x", "p1", "s1", "tcp://h:1")
    d.link("/pipes/x", "p1", "s1", "tcp://h:1")  # the same link again: no change
    assert d.version == v + 2


def test_leases_expire_and_take_their_links_with_them() -> None:
    d = TopicDirectory(lease=5.0)
    d.join("/pipes/x", "sub", "s1", "r1", now=0.0)
    d.join("/pipes/x", "pub", "p1", "r2", now=0.0)
    d.link("/pipes/x", "p1", "s1", "tcp://h:1")
    d.join("/pipes/x", "pub", "p1", "r2", now=4.0)  # the publisher keeps watching
    assert d.expire(now=6.0) is True  # the subscriber crashed
    view = d.view("/pipes/x", "pub", "p1")
    assert view["links"] == {} and view["subs"] == []
    assert d.expire(now=6.5) is False
    assert d.expire(now=10.0) is True
    assert d.listing() == []  # an empty topic is forgotten


def test_leave_removes_an_end_and_its_links() -> None:
    d = TopicDirectory()
    d.join("/pipes/a", "sub", "s1", "r1", now=0.0)
    d.join("/pipes/a", "pub", "p1", "r1", now=0.0)
    d.join("/pipes/b", "sub", "s9", "r3", now=0.0)
    d.link("/pipes/a", "p1", "s1", "tcp://h:1")
    d.leave("/pipes/a", "sub", "s1")
    assert d.view("/pipes/a", "pub", "p1")["links"] == {}
    assert d.listing() == [
        {"topic": "/pipes/a", "publishers": 1, "subscribers": 0, "runtimes": ["r1"]},
        {"topic": "/pipes/b", "publishers": 0, "subscribers": 1, "runtimes": ["r3"]},
    ]
    d.leave("/pipes/nope", "pub", "p1")  # harmless


def test_a_link_needs_both_ends_registered() -> None:
    d = TopicDirectory()
    d.join("/pipes/x", "sub", "s1", "r1", now=0.0)
    with pytest.raises(KeyError):
        d.link("/pipes/x", "p-unknown", "s1", "tcp://h:1")


def test_a_subscriber_learns_each_publishers_host_key() -> None:
    # (a reader on the writer's host links by Unix socket, see samehost)
    d = TopicDirectory(lease=5.0)
    d.join("/pipes/x", "sub", "s1", "r1", now=0.0, host="boot:0:42")
    d.join("/pipes/x", "pub", "p1", "r1", now=0.0, host="boot:0:42")
    d.join("/pipes/x", "pub", "p2", "r2", now=0.0)  # a host that cannot tell
    view = d.view("/pipes/x", "sub", "s1")
    assert view["pubs"] == {"p1": False, "p2": False}
    assert view["hosts"] == {"p1": "boot:0:42"}
