"""The job table: background and stopped pipelines, their processes and
statuses, and the `%n` job specs that `fg`, `bg`, `wait` and `kill` accept."""

from __future__ import annotations

import os

from onesh.record import Record, field


def status_of(wstatus: int) -> int:
    """waitpid status → shell status (128+N for a signal)."""
    if os.WIFSIGNALED(wstatus):
        return 128 + os.WTERMSIG(wstatus)
    if os.WIFSTOPPED(wstatus):
        return 128 + os.WSTOPSIG(wstatus)
    return os.WEXITSTATUS(wstatus)


class Job(Record):
    id: int
    pgid: int
    pids: list[int]
    command: str
    statuses: dict[int, int | None] = field(default_factory=dict)
    stopped: bool = False
    notified: bool = False
    pipefail: bool = False

    @property
    def done(self) -> bool:
        return all(s is not None for s in self.statuses.values())

    @property
    def status(self) -> int:
        """Exit status of the job: its last process, or pipefail's rule."""
        vals = [self.statuses.get(p) or 0 for p in self.pids]
        if self.pipefail:
            for v in reversed(vals):
                if v:
                    return v
            return 0
        return vals[-1] if vals else 0

    def state_text(self) -> str:
        if self.stopped and not self.done:
            return "Stopped"
        if not self.done:
            return "Running"
        st = self.status
        if st == 0:
            return "Done"
        name = _signal_name(st - 128) if st > 128 else None
        if name is not None:
            return name
        return f"Exit {st}"


def _signal_name(sig: int) -> str | None:
    """bash's word for a job killed by `sig` (`signal` imported on use)."""
    import signal

    names: dict[int, str] = {
        signal.SIGTERM: "Terminated", signal.SIGKILL: "Killed", signal.SIGINT: "Interrupt",
        signal.SIGHUP: "Hangup", signal.SIGQUIT: "Quit", signal.SIGABRT: "Aborted",
        signal.SIGSEGV: "Segmentation fault", signal.SIGPIPE: "Broken pipe",
    }
    return names.get(sig)


class JobTable:
    def __init__(self) -> None:
        self.jobs: dict[int, Job] = {}
        self.current: int | None = None
        self.previous: int | None = None
        # Statuses of background processes that finished before `wait` asked.
        self.finished: dict[int, int] = {}

    def add(self, pids: list[int], pgid: int, command: str, *, stopped: bool = False,
            pipefail: bool = False) -> Job:
        jid = max(self.jobs, default=0) + 1
        job = Job(jid, pgid, list(pids), command, {p: None for p in pids}, stopped, pipefail=pipefail)
        self.jobs[jid] = job
        self.previous, self.current = self.current, jid
        return job

    def remove(self, job: Job) -> None:
        self.jobs.pop(job.id, None)
        if self.current == job.id:
            self.current, self.previous = self.previous, None
        if self.current is None and self.jobs:
            self.current = max(self.jobs)
        for pid, st in job.statuses.items():
            if st is not None:
                self.finished[pid] = st

    def find(self, spec: str) -> Job | None:
        if spec in ("%", "%%", "%+"):
            return self.jobs.get(self.current) if self.current else None
        if spec == "%-":
            return self.jobs.get(self.previous) if self.previous else None
        if spec.startswith("%"):
            rest = spec[1:]
            if rest.isascii() and rest.isdigit():
                return self.jobs.get(int(rest))
            matches = [j for j in self.jobs.values()
                       if (rest.startswith("?") and rest[1:] in j.command) or j.command.startswith(rest)]
            return matches[0] if len(matches) == 1 else None
        if spec.isascii() and spec.isdigit():
            pid = int(spec)
            for j in self.jobs.values():
                if pid in j.pids:
                    return j
        return None

    def record(self, pid: int, wstatus: int) -> Job | None:
        for job in self.jobs.values():
            if pid in job.statuses:
                if os.WIFSTOPPED(wstatus):
                    job.stopped = True
                elif os.WIFCONTINUED(wstatus):
                    job.stopped = False
                else:
                    job.statuses[pid] = status_of(wstatus)
                return job
        return None

    def reap(self) -> None:
        """Collect finished background processes without blocking."""
        for job in list(self.jobs.values()):
            for pid, st in job.statuses.items():
                if st is not None:
                    continue
                try:
                    got, wstatus = os.waitpid(pid, os.WNOHANG | os.WUNTRACED)
                except ChildProcessError:
                    job.statuses[pid] = job.statuses.get(pid) or 0
                    continue
                if got:
                    self.record(got, wstatus)

    def wait(self, job: Job, *, untraced: bool = False) -> int:
        """Block until every process of the job ends (or, with untraced, stops)."""
        for pid in job.pids:
            while job.statuses.get(pid) is None:
                try:
                    got, wstatus = os.waitpid(pid, os.WUNTRACED if untraced else 0)
                except ChildProcessError:
                    job.statuses[pid] = 127
                    break
                except InterruptedError:
                    continue
                self.record(got, wstatus)
                if untraced and os.WIFSTOPPED(wstatus):
                    return 128 + os.WSTOPSIG(wstatus)
        return job.status

    def notices(self, *, all_done: bool = True) -> list[str]:
        """`[1]+  Done  cmd` lines for jobs that finished since last asked."""
        out: list[str] = []
        for job in sorted(self.jobs.values(), key=lambda j: j.id):
            if job.done and not job.notified:
                out.append(self.format(job))
                job.notified = True
        for job in [j for j in self.jobs.values() if j.done and j.notified]:
            self.remove(job)
        return out

    def format(self, job: Job, *, long: bool = False) -> str:
        mark = "+" if job.id == self.current else ("-" if job.id == self.previous else " ")
        pid = f"{job.pgid} " if long else ""
        return f"[{job.id}]{mark}  {pid}{job.state_text():<24}{job.command}"
