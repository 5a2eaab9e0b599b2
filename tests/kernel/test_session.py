"""The session agent's table (sans-IO): sessions, jobs, leases, owners."""

from __future__ import annotations

from onesh.kernel.session import SessionTable

INFO = {"user": "ann", "host": "lab", "pid": 42, "tty": "/dev/pts/3"}


def test_jobs_belong_to_sessions() -> None:
    t = SessionTable(lease=60.0, keep_done=10.0)
    t.job_start("lab:42", INFO, "lab:42:1", "cat /dev/sensor/1 | grep x", [(0, "r2"), (1, "r3")], now=100.0)
    t.job_start("lab:42", INFO, "lab:42:2", "sort @r1", [(0, "r1")], now=101.0)
    assert t.owner("lab:42:1") == "ann@lab"
    assert t.owner("nope:1:1") == ""
    [s] = t.listing(now=102.0)
    assert (s["session"], s["user"], s["tty"], s["jobs"], s["running"]) == ("lab:42", "ann", "/dev/pts/3", 2, 2)
    assert s["commands"] == ["cat /dev/sensor/1 | grep x", "sort @r1"]
    t.job_end("lab:42:2", [0], now=103.0)
    [s] = t.listing(now=104.0)
    assert (s["jobs"], s["running"], s["commands"]) == (2, 1, ["cat /dev/sensor/1 | grep x"])


def test_finished_jobs_are_kept_a_while_and_idle_sessions_expire() -> None:
    t = SessionTable(lease=60.0, keep_done=10.0)
    t.job_start("lab:42", INFO, "lab:42:1", "true @r2", [(0, "r2")], now=0.0)
    t.job_end("lab:42:1", [0], now=1.0)
    t.expire(now=5.0)
    assert "lab:42:1" in t.jobs
    t.expire(now=12.0)
    assert "lab:42:1" not in t.jobs and "lab:42" in t.sessions  # the session's lease runs on
    t.expire(now=62.0)
    assert t.sessions == {}


def test_a_session_with_a_running_job_outlives_its_lease() -> None:
    t = SessionTable(lease=60.0)
    t.job_start("lab:42", INFO, "lab:42:1", "cat /dev/sensor/1", [(0, "r1")], now=0.0)
    t.expire(now=1000.0)
    assert "lab:42" in t.sessions and t.owner("lab:42:1") == "ann@lab"
