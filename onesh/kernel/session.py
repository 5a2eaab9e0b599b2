"""The session kernel agent: shells, their distributed jobs, `ps` and
signals across runtimes.

Every shell that runs a distributed pipeline is a session (`host:pid`);
its jobs are registered when their segments have started and closed with
their statuses.  The agent answers, in one request each:

    session.job_start {session, user, host, pid, tty, job, cmdline, segments: [[seg, runtime]]}
    session.job_end   {job, statuses}
    session.sessions  → the shells with jobs here, and how many run
    session.ps        → every stage of every job on every live runtime
                        (asked in parallel), with the owning session
    session.signal    {job, sig} → signal a job's stages wherever they run
                        (`kill -INT host:pid:n` from any shell)

The table is soft state: a session's lease is renewed by its job
requests, finished jobs are kept for a while for `ps`, and after a
failover of this agent the table starts empty (running jobs still show in
`ps`, which asks the runtimes).  The runtimes' stage tables remain the
truth about processes; this agent joins them to the shells that own them.
"""

from __future__ import annotations

import asyncio
import signal
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onesh.kernel.agents import hosts, text_field
from onesh.net.rpc import HandlerError

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime

AGENT = "session"
LEASE = 600.0  # an idle shell is forgotten after this long
KEEP_DONE = 120.0  # seconds a finished job stays listed
MAX_JOBS = 4096


@dataclass
class SessionInfo:
    user: str
    host: str
    pid: int
    tty: str
    started: float
    lease: float


@dataclass
class JobRecord:
    session: str
    cmdline: str
    started: float
    segments: list[tuple[int, str]] = field(default_factory=list)  # (segment, runtime)
    statuses: list[int] | None = None
    ended: float = 0.0


class SessionTable:
    """Sessions and their jobs (sans-IO: the caller passes the time)."""

    def __init__(self, lease: float = LEASE, keep_done: float = KEEP_DONE) -> None:
        self.sessions: dict[str, SessionInfo] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.lease, self.keep_done = lease, keep_done

    def touch(self, sid: str, info: dict[str, Any], now: float) -> None:
        s = self.sessions.get(sid)
        if s is None:
            self.sessions[sid] = SessionInfo(str(info.get("user", "?")), str(info.get("host", "?")),
                                             int(info.get("pid", 0) or 0), str(info.get("tty", "")), now,
                                             now + self.lease)
        else:
            s.lease = now + self.lease

    def job_start(self, sid: str, info: dict[str, Any], job: str, cmdline: str,
                  segments: list[tuple[int, str]], now: float) -> None:
        self.touch(sid, info, now)
        self.jobs[job] = JobRecord(sid, cmdline, now, list(segments))
        if len(self.jobs) > MAX_JOBS:  # a flood of jobs: drop the oldest finished ones first
            for old in sorted(self.jobs, key=lambda j: (self.jobs[j].statuses is None, self.jobs[j].started)):
                if len(self.jobs) <= MAX_JOBS:
                    break
                del self.jobs[old]

    def job_end(self, job: str, statuses: list[int], now: float) -> None:
        rec = self.jobs.get(job)
        if rec is not None:
            rec.statuses, rec.ended = list(statuses), now
            s = self.sessions.get(rec.session)
            if s is not None:
                s.lease = now + self.lease

    def expire(self, now: float) -> None:
        for job in [j for j, r in self.jobs.items() if r.statuses is not None and now - r.ended > self.keep_done]:
            del self.jobs[job]
        live = {r.session for r in self.jobs.values() if r.statuses is None}
        for sid in [s for s, info in self.sessions.items() if info.lease < now and s not in live]:
            del self.sessions[sid]

    def owner(self, job: str) -> str:
        rec = self.jobs.get(job)
        if rec is None:
            return ""
        s = self.sessions.get(rec.session)
        return f"{s.user}@{s.host}" if s is not None else rec.session

    def listing(self, now: float) -> list[dict[str, Any]]:
        out = []
        for sid, s in sorted(self.sessions.items(), key=lambda kv: kv[1].started):
            mine = [r for r in self.jobs.values() if r.session == sid]
            out.append({"session": sid, "user": s.user, "host": s.host, "pid": s.pid, "tty": s.tty,
                        "since": s.started, "idle": max(0.0, now - max([s.started] + [r.started for r in mine])),
                        "jobs": len(mine), "running": sum(r.statuses is None for r in mine),
                        "commands": [r.cmdline for r in mine if r.statuses is None]})
        return out


class SessionAgent:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.table = SessionTable()

    async def handle(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        if not hosts(self.runtime, AGENT):
            raise HandlerError(f"session agent not hosted on {self.runtime.cfg.name}")
        now = time.time()
        t = self.table
        t.expire(now)
        if op == "job_start":
            segs = body.get("segments")
            if not isinstance(segs, list):
                raise HandlerError("session.job_start: segments must be a list")
            segments = [(int(s[0]), str(s[1])) for s in segs if isinstance(s, list) and len(s) == 2]
            t.job_start(text_field(body, "session", AGENT, 300), body, text_field(body, "job", AGENT, 300),
                        str(body.get("cmdline", ""))[:4096], segments, now)
            return {"ok": True}
        if op == "job_end":
            statuses = body.get("statuses")
            if not isinstance(statuses, list) or not all(isinstance(s, int) for s in statuses):
                raise HandlerError("session.job_end: statuses must be a list of integers")
            t.job_end(text_field(body, "job", AGENT, 300), statuses, now)
            return {"ok": True}
        if op == "sessions":
            return {"sessions": t.listing(now)}
        if op == "ps":
            return {"rows": await self.ps()}
        if op == "signal":
            return await self.signal(text_field(body, "job", AGENT, 300), body.get("sig", signal.SIGTERM))
        raise HandlerError(f"session: unknown operation {op!r}")

    async def _each_runtime(self, method: str, body: dict[str, Any],
                            only: set[str] | None = None) -> dict[str, dict[str, Any] | None]:
        """Ask every live runtime (or those in `only`) at once; None for no answer."""
        from onesh.net.rpc import RpcError, call_once

        snap = await self.runtime.snapshot()
        names = [n for n, m in sorted(snap["members"].items())
                 if m.get("alive") and (only is None or n in only)]

        async def ask(name: str) -> dict[str, Any] | None:
            try:
                return await call_once(self.runtime.ctx, snap["members"][name]["endpoint"], self.runtime.keys,
                                       method, body, 2.0)
            except RpcError:
                return None

        answers = await asyncio.gather(*(ask(n) for n in names))
        return dict(zip(names, answers, strict=True))

    async def ps(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for name, reply in (await self._each_runtime("stage.list", {})).items():
            if reply is None:
                rows.append({"runtime": name, "unreachable": True})
                continue
            for r in reply.get("rows", []):
                rows.append(dict(r, runtime=name, owner=self.table.owner(str(r.get("job")))))
        return rows

    async def signal(self, job: str, sig: Any) -> dict[str, Any]:
        if not isinstance(sig, int) or sig not in {s.value for s in signal.Signals}:
            raise HandlerError(f"session.signal: bad signal {sig!r}")
        rec = self.table.jobs.get(job)
        body = {"job": job, "sig": sig}
        if rec is None:
            # A job this table does not know (started before a failover) is
            # looked for on every runtime.
            answers = await self._each_runtime("stage.signal", body)
        else:
            # Downstream first, one runtime after the other: a consumer
            # signalled after its producer would read the producer's end
            # of input first and exit 0 (bash signals a pipeline's process
            # group at one instant: every stage ends by the signal).
            last: dict[str, int] = {}
            for seg, rt in rec.segments:
                last[rt] = max(seg, last.get(rt, -1))
            answers = {}
            for rt in sorted(last, key=lambda r: -last[r]):
                answers.update(await self._each_runtime("stage.signal", body, {rt}))
        sent = sum(int((a or {}).get("signalled", 0)) for a in answers.values())
        return {"signalled": sent, "runtimes": sorted(n for n, a in answers.items() if a and a.get("signalled"))}


def install(runtime: Runtime) -> None:
    runtime.handlers[AGENT] = SessionAgent(runtime).handle
