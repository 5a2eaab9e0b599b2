"""Cluster builtins: nodes, uptime, plan, ps --cluster, sessions, migrate,
and `kill` of a cluster job by its id."""

from __future__ import annotations

import time
from typing import Any

from onesh.builtins.api import IO
from onesh.errors import OneshError
from onesh.tables import format_table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from onesh.runtime.client import ClusterClient


def cluster_client(io: IO, name: str) -> ClusterClient | None:
    get = io.shell.cluster
    if get is None:
        io.error(name, "no cluster available in this shell")
        return None
    try:
        return get()
    except OneshError as e:
        io.error(name, e.message)
        return None


def _status(io: IO, name: str) -> dict[str, Any] | None:
    client = cluster_client(io, name)
    if client is None:
        return None
    try:
        return dict(client.status())
    except OneshError as e:
        io.error(name, e.message)
        return None


def nodes(argv: list[str], io: IO) -> int:
    snap = _status(io, "nodes")
    if snap is None:
        return 1
    hosted: dict[str, list[str]] = {}
    for slot, host in sorted(snap["assign"].items()):
        hosted.setdefault(host, []).append(slot)
    rows = [["NAME", "ADDRESS", "TAGS", "LOAD", "AGENTS", "ALIVE", "LEASE"]]
    for name, m in sorted(snap["members"].items()):
        tags = ",".join(f"{k}={v}" for k, v in sorted(m.get("tags", {}).items())) or "-"
        rows.append([name, m.get("endpoint", "?"), tags, f"{m.get('load', 0):.2f}",
                     ",".join(hosted.get(name, [])) or "-", "yes" if m.get("alive") else "no", lease_age(m)])
    _print_table(io, rows)
    return _stale(io, "nodes", snap)


def lease_age(member: dict[str, Any]) -> str:
    """Seconds since the leader last heard from a runtime ("-" when the
    view is not the leader's: only it keeps leases)."""
    age = member.get("lease_age")
    return f"{age:.1f}s" if isinstance(age, int | float) else "-"


def _stale(io: IO, name: str, snap: dict[str, Any]) -> int:
    """Say so when the view came from a cluster without a leader (1), else 0."""
    from onesh.kernel.statusread import leader_problem

    problem = leader_problem(snap)
    if problem is None:
        return 0
    io.error(name, f"{problem}; this view may be out of date")
    return 1


def uptime(argv: list[str], io: IO) -> int:
    snap = _status(io, "uptime")
    if snap is None:
        return 1
    members = snap["members"]
    alive = [m for m in members.values() if m.get("alive")]
    oldest = min((m.get("started", time.time()) for m in members.values()), default=time.time())
    up = int(time.time() - oldest)
    h, rem = divmod(up, 3600)
    mins, secs = divmod(rem, 60)
    loads = [m.get("load", 0.0) for m in alive]
    avg = sum(loads) / len(loads) if loads else 0.0
    io.out(f"up {h}:{mins:02d}:{secs:02d}, {len(alive)}/{len(members)} runtimes alive, "
           f"{len(snap['assign'])} kernel agents placed, leader {snap.get('leader') or 'none'}, "
           f"load average {avg:.2f}\n")
    return _stale(io, "uptime", snap)


def plan(argv: list[str], io: IO) -> int:
    if len(argv) < 2:
        io.error("plan", "usage: plan COMMAND-LINE")
        return 2
    if io.shell.cluster is None:
        io.error("plan", "no cluster available in this shell")
        return 1
    try:
        io.out(io.shell.plan(" ".join(argv[1:])))
    except OneshError as e:
        io.error("plan", e.message)
        return e.status or 1
    return 0


def agent_call(client: ClusterClient, agent: str, method: str, body: dict[str, Any],
               timeout: float = 4.0) -> dict[str, Any]:
    """One request to the runtime hosting kernel agent `agent`; OneshError
    when the cluster or the agent does not answer."""
    from onesh.kernel.agents import agent_host

    snap = client.status()
    host = agent_host(snap, agent)
    member = snap["members"].get(host) if host else None
    if member is None or not member.get("alive"):
        raise OneshError(f"the {agent} agent is not placed on a live runtime")
    try:
        return dict(client.call_endpoint(member["endpoint"], method, body, timeout))
    except OneshError as e:
        raise OneshError(f"{agent} agent on {host}: {e.message}") from None


def cluster_job_ids(client: ClusterClient, timeout: float = 1.0) -> list[str]:
    """The ids of the jobs running on the cluster (`ps --cluster`'s JOB)."""
    rows = agent_call(client, "session", "session.ps", {}, timeout).get("rows", [])
    return sorted({str(r["job"]) for r in rows if r.get("job") and not r.get("unreachable")})


def pin_targets(client: ClusterClient) -> list[str]:
    """What may follow `@` on a command line: runtime names and their
    `tag=value` pairs."""
    members = client.status().get("members", {})
    names = set(members)
    for m in members.values():
        names.update(f"{k}={v}" for k, v in m.get("tags", {}).items())
    return sorted(names)


def _agent_call(io: IO, name: str, agent: str, method: str, body: dict[str, Any],
                timeout: float = 4.0) -> dict[str, Any] | None:
    """agent_call for a builtin: None (and a message) on failure."""
    client = cluster_client(io, name)
    if client is None:
        return None
    try:
        return agent_call(client, agent, method, body, timeout)
    except OneshError as e:
        io.error(name, e.message)
        return None


def ps(argv: list[str], io: IO) -> int:
    """`ps --cluster`: every stage of every job on every runtime, with the
    session (user@host) that owns it, from the session agent."""
    shell = io.shell
    if argv[1:] not in (["--cluster"], ["-C"]):  # (plain ps is the system's)
        return shell.run_argv(argv, skip_functions=True, skip_builtins=True)
    reply = _agent_call(io, "ps", "session", "session.ps", {})
    if reply is None:
        return 1
    rows = [["JOB", "SEG", "RUNTIME", "PID", "STATE", "IN", "OUT", "USER", "COMMAND"]]
    for r in sorted(reply.get("rows", []), key=lambda r: (str(r.get("job", "")), int(r.get("segment", 0)))):
        if r.get("unreachable"):
            rows.append(["-", "-", str(r.get("runtime")), "-", "unreachable", "-", "-", "-", "-"])
            continue
        state = r["state"] if r.get("statuses") is None else f"exit:{','.join(map(str, r['statuses']))}"
        pids = ",".join(str(p) for p in r.get("pids", [])) or str(r.get("host_pid"))
        where = "<-".join([str(r.get("runtime")), *reversed(r.get("moved_from") or [])])  # (r4<-r2: moved)
        rows.append([r["job"], str(r["segment"]), where, pids, state, _size(r.get("bytes_in", 0)),
                     _size(r.get("bytes_out", 0)), r.get("owner") or "-", " | ".join(r.get("stages", []))])
    return _print_table(io, rows)


def sessions(argv: list[str], io: IO) -> int:
    """The shells using the cluster, from the session agent."""
    reply = _agent_call(io, "sessions", "session", "session.sessions", {})
    if reply is None:
        return 1
    rows = [["SESSION", "USER", "TTY", "SINCE", "JOBS", "RUNNING", "COMMANDS"]]
    for s in reply.get("sessions", []):
        since = time.strftime("%H:%M:%S", time.localtime(float(s.get("since", 0))))
        rows.append([str(s.get("session")), f"{s.get('user')}@{s.get('host')}", str(s.get("tty") or "-"), since,
                     str(s.get("jobs", 0)), str(s.get("running", 0)), "; ".join(s.get("commands", [])) or "-"])
    return _print_table(io, rows)


def kill_cluster_job(io: IO, job: str, sig: int) -> int:
    """`kill -SIG host:pid:n`: signal a distributed job's stages wherever
    they run (the job ids `ps --cluster` shows), from any shell."""
    reply = _agent_call(io, "kill", "session", "session.signal", {"job": job, "sig": sig})
    if reply is None:
        return 1
    if not reply.get("signalled"):
        io.error("kill", f"{job}: no such running cluster job")
        return 1
    return 0


MIGRATE_WAIT = 10.0  # seconds `migrate` waits to see the segment run on its target


def migrate(argv: list[str], io: IO) -> int:
    """`migrate JOB:SEG RUNTIME`: move a running segment of a cluster job
    (ids as `ps --cluster` shows them) to another runtime.  The shell
    running the job moves it (engine/distributed.Job.move); this waits
    until it runs there."""
    from onesh.builtins.jobs import CLUSTER_JOB

    args = argv[1:]
    if len(args) != 2:
        io.err("migrate: usage: migrate JOB:SEG RUNTIME\n")
        return 2
    job, sep, seg = args[0].rpartition(":")
    target = args[1]
    if not sep or not seg.isdigit() or not CLUSTER_JOB.match(job):
        io.error("migrate", f"{args[0]}: not JOB:SEG (the JOB and SEG columns of `ps --cluster`)")
        return 2
    client = cluster_client(io, "migrate")
    if client is None:
        return 1
    try:
        members = client.status().get("members", {})
        if target not in members:
            raise OneshError(f"{target}: no such runtime (see `nodes`)")
        running = _running_on(client, job, int(seg))
        if not running:
            raise OneshError(f"{args[0]}: no such running segment (see `ps --cluster`)")
        if target in running:
            raise OneshError(f"{args[0]} already runs on {target}")
        client.call_endpoint(members[running[0]]["endpoint"], "stage.migrate",
                             {"job": job, "segment": int(seg), "target": target}, 4.0)
        deadline = time.monotonic() + MIGRATE_WAIT
        while time.monotonic() < deadline:
            if target in _running_on(client, job, int(seg)):
                return 0
            time.sleep(0.1)
        raise OneshError(f"{args[0]} did not show up running on {target} within {MIGRATE_WAIT:g}s "
                         "(its job may have ended, or its shell said why on its stderr)")
    except OneshError as e:
        io.error("migrate", e.message)
        return 1


def _running_on(client: ClusterClient, job: str, seg: int) -> list[str]:
    """The runtimes where segment `seg` of `job` runs (one, or none)."""
    rows = agent_call(client, "session", "session.ps", {}, 2.0).get("rows", [])
    return [str(r["runtime"]) for r in rows
            if r.get("job") == job and r.get("segment") == seg and r.get("state") == "running"]


def _print_table(io: IO, rows: list[list[str]]) -> int:
    io.out(format_table(rows) + "\n")
    return 0


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "K", "M", "G"):
        if size < 1024 or unit == "G":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return str(n)
