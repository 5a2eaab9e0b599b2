"""Processes of the interpreter: fork, a child's exit, command and process
substitution, waiting for a foreground job (and its stop, under job
control), the terminal.

A mixin of Interpreter (onesh.engine.interp), kept apart so the language
runner and the process plumbing each stay readable; the attributes it
uses are the interpreter's and are declared below for the type checker.
"""

from __future__ import annotations

import os
import sys

from onesh.engine.control import (
    BreakLoop,
    ContinueLoop,
    ExitShell,
    ReturnFromFunction,
)
from onesh.engine.jobs import Job, JobTable, status_of
from onesh.engine.spawn import child_default_signals
from onesh.errors import OneshError

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from onesh.engine.collaborators import ClusterLink
    from onesh.engine.state import ShellState
    from onesh.parser import ast as A



class ProcessControl:
    if TYPE_CHECKING:
        state: ShellState
        jobs: JobTable
        job_control: bool
        interactive: bool
        in_child: bool
        in_stage: bool
        tty_fd: int | None
        shell_pgid: int
        status_pipes: dict[int, int]
        fg_pipestatus: list[int] | None
        cmdsub_count: int
        procsubs: list[tuple[int, int]]
        procsub_pids: list[int]
        cluster_link: ClusterLink | None

        @property
        def cluster(self) -> Callable[[], Any] | None: ...
        def cluster_attached(self) -> bool: ...

        def write_err(self, text: str) -> None: ...
        def report(self, err: OneshError) -> None: ...
        def source_text(self, node: A.Word) -> str: ...
        def run_list(self, cl: A.CommandList) -> int: ...

    def fork(self, pgid: int = 0, *, foreground: bool = True) -> int:
        """fork(); the child gets default signal dispositions and, under job
        control, joins process group pgid (0 = becomes leader)."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        pid = os.fork()
        if pid == 0:
            self.in_child = True
            if self.job_control:
                try:
                    os.setpgid(0, pgid)
                except OSError:
                    pass
                if foreground and self.tty_fd is not None:
                    try:
                        os.tcsetpgrp(self.tty_fd, os.getpgrp())
                    except OSError:
                        pass
            import signal

            for sig in child_default_signals():
                signal.signal(sig, signal.SIG_DFL)
            self.job_control = False
            self.interactive = False
            self.state.interactive = False
            self.jobs = JobTable()
            return 0
        if self.job_control:
            try:
                os.setpgid(pid, pgid or pid)
            except OSError:
                pass
        return pid

    def cluster_before_fork(self, node: object) -> None:
        """Start (or attach to) the cluster here, in the shell, before a
        child that will need it is forked: a cluster a child started would
        live and die with that child, and the shell would start another."""
        if self.cluster is None or self.in_stage or self.cluster_attached():
            return
        from onesh.engine.clusterpaths import subtree_mentions_cluster

        if subtree_mentions_cluster(node, self.source_text):
            try:
                self.cluster()
            except OneshError:
                pass  # the child reports it when it gets there

    def child_run(self, fn: Callable[[], int]) -> None:
        """Run fn in a forked child and _exit with its status (never returns)."""
        status = 1
        try:
            status = fn()
        except ExitShell as e:
            status = e.status
        except (ReturnFromFunction, BreakLoop, ContinueLoop) as e:
            status = getattr(e, "status", 0)
        except OneshError as e:
            self.report(e)
            status = e.status
        except BrokenPipeError:
            status = 141
        except KeyboardInterrupt:
            status = 130
        except BaseException as e:  # noqa: BLE001 - a forked child must always _exit
            self.internal_error(e)
            status = 70
        if self.cluster_link is not None:
            try:
                self.cluster_link.close()  # only a cluster this child itself started
            except BaseException:  # noqa: BLE001 - exiting regardless
                pass
        os._exit(status & 0xFF)

    def command_substitution(self, body: A.Program) -> str:
        self.cluster_before_fork(body)
        r, w = os.pipe()
        pid = self.fork(self.shell_pgid if self.job_control else 0, foreground=False)
        if pid == 0:
            os.close(r)
            os.dup2(w, 1)
            os.close(w)
            self.state.loop_depth = 0  # bash: `break` in $( ) is not the caller's
            self.child_run(lambda: self.run_list(body.body))
        os.close(w)
        chunks: list[bytes] = []
        try:
            while True:
                data = os.read(r, 65536)
                if not data:
                    break
                chunks.append(data)
        finally:
            os.close(r)
        while True:
            try:
                _, wstatus = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
            except ChildProcessError:
                wstatus = 0
                break
        self.state.last_status = status_of(wstatus)
        self.cmdsub_count += 1
        out = b"".join(chunks).decode("utf-8", "surrogateescape")
        return out.rstrip("\n")

    def process_substitution(self, body: A.Program, *, out: bool) -> str:
        """<(body) / >(body): run body asynchronously on a pipe; the caller
        gets the /dev/fd path of our end, open until its command is done
        (close_procsubs)."""
        self.cluster_before_fork(body)
        r, w = os.pipe()
        pid = self.fork(self.shell_pgid if self.job_control else 0, foreground=False)
        if pid == 0:
            os.dup2(r if out else w, 0 if out else 1)
            os.close(r)
            os.close(w)
            self.state.loop_depth = 0
            self.child_run(lambda: self.run_list(body.body))
        mine, theirs = (w, r) if out else (r, w)
        os.close(theirs)
        os.set_inheritable(mine, True)  # the command may be a program
        self.procsubs.append((mine, pid))
        self.state.last_bg_pid = pid
        return f"/dev/fd/{mine}"

    def close_procsubs(self, keep: int) -> None:
        """The command that used process substitutions is done: close our
        ends beyond the first `keep` (the readers see EOF, the writers
        SIGPIPE) and reap the children that have finished; `wait` waits
        for the others."""
        while len(self.procsubs) > keep:
            fd, pid = self.procsubs.pop()
            try:
                os.close(fd)
            except OSError:
                pass
            self.procsub_pids.append(pid)
        self.reap_procsubs(block=False)

    def reap_procsubs(self, *, block: bool) -> None:
        for pid in list(self.procsub_pids):
            try:
                done, _ = os.waitpid(pid, 0 if block else os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                self.procsub_pids.remove(pid)

    def internal_error(self, e: BaseException) -> None:
        if os.environ.get("ONESH_DEBUG"):
            import traceback

            self.write_err("".join(traceback.format_exception(e)))
        else:
            self.write_err(f"onesh: internal error: {type(e).__name__}: {e} (set ONESH_DEBUG=1 for details)\n")

    def continue_job(self, job: Job) -> None:
        import signal

        try:
            if self.job_control:
                os.killpg(job.pgid, signal.SIGCONT)
            else:
                for pid in job.pids:
                    os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
        job.stopped = False

    def foreground_job(self, job: Job) -> int:
        if self.job_control and self.tty_fd is not None:
            try:
                os.tcsetpgrp(self.tty_fd, job.pgid)
            except OSError:
                pass
        self.continue_job(job)
        self.jobs.remove(job)
        pending = [p for p in job.pids if job.statuses.get(p) is None]
        if not pending:
            return job.status
        status = self.wait_foreground(pending, job.pgid, job.command)
        self.fg_pipestatus = list(self.state.pipestatus)
        return status

    def wait_foreground(self, pids: list[int], pgid: int, text: str) -> int:
        import signal

        job = Job(0, pgid, pids, text, {p: None for p in pids}, pipefail="pipefail" in self.state.options)
        statuses: list[int] = []
        self.jobs_wait_untraced(job)
        if job.stopped and not job.done:
            added = self.jobs.add(pids, pgid, text, stopped=True)
            added.statuses = job.statuses
            self.write_err(f"\n[{added.id}]+  Stopped                 {text}\n")
            self.take_terminal()
            self.state.pipestatus = [128 + signal.SIGTSTP]
            return 128 + signal.SIGTSTP
        self.take_terminal()
        statuses = [job.statuses.get(p) or 0 for p in pids]
        if len(pids) == 1 and pids[0] in self.status_pipes:
            statuses = read_status_pipe(self.status_pipes.pop(pids[0])) or statuses
        self.state.pipestatus = statuses
        if self.interactive and statuses and statuses[-1] == 128 + signal.SIGINT:
            self.write_err("\n")
        return job.status

    def jobs_wait_untraced(self, job: Job) -> None:
        for pid in job.pids:
            while job.statuses.get(pid) is None:
                try:
                    got, wstatus = os.waitpid(pid, os.WUNTRACED if self.job_control else 0)
                except ChildProcessError:
                    job.statuses[pid] = 127
                    break
                except InterruptedError:
                    continue
                if os.WIFSTOPPED(wstatus):
                    job.stopped = True
                    return
                job.statuses[got] = status_of(wstatus)

    def take_terminal(self) -> None:
        if self.job_control and self.tty_fd is not None:
            try:
                os.tcsetpgrp(self.tty_fd, self.shell_pgid)
            except OSError:
                pass



def read_status_pipe(fd: int) -> list[int] | None:
    """The PIPESTATUS a job's process wrote (JSON) before exiting; closes fd."""
    import json

    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
        statuses = json.loads(data)
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)
    if isinstance(statuses, list) and statuses and all(isinstance(x, int) for x in statuses):
        return statuses
    return None
