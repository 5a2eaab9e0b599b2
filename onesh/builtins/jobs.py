"""jobs, fg, bg, wait, kill."""

from __future__ import annotations

import os
import re
import signal

from onesh.builtins.api import IO
from onesh.engine.jobs import Job

# A distributed job's id as `ps --cluster` shows it: host:pid:n
CLUSTER_JOB = re.compile(r"^[A-Za-z0-9_.-]+:\d+:\d+$")


def _job(io: IO, name: str, spec: str | None) -> Job | None:
    interp = io.shell
    interp.jobs.reap()
    job = interp.jobs.find(spec or "%%")
    if job is None:
        io.error(name, f"{spec or 'current'}: no such job")
    return job


def jobs(argv: list[str], io: IO) -> int:
    interp = io.shell
    interp.jobs.reap()
    args = argv[1:]
    long = "-l" in args
    pids_only = "-p" in args
    specs = [a for a in args if not a.startswith("-")]
    selected = [interp.jobs.find(s) for s in specs] if specs else sorted(interp.jobs.jobs.values(), key=lambda j: j.id)
    status = 0
    for job in selected:
        if job is None:
            status = 1
            continue
        if pids_only:
            io.out(f"{job.pgid}\n")
        else:
            io.out(interp.jobs.format(job, long=long) + "\n")
            if job.done:
                job.notified = True
    interp.jobs.notices()  # drop the finished jobs just shown
    return status


def fg(argv: list[str], io: IO) -> int:
    job = _job(io, "fg", argv[1] if len(argv) > 1 else None)
    if job is None:
        return 1
    io.err(job.command + "\n")
    return io.shell.foreground_job(job)


def bg(argv: list[str], io: IO) -> int:
    specs: list[str | None] = list(argv[1:]) or [None]
    status = 0
    for spec in specs:
        job = _job(io, "bg", spec)
        if job is None:
            status = 1
            continue
        io.shell.continue_job(job)
        io.out(f"[{job.id}]+ {job.command} &\n")
    return status


def wait(argv: list[str], io: IO) -> int:
    interp = io.shell
    args = argv[1:]
    any_one = False
    if args and args[0] == "-n":
        any_one = True
        args = args[1:]
    table = interp.jobs
    if any_one:
        running = [j for j in table.jobs.values() if not j.done]
        if not running:
            return 127
        while True:
            try:
                pid, wstatus = os.waitpid(-1, 0)
            except ChildProcessError:
                return 127
            job = table.record(pid, wstatus)
            if job is not None and job.done:
                st = job.status
                table.remove(job)
                return st
    if not args:
        for job in sorted(table.jobs.values(), key=lambda j: j.id):
            table.wait(job)
            table.remove(job)
        interp.reap_procsubs(block=True)
        return 0
    status = 0
    for a in args:
        job = table.find(a) if a.startswith("%") else None
        if job is None and a.isdigit():
            pid = int(a)
            if pid in table.finished:
                status = table.finished.pop(pid)
                continue
            job = table.find(a)
            if job is None:
                io.error("wait", f"pid {pid} is not a child of this shell")
                status = 127
                continue
        if job is None:
            io.error("wait", f"{a}: no such job")
            status = 127
            continue
        status = table.wait(job)
        table.remove(job)
        if a.isdigit():
            table.finished.pop(int(a), None)
    return status


def _signum(spec: str) -> int | None:
    s = spec.upper()
    if s.isdigit():
        return int(s)
    if not s.startswith("SIG"):
        s = "SIG" + s
    try:
        return int(signal.Signals[s])
    except KeyError:
        return None


def kill(argv: list[str], io: IO) -> int:
    args = argv[1:]
    sig = int(signal.SIGTERM)
    if not args:
        io.err("kill: usage: kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]\n")
        return 2
    if args[0] in ("-l", "-L"):
        if len(args) > 1:
            for a in args[1:]:
                if a.isdigit():
                    n = int(a)
                    n = n - 128 if n > 128 else n
                    try:
                        io.out(signal.Signals(n).name[3:] + "\n")
                    except ValueError:
                        io.error("kill", f"{a}: invalid signal specification")
                        return 1
                else:
                    num = _signum(a)
                    if num is None:
                        io.error("kill", f"{a}: invalid signal specification")
                        return 1
                    io.out(f"{num}\n")
            return 0
        names = [f"{int(s):2}) {s.name}" for s in sorted(signal.Signals, key=int)]
        io.out("\n".join(names) + "\n")
        return 0
    if args[0] in ("-s", "-n"):
        if len(args) < 2:
            io.error("kill", f"{args[0]}: option requires an argument")
            return 2
        num = _signum(args[1])
        if num is None:
            io.error("kill", f"{args[1]}: invalid signal specification")
            return 1
        sig = num
        args = args[2:]
    elif args[0].startswith("-") and args[0] != "--":
        num = _signum(args[0][1:])
        if num is None:
            io.error("kill", f"{args[0][1:]}: invalid signal specification")
            return 1
        sig = num
        args = args[1:]
    if args and args[0] == "--":
        args = args[1:]
    interp = io.shell
    status = 0
    for a in args:
        try:
            if a.startswith("%"):
                job = interp.jobs.find(a)
                if job is None:
                    io.error("kill", f"{a}: no such job")
                    status = 1
                    continue
                if interp.job_control:
                    os.killpg(job.pgid, sig)
                else:
                    for pid in job.pids:
                        if job.statuses.get(pid) is None:
                            os.kill(pid, sig)
                if sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGHUP) and job.stopped:
                    interp.continue_job(job)
            elif CLUSTER_JOB.match(a) and interp.cluster is not None:
                from onesh.builtins.cluster import kill_cluster_job

                status |= kill_cluster_job(io, a, sig)
            else:
                os.kill(int(a), sig)
        except ValueError:
            io.error("kill", f"{a}: arguments must be process or job IDs")
            status = 1
        except ProcessLookupError:
            io.error("kill", f"({a}) - No such process")
            status = 1
        except PermissionError:
            io.error("kill", f"({a}) - Operation not permitted")
            status = 1
    return status
