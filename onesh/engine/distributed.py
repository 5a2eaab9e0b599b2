"""Running a distributed pipeline from the shell (the session side).

The shell plans the pipeline (planner), asks the scheduler kernel agent to
place its stages, starts one segment per runtime from the last to the
first (each segment's input pipe must exist before its writer connects),
then pumps the job's ends: the last segment's stdout and every segment's
stderr come back over network pipes to this shell's fds, and its stdin
goes to the first segment when it is not a terminal.  Ctrl-C sends SIGINT
to every segment; the job ends when every segment reported its statuses,
which become `$?` and `PIPESTATUS` as for a local pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import signal
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from onesh.aio import run_sync
from onesh.engine import planner
from onesh.engine.jobwatch import CONFIRM_TIMEOUT, RuntimeWatch
from onesh.engine.restarts import restartable, roomiest_runtime, successor_runtime
from onesh.engine.shellcluster import SHELL_PATIENCE, ShellCluster, endpoint_of, home_runtime
from onesh.errors import OneshError
from onesh.parser import ast as A

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter

_job_numbers = itertools.count(1)
START_TIMEOUT = 25.0
PLACE_TIMEOUT = 3.0
WAIT_POLL = 1.0  # seconds a stage.wait waits on the runtime (its silence beyond that is a sign)
STOP_GRACE = 2.0  # seconds stages get to end after SIGTERM (then SIGKILL) when a job is given up
LOST_STATUS = 128 + 9  # a stage lost with its runtime: as if killed by SIGKILL
ABANDON_AFTER = 3.0  # seconds a finished job's silent, unended output pipe is still awaited
_NOT_SHIPPED = ("PATH", "HOME", "PWD", "OLDPWD", "SHLVL", "_", "ONESH_CLUSTER", "ONESH_SECRET")


async def make_plan(interp: Interpreter, sc: ShellCluster,
                    d: planner.Draft) -> tuple[planner.Plan, dict[str, Any]] | None:
    snap = await sc.status()
    home = home_runtime(snap, sc.boot)
    view = planner.ClusterView(snap["members"], home)
    ns_files, ns_pipes = await sc.lookup(d.candidates) if d.candidates else ({}, frozenset())
    plan = planner.build(interp, d, view, ns_files, ns_pipes)
    if plan is None:
        return None
    reply, snap = await _place_agreed(sc, snap, {"stages": [s.needs.to_wire() for s in plan.stages], "home": home})
    if "error" in reply:
        msg = str(reply["error"])
        raise planner.PlanError(msg, status=127 if "command not found" in msg else 1)
    for st, (rt, why) in zip(plan.stages, reply["placement"], strict=True):
        st.runtime, st.why = rt, why
    return plan, snap


async def _place_agreed(sc: ShellCluster, snap: dict[str, Any],
                        body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scheduler's placement (and the status it was asked with).  When
    it finds a runtime down that our status has alive, its view lags ours
    (it runs on a voter that has not applied the runtime's return yet):
    ask again, for up to SHELL_PATIENCE seconds, once it may have."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHELL_PATIENCE
    reply = await _place(sc, snap, body)
    while (down := reply.get("down")) and snap["members"].get(str(down), {}).get("alive"):
        if loop.time() > deadline:
            break
        await asyncio.sleep(0.2)
        snap = await sc.status()
        reply = await _place(sc, snap, body)
    return reply, snap


async def _place(sc: ShellCluster, snap: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """Ask the scheduler agent to place the stages, following it through a
    failover for up to SHELL_PATIENCE seconds; then say what is wrong."""
    from onesh.kernel.agents import agent_host
    from onesh.kernel.statusread import leader_problem, quorum_lost, voter_unreachable
    from onesh.net.rpc import RpcError, RpcTimeout

    loop = asyncio.get_running_loop()
    deadline = loop.time() + SHELL_PATIENCE
    while True:
        host = agent_host(snap, "scheduler", alive=True)
        if host is None:
            why = "the scheduler kernel agent is not placed on a live runtime"
        elif quorum_lost(snap) and voter_unreachable(snap, host):
            raise planner.PlanError(leader_problem(snap) or f"the scheduler agent on {host} is unreachable")
        else:
            try:
                return await sc.call(endpoint_of(snap, host), "scheduler.place", body, PLACE_TIMEOUT)
            except RpcTimeout:
                why = f"the scheduler agent on {host} did not answer within {PLACE_TIMEOUT:g}s"
            except RpcError as e:
                why = f"the scheduler agent on {host}: {e}"
        if loop.time() > deadline or quorum_lost(snap):
            raise planner.PlanError(leader_problem(snap) or why)
        await asyncio.sleep(0.2)
        snap = await sc.status()


def distributed_pipeline(interp: Interpreter, pl: A.Pipeline) -> int | None:
    """Run `pl` on the cluster if it needs the cluster; None to run it locally."""
    d = planner.draft(interp, pl, attached=interp.cluster_attached())
    if d is None or interp.cluster is None:
        return None
    client = interp.cluster()
    if interp.job_control and interp.tty_fd is not None and not interp.in_child:
        made = run_sync(_plan(interp, client.boot, client.secret, d))
        if made is None:
            return None
        return _in_foreground_child(interp, client.boot, client.secret, *made, text=interp.text_of(pl))
    return run_sync(_run(interp, client.boot, client.secret, d))


async def _plan(interp: Interpreter, boot: list[str], secret: str,
                d: planner.Draft) -> tuple[planner.Plan, dict[str, Any]] | None:
    async with ShellCluster(boot, secret) as sc:
        return await make_plan(interp, sc, d)


async def _run(interp: Interpreter, boot: list[str], secret: str, d: planner.Draft) -> int | None:
    async with ShellCluster(boot, secret) as sc:
        made = await make_plan(interp, sc, d)
        if made is None:
            return None
        plan, snap = made
        return await Job(interp, sc, plan, snap).run()


async def _run_planned(interp: Interpreter, boot: list[str], secret: str, plan: planner.Plan,
                       snap: dict[str, Any]) -> int:
    async with ShellCluster(boot, secret) as sc:
        return await Job(interp, sc, plan, snap).run()


def _in_foreground_child(interp: Interpreter, boot: list[str], secret: str, plan: planner.Plan,
                         snap: dict[str, Any], *, text: str) -> int:
    """Under job control the job runs in a child process group that owns
    the terminal, like a local pipeline: Ctrl-C and Ctrl-Z reach it from
    the tty, the child stops and continues the remote stages with itself,
    and `jobs`, `fg`, `bg`, `wait` and `kill %N` work as for any job.  The
    remote PIPESTATUS comes back over a pipe.  (Planned here, run there: a
    zmq context does not survive fork, so the child opens its own.)"""
    r, w = os.pipe()
    pid = interp.fork(0, foreground=True)
    if pid == 0:
        os.close(r)

        def body() -> int:
            status = run_sync(_run_planned(interp, boot, secret, plan, snap))
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # the shell stopped listening (job was stopped)
            with contextlib.suppress(OSError):
                os.write(w, json.dumps(interp.state.pipestatus).encode())
            return status

        interp.child_run(body)
    os.close(w)
    interp.status_pipes[pid] = r  # read when the job ends in the foreground (now, or after fg)
    return interp.wait_foreground([pid], pid, text)


def plan_text(interp: Interpreter, pl: A.Pipeline) -> str:
    """`plan CMDLINE`: the stage graph, placed, without running it."""
    d = planner.draft(interp, pl, attached=True)
    assert d is not None and interp.cluster is not None
    client = interp.cluster()

    async def go() -> str:
        async with ShellCluster(client.boot, client.secret) as sc:
            made = await make_plan(interp, sc, d)
            if made is None:
                return "local: nothing in this pipeline needs the cluster\n"
            return made[0].describe()

    return run_sync(go())


class Job:
    def __init__(self, interp: Interpreter, sc: ShellCluster, plan: planner.Plan, snap: dict[str, Any]) -> None:
        self.interp = interp
        self.sc = sc
        self.plan = plan
        self.snap = snap
        self.id = f"{socket.gethostname()}:{os.getpid()}:{next(_job_numbers)}"
        self.segments = plan.segments()
        self.started: list[tuple[int, str]] = []  # (segment, endpoint)
        self.interrupted = 0
        self._signal_tasks: set[asyncio.Task[Any]] = set()
        self.watch = RuntimeWatch(sc, snap["members"], {rt for rt, _ in self.segments})
        self.killed: set[int] = set()  # segments whose stage host got SIGKILL
        self.no_room: set[int] = set()  # segments offered off an overloaded runtime that found no room (said once)
        # Recovery: what each segment was started with, and whether it can
        # be restarted elsewhere when its runtime dies (runtime/agentpipes.py).
        self.specs: dict[int, dict[str, Any]] = {}
        self.out_rx: Any = None  # the job's output to the shell, when the shell reads it
        self.recoverable: set[int] = set()
        self.waits: dict[int, asyncio.Task[None]] = {}
        self.host_keys: list[Any] = []
        self.here: str | None = None  # this shell's host key
        self.tx: Any = None  # our pipe into the first segment, when we feed it

    def env(self) -> dict[str, str]:
        return {k: v for k, v in self.interp.state.environ().items() if k not in _NOT_SHIPPED}

    async def run(self) -> int:
        from onesh.net.pipes import (
            PipeReceiver,
            PipeSender,
            pump_fd_to_pipe,
            pump_pipe_to_fd,
            span_source,
        )
        from onesh.net.samehost import host_key, same_host
        from onesh.net.transport import between_hosts, pipe_bind

        sc, plan = self.sc, self.plan
        host = _bind_host(sc.boot)
        members = self.snap["members"]
        here = host_key()
        # Which runtimes share this host (and user) with the shell or with
        # each other: their pipes are Unix sockets, not TCP + Curve.
        keys = [members.get(rt, {}).get("host_key") if here else None for rt, _ in self.segments]
        self.host_keys, self.here = keys, here
        # Which pipes into a segment are dialled by their reader: those into
        # a runtime the cluster cannot reach (it dials out); the writer binds.
        shell_feeds = plan.stdin.get("kind") == "local" or (
            plan.stdin.get("kind") == "shell" and not os.isatty(0) and _readable(0))
        dialled = [self.reader_dials(i, keys, here) if i > 0 or shell_feeds else False
                   for i in range(len(self.segments))]
        out_rx = None
        if plan.stdout.get("kind") == "shell":
            out_rx = PipeReceiver(sc.ctx, sc.keys, f"{self.id}/out", bind=pipe_bind(host, same_host(here, keys[-1])))
            out_ep = await out_rx.start()
        self.out_rx = out_rx
        err_rx = [PipeReceiver(sc.ctx, sc.keys, f"{self.id}/{i}/err", bind=pipe_bind(host, same_host(here, keys[i])))
                  for i in range(len(self.segments))]
        for i, r in enumerate(err_rx):
            # A stage host's stderr connection that drops before its end is
            # the first sign of its runtime's death (a Unix or TLS socket
            # closes at once; an RPC only times out): ask that runtime now.
            r.on_writer_lost = lambda i=i: self.suspect(i)
        err_eps = [await r.start() for r in err_rx]
        stdin_fd: int | None = None
        if plan.stdin.get("kind") == "local":
            try:
                stdin_fd = os.open(plan.stdin["path"], os.O_RDONLY)
            except OSError as e:
                raise OneshError(f"{plan.stdin['path']}: {e.strerror}", status=1) from None
        elif plan.stdin.get("kind") == "shell" and not os.isatty(0) and _readable(0):
            stdin_fd = 0
        loop = asyncio.get_running_loop()
        n = len(self.segments)
        tx: PipeSender | None = None
        # A regular file goes to a first segment on this host as spans of
        # it, which the segment reads itself (pipes.pump_fd_to_pipe).
        stdin_file = span_source(stdin_fd) if stdin_fd is not None else -1
        if dialled[0]:
            # The shell feeds a dial-out segment: its end binds first.
            tx = PipeSender(sc.ctx, sc.keys, f"{self.id}/0/in", bind=pipe_bind(host, False, between_hosts()),
                            file=stdin_file)
            await tx.start()
        in_eps: dict[int, str] = {}  # segment → its bound input endpoint
        out_eps: dict[int, str] = {}  # segment → its bound output endpoint (its reader dials)
        try:
            for i in start_order(dialled):
                rt, idx = self.segments[i]
                stdout: dict[str, Any]
                stdin: dict[str, Any]
                if i == n - 1:
                    if out_rx is not None:
                        stdout = {"kind": "pipe", "endpoint": out_ep, "pipe_id": f"{self.id}/out"}
                    else:
                        stdout = dict(plan.stdout)
                elif dialled[i + 1]:
                    stdout = {"kind": "pipe", "bind": True, "pipe_id": f"{self.id}/{i + 1}/in",
                              "transport": between_hosts()}
                else:
                    stdout = {"kind": "pipe", "endpoint": in_eps[i + 1], "pipe_id": f"{self.id}/{i + 1}/in"}
                if dialled[i]:
                    writer_ep = tx.endpoint if i == 0 and tx is not None else out_eps[i - 1]
                    stdin = {"kind": "pipe", "connect": writer_ep}
                elif i > 0 or stdin_fd is not None:
                    writer = keys[i - 1] if i > 0 else here
                    stdin = {"kind": "pipe", "same_host": same_host(writer, keys[i]), "transport": between_hosts()}
                elif plan.stdin.get("kind") == "file":
                    stdin = dict(plan.stdin)
                else:
                    stdin = {"kind": "null"}
                env = self.env()
                ns_paths = [p for k in idx for p, _ in plan.stages[k].needs.files]
                if ns_paths:
                    env["ONESH_NS_PATHS"] = json.dumps(ns_paths)
                    pipes = [p for p in ns_paths if p in plan.pipes]
                    if pipes:
                        env["ONESH_NS_PIPES"] = json.dumps(pipes)  # writable by name (tee /pipes/x)
                spec = {"job": self.id, "segment": i, "cwd": self.interp.state.get("PWD") or os.getcwd(),
                        "env": env, "stages": [plan.stages[k].wire(ship=not same_host(here, keys[i])) for k in idx],
                        "stdin": stdin, "stdout": stdout,
                        "stderr": {"kind": "pipe", "endpoint": err_eps[i], "pipe_id": f"{self.id}/{i}/err"}}
                if any(plan.stages[k].needs.pin_node for k in idx):
                    spec["pinned"] = True  # (the user chose its runtime: only `migrate` moves it)
                kind = restartable([plan.stages[k] for k in idx])
                if (i > 0 or stdin_fd is not None) and not dialled[i] and (i == n - 1 or not dialled[i + 1]) and \
                        "endpoint" in stdout and kind:
                    spec["recover"] = "hold"
                    spec["stateful"] = kind == "stateful"
                    spec["program"] = kind == "program"
                ep = endpoint_of(self.snap, rt)
                reply = await self.start_segment(rt, ep, spec)
                self.specs[i] = spec
                if reply.get("recoverable"):
                    self.recoverable.add(i)
                self.started.append((i, ep))
                in_eps[i] = str(reply.get("stdin_endpoint", ""))
                out_eps[i] = str(reply.get("stdout_endpoint", ""))
        except BaseException:
            if tx is not None:
                await tx.abort("the job did not start")
            await self.signal_all(signal.SIGKILL)
            for r in err_rx:
                await r.close()
            if out_rx is not None:
                await out_rx.close()
            raise
        registered = loop.create_task(self.tell_session("session.job_start", self.session_info()))
        forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP, signal.SIGCONT)
        saved = {sig: signal.getsignal(sig) for sig in forwarded}
        for sig in forwarded:
            loop.add_signal_handler(sig, self.on_signal, sig)
        statuses: dict[int, list[int]] = {}
        try:
            async with asyncio.TaskGroup() as tg:
                if stdin_fd is not None:
                    if tx is None:
                        tx = PipeSender(sc.ctx, sc.keys, f"{self.id}/0/in", in_eps[0], file=stdin_file)
                        await tx.start()
                    self.tx = tx
                    feed = tg.create_task(pump_fd_to_pipe(stdin_fd, tx, close_fd=stdin_fd != 0))
                else:
                    feed = None
                pumps: list[tuple[Any, asyncio.Task[int]]] = []
                if out_rx is not None:
                    pumps.append((out_rx, tg.create_task(pump_pipe_to_fd(out_rx, 1, close_fd=False))))
                several = len({rt for rt, _ in self.segments}) > 1
                for i, r in enumerate(err_rx):
                    # Whose error is it?  Obvious when the job runs on one
                    # runtime; otherwise each line says where it came from
                    # (where the segment runs now: it may have moved).
                    pump = (pump_labelled(r, 2, functools.partial(self.runtime_of, i)) if several
                            else pump_pipe_to_fd(r, 2, close_fd=False))
                    pumps.append((r, tg.create_task(pump)))
                await self.supervise(statuses)
                if feed is not None and not feed.done():
                    feed.cancel()
                # The pipes of a lost runtime's stages will never end, nor
                # those of a stage host killed when the job was given up.
                gone = {i for i, (rt, _) in enumerate(self.segments) if rt in self.watch.lost} | self.killed
                dead = {id(err_rx[i]) for i in gone}
                if out_rx is not None and len(self.segments) - 1 in gone:
                    dead.add(id(out_rx))
                for rx, task in pumps:
                    if id(rx) in dead:
                        task.cancel()
                await _drain_or_abandon(pumps)
                if out_rx is not None and out_rx.cut_off:
                    # (its writer gave up on us: what it had not sent is lost)
                    last = len(self.segments) - 1
                    self.interp.write_err(f"onesh: the output of {self.label(last)} was cut off: its writer "
                                          f"gave up ({out_rx.cut_off})\n")
                    if statuses.get(last) and statuses[last][-1] == 0:
                        statuses[last][-1] = 1
        finally:
            await asyncio.gather(registered, return_exceptions=True)  # (it gives up after 1 s)
            for sig in forwarded:
                loop.remove_signal_handler(sig)
                signal.signal(sig, saved[sig])  # asyncio would leave SIG_DFL
            for r in err_rx:
                await r.close()
            if out_rx is not None:
                await out_rx.close()
        flat = [s for i in range(len(self.segments))
                for s in statuses.get(i, [LOST_STATUS] * len(self.segments[i][1]))]
        await self.tell_session("session.job_end", {"job": self.id, "statuses": flat})
        if any(spec.get("stateful") for spec in self.specs.values()):
            await self.drop_checkpoints()
        self.interp.state.pipestatus = flat
        if self.interp.interactive and self.interrupted and flat and flat[-1] == 128 + signal.SIGINT:
            self.interp.write_err("\n")
        if "pipefail" in self.interp.state.options:
            return next((s for s in reversed(flat) if s), 0)
        return flat[-1]

    def reader_dials(self, i: int, keys: list[Any], here: str | None) -> bool:
        """Does segment i dial its input pipe (its runtime cannot be
        reached: `--dial-out`), the writer binding?  A Unix socket on one
        host needs no turning round; two dial-out ends cannot meet."""
        from onesh.net.samehost import same_host

        members = self.snap["members"]
        rt = self.segments[i][0]
        if members.get(rt, {}).get("reachable", True) is not False:
            return False
        writer_key = keys[i - 1] if i > 0 else here
        if same_host(writer_key, keys[i]):
            return False
        if i > 0:
            prev = self.segments[i - 1][0]
            if members.get(prev, {}).get("reachable", True) is False:
                raise OneshError(f"{prev} and {rt} both dial out (--dial-out): neither can accept the pipe "
                                 "between them; pin one of the stages to a reachable runtime", status=1)
        return True

    def session_info(self) -> dict[str, Any]:
        import getpass

        host = socket.gethostname()
        try:
            tty = os.ttyname(0) if os.isatty(0) else ""
        except OSError:
            tty = ""
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = str(os.getuid())
        return {"session": f"{host}:{self.interp.session_pid}", "user": user, "host": host,
                "pid": self.interp.session_pid, "tty": tty, "job": self.id, "cmdline": self.cmdline(),
                "segments": [[i, rt] for i, (rt, _) in enumerate(self.segments)]}

    def cmdline(self) -> str:
        return " | ".join(st.label for st in self.plan.stages)

    async def tell_session(self, method: str, body: dict[str, Any]) -> None:
        """Best effort: the session agent's table is for `ps` and `sessions`;
        a job never waits long for it nor fails because of it."""
        from onesh.kernel.agents import agent_host
        from onesh.net.rpc import RpcError

        host = agent_host(self.snap, "session")
        member = self.snap["members"].get(host) if host else None
        if member is None:
            return
        with contextlib.suppress(RpcError):
            await self.sc.call(str(member["endpoint"]), method, body, 1.0)

    async def start_segment(self, rt: str, endpoint: str, spec: dict[str, Any]) -> dict[str, Any]:
        """stage.start, which may take a while on a loaded runtime (a new
        interpreter starts) but not forever on a dead one: while it waits,
        the runtime must keep answering runtime.info."""
        from onesh.net.rpc import RpcError

        task = asyncio.ensure_future(self.sc.call(endpoint, "stage.start", spec, START_TIMEOUT))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=1.0)
                if done:
                    return task.result()
                if await self.watch.confirm(rt, "it stopped answering"):
                    from onesh.kernel.statusread import leader_problem

                    # (planned on a view without a leader: that is the cause)
                    raise planner.PlanError(leader_problem(self.snap) or
                                            f"runtime {rt} is gone ({self.watch.lost[rt]}); the job was not started")
        except RpcError as e:
            raise planner.PlanError(f"could not start part of the job on {rt}: {e}") from None
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def supervise(self, statuses: dict[int, list[int]]) -> None:
        """Wait until every segment reported its statuses.  When a runtime
        running part of the job is gone, its stages are restarted elsewhere
        if they can be (recover), else the job is given up."""
        loop = asyncio.get_running_loop()
        waits = self.waits
        waits.update({i: loop.create_task(self.wait_segment(i, ep, statuses)) for i, ep in self.started})
        watching = loop.create_task(self.watch.membership_loop())
        handled: set[str] = set()
        changed: asyncio.Task[Any] | None = None
        try:
            while True:
                new = [rt for rt in self.watch.lost if rt not in handled]
                self.watch.changed.clear()
                if new:
                    handled.update(new)
                    if not await self.recover(new, statuses):
                        await self.give_up(waits, statuses)
                        return
                    continue
                pending: set[asyncio.Task[Any]] = {t for t in waits.values() if not t.done()}
                if not pending:
                    return
                changed = loop.create_task(self.watch.changed.wait())
                await asyncio.wait(pending | {changed}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
        finally:
            tasks = [watching, *waits.values(), *([changed] if changed is not None else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def recover(self, lost: list[str], statuses: dict[int, list[int]]) -> bool:
        """Restart the unfinished stages of the `lost` runtimes elsewhere:
        each successor takes over its predecessor's pipes where they stand
        (the reader's position, the writer's replay), so nothing is lost
        or repeated.  False when one of them cannot be (then the job is
        given up): it is not restartable (a device's stage, a `tee` of a
        file that is not a namespace file, a program past its replay), or a
        neighbour's runtime is gone too
        (nobody is left to replay its input or hold its reader's place)."""
        from onesh.net.rpc import RpcError

        gone = [i for i, (rt, _) in enumerate(self.segments) if rt in lost and i not in statuses]
        gone = [i for i in gone if not await self.was_done(i, statuses)]
        dead = set(self.watch.lost)
        if not gone or any(i not in self.recoverable or (i == 0 and self.tx is None)
                           or (i > 0 and self.segments[i - 1][0] in dead)
                           or (i + 1 < len(self.segments) and self.segments[i + 1][0] in dead) for i in gone):
            return not gone
        try:
            snap = await self.sc.status()
        except planner.PlanError:
            return False
        for i in sorted(gone, reverse=True):
            old, idx = self.segments[i]
            target = successor_runtime(snap, dead, [self.plan.stages[k] for k in idx],
                                       [rt for rt, _ in self.segments])
            if target is None:
                return False
            try:
                where = await self.restart(i, target, snap["members"][target], statuses)
            except (planner.PlanError, RpcError) as e:
                if await self.was_done(i, statuses):
                    continue  # (its reader finished meanwhile: it found none to go on with)
                self.interp.write_err(f"onesh: could not restart {self.label(i)} elsewhere: {e}\n")
                return False
            self.interp.write_err(f"onesh: runtime {old} is gone ({self.watch.lost[old]}); "
                                  f"{self.label(i)} goes on on {target}{where}\n")
        return True

    async def was_done(self, i: int, statuses: dict[int, list[int]]) -> bool:
        """Had lost segment i's reader had all of its output (or wanted
        no more)?  Then it had nothing left to do but report: it is not run
        again, its status is LOST_STATUS, its writer sees the pipe end, and
        the job goes on."""
        if not self.reader_done(i, statuses):
            return False
        rt = self.segments[i][0]
        statuses[i] = [LOST_STATUS] * len(self.segments[i][1])
        self.interp.write_err(f"onesh: runtime {rt} is gone ({self.watch.lost[rt]}); {self.label(i)} had written "
                              "all its output\n")
        await self.reader_gone(i)
        return True

    async def reader_gone(self, i: int) -> None:
        """Segment i, which held its acks, ended (killed, or lost when it
        was done): its writer, which would wait for a successor, sees the
        pipe end, as with an OS pipe."""
        from onesh.net.rpc import RpcError

        if i == 0:
            if self.tx is not None:
                self.tx.give_up("reader gone")
        elif i - 1 in dict(self.started):
            with contextlib.suppress(RpcError):
                await self.sc.call(dict(self.started)[i - 1], "stage.repipe",
                                   {"job": self.id, "segment": i - 1, "gone": True}, 2.0)

    def reader_done(self, i: int, statuses: dict[int, list[int]]) -> bool:
        """Has segment i's reader ended: the next segment, or the shell's
        output pipe at its end of stream?"""
        if i + 1 < len(self.segments):
            return i + 1 in statuses
        return self.out_rx is not None and bool(self.out_rx.proto.eof)

    async def restart(self, i: int, target: str, member: dict[str, Any], statuses: dict[int, list[int]]) -> str:
        """Start segment i's successor on `target` (its predecessor is dead
        or killed): it takes over the reader downstream where it stands;
        the writer upstream is re-pointed at it and replays."""
        from onesh.net.samehost import same_host

        old, idx = self.segments[i]
        if self.specs[i].get("program") and ((i > 0 and i - 1 in statuses)
                                             or (i == 0 and self.tx is not None and self.tx.proto.done)):
            # (a program's writer keeps its input until the program ends,
            # unless there was more than a restart replays: it let go)
            raise planner.PlanError("its writer has finished and let go of its input (a program's input is "
                                    "kept for a restart up to ONESH_REPLAY_MAX bytes)")
        # (epoch: the pipes' readers ignore the writer it replaces, should
        # that one not be dead after all: frozen, cut off)
        spec = dict(self.specs[i], recover="resume", epoch=int(self.specs[i].get("epoch", 0)) + 1,
                    moved_from=[*self.specs[i].get("moved_from", []), old])
        writer = self.host_keys[i - 1] if i > 0 else self.here
        spec["stdin"] = dict(spec["stdin"], same_host=same_host(writer, member.get("host_key")))
        self.specs[i] = spec
        ep = str(member["endpoint"])
        self.watch.add(target, member)
        reply = await self.start_segment(target, ep, spec)
        new_in = str(reply.get("stdin_endpoint", ""))
        if i == 0:
            self.tx.repipe(new_in)  # (we feed it)
        else:
            await self.sc.call(dict(self.started)[i - 1], "stage.repipe",
                               {"job": self.id, "segment": i - 1, "endpoint": new_in}, 2.0)
        self.segments[i] = (target, idx)
        self.started = [(j, ep if j == i else e) for j, e in self.started]
        self.waits[i] = asyncio.get_running_loop().create_task(self.wait_segment(i, ep, statuses))
        at, replays = reply.get("resumed_at"), reply.get("replays")
        if replays:
            start = f"byte {at} of its input" if isinstance(at, int) and at > 0 else "the start of its input"
            if replays == "exactly":
                return f" (again from {start}; it is deterministic: what it makes again is dropped)"
            return f" (again from {start}: its output since comes again)"
        return f" (from byte {at} of its input)" if isinstance(at, int) and at >= 0 else ""

    async def move(self, i: int, target: str, statuses: dict[int, list[int]], why: str = "",
                   cpu: float = 0.0) -> None:
        """`migrate`: segment i goes to `target` while it runs.  It is
        killed (at any point: what it held is still upstream, what it sent
        is downstream) and restarted there as after its runtime's death;
        the pause is a stage start and a repipe.  Target ANYWHERE: its
        runtime is leaving, or (`why` says so) overloaded, and it goes where
        there is room for the `cpu` CPUs it uses."""
        from onesh.net.rpc import RpcError
        from onesh.runtime.stages import ANYWHERE

        loop = asyncio.get_running_loop()
        old, idx = self.segments[i]
        leaving = target == ANYWHERE  # (its runtime is leaving or overloaded: anywhere else)
        try:
            snap = await self.sc.status()
            if leaving and why:
                target = roomiest_runtime(snap, {*self.watch.lost, old}, [self.plan.stages[k] for k in idx], cpu) or ""
                if not target:
                    # (said once: the runtime offers it again while it stays overloaded)
                    if i not in self.no_room:
                        self.no_room.add(i)
                        self.interp.write_err(f"onesh: {why}; no other runtime has room for {self.label(i)}: "
                                              f"it stays on {old}\n")
                    self.waits[i] = loop.create_task(self.wait_segment(i, dict(self.started)[i], statuses))
                    return
            elif leaving:
                target = successor_runtime(snap, {*self.watch.lost, old}, [self.plan.stages[k] for k in idx],
                                           [rt for rt, _ in self.segments]) or ""
                if not target:
                    raise planner.PlanError("no other runtime can take it")
            member = snap["members"].get(target)
            if member is None or not member.get("alive") or target in self.watch.lost \
                    or member.get("reachable", True) is False:
                raise planner.PlanError(f"runtime {target} is not a live member that the cluster can reach")
        except planner.PlanError as e:
            what = f"runtime {old} is leaving" if leaving else f"migrate {self.label(i)} to {target}"
            self.interp.write_err(f"onesh: {what}: {e.message}; it stays on {old}\n")
            self.waits[i] = loop.create_task(self.wait_segment(i, dict(self.started)[i], statuses))
            return
        with contextlib.suppress(RpcError):
            await self.sc.call(dict(self.started)[i], "stage.signal",
                               {"job": self.id, "sig": int(signal.SIGKILL), "segment": i}, 2.0)
        try:
            where = await self.restart(i, target, member, statuses)
        except (planner.PlanError, RpcError) as e:
            # (it is dead already: the job cannot go on without it)
            self.interp.write_err(f"onesh: migrate {self.label(i)} to {target} failed: {e}; "
                                  "its stages are lost\n")
            statuses[i] = [LOST_STATUS] * len(self.segments[i][1])
            self.killed.add(i)
            await self.signal_all(signal.SIGTERM)
            return
        why = why or (f"runtime {old} is leaving" if leaving else "migrate")
        self.interp.write_err(f"onesh: {self.label(i)} moved from {old} to {target}{where} ({why})\n")

    async def drop_checkpoints(self) -> None:
        """The job is over: its stateful stages' checkpoints go (best effort)."""
        from onesh.runtime.stagehost import CHECKPOINTS

        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sc.ns().rm(f"{CHECKPOINTS}/{self.id.replace(':', '_').replace('/', '_')}",
                                                   recursive=True), 3.0)

    def suspect(self, i: int) -> None:
        """Segment i's stage host went silent: is its runtime gone?"""
        rt = self.segments[i][0]
        if rt in self.watch.lost:
            return
        task = asyncio.get_running_loop().create_task(self.watch.confirm(rt, "it stopped answering"))
        self._signal_tasks.add(task)
        task.add_done_callback(self._signal_tasks.discard)

    def runtime_of(self, i: int) -> str:
        return self.segments[i][0]

    def label(self, i: int) -> str:
        return " | ".join(self.plan.stages[k].label.strip() for k in self.segments[i][1])

    async def give_up(self, waits: dict[int, asyncio.Task[None]], statuses: dict[int, list[int]]) -> None:
        """A runtime is gone: its stages are lost.  Say which, stop every
        other stage of the job (SIGTERM, then SIGKILL), and end it."""
        lost = self.watch.lost
        for rt, why in lost.items():
            labels = [self.plan.stages[k].label.strip() for r, idx in self.segments if r == rt for k in idx]
            if not labels:
                continue  # (its stages went on elsewhere: recover)
            self.interp.write_err(f"onesh: runtime {rt} is gone ({why}); its stages are lost: "
                                  f"{' | '.join(labels)}\n")
        for i, (rt, idx) in enumerate(self.segments):
            if rt in lost and i not in statuses:
                waits[i].cancel()
                statuses[i] = [LOST_STATUS] * len(idx)
        # A stage writing into a lost one can never flush its output: it is
        # killed outright.  The others end as on Ctrl-C (SIGTERM: a stage
        # writing a file commits what it has), then SIGKILL after a grace.
        feeding_lost = [i for i, ep in self.started
                        if i + 1 < len(self.segments) and self.segments[i + 1][0] in lost]
        await asyncio.gather(*(self.signal_segment(i, signal.SIGKILL) for i in feeding_lost))
        self.killed.update(feeding_lost)
        survivors = {i: t for i, t in waits.items() if not t.done()}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not survivors:
                break
            if sig == signal.SIGKILL:
                self.killed.update(survivors)
            await self.signal_all(sig)
            await asyncio.wait(survivors.values(), timeout=STOP_GRACE)
            survivors = {i: t for i, t in survivors.items() if not t.done()}
        # (a segment that never reported gets LOST_STATUS, in run())

    async def signal_segment(self, i: int, sig: int) -> None:
        from onesh.net.rpc import RpcError

        ep = dict(self.started)[i]
        with contextlib.suppress(RpcError):
            await self.sc.call(ep, "stage.signal", {"job": self.id, "sig": int(sig), "segment": i}, 2.0)

    async def wait_segment(self, i: int, endpoint: str, statuses: dict[int, list[int]]) -> None:
        from onesh.net.rpc import RpcError

        rt = self.segments[i][0]
        while rt not in self.watch.lost:
            try:
                reply = await self.sc.call(endpoint, "stage.wait",
                                           {"job": self.id, "segment": i, "timeout": WAIT_POLL},
                                           WAIT_POLL + CONFIRM_TIMEOUT)
            except RpcError as e:
                if "no segment" in str(e):
                    self.watch.declare(rt, "it restarted, without the job's stages")
                elif not await self.watch.confirm(rt, "it stopped answering"):
                    await asyncio.sleep(0.1)
                continue
            if reply.get("move") and not reply.get("done"):
                # (`migrate`, its runtime leaving or overloaded; a new wait follows it)
                await self.move(i, str(reply["move"]), statuses, str(reply.get("why") or ""),
                                float(reply.get("cpu") or 0.0))
                return
            if reply.get("done"):
                statuses[i] = [int(s) for s in reply.get("statuses", [])]
                if i in self.recoverable and any(s >= 128 for s in statuses[i]) and i - 1 not in statuses:
                    # It was killed, not its runtime: the writer upstream
                    # (which waits for a successor to a stage that holds
                    # its acks) sees the pipe end, as with an OS pipe.
                    await self.reader_gone(i)
                return

    def on_signal(self, sig: int) -> None:
        if sig == signal.SIGTSTP:
            coro = self.stop()
        else:
            self.interrupted += sig != signal.SIGCONT
            coro = self.signal_all(sig)
        task = asyncio.get_running_loop().create_task(coro)
        self._signal_tasks.add(task)
        task.add_done_callback(self._signal_tasks.discard)

    async def stop(self) -> None:
        """Ctrl-Z: stop the remote stages, then ourselves (SIGCONT, from fg
        or bg, continues both: see on_signal)."""
        await self.signal_all(signal.SIGTSTP)
        os.kill(os.getpid(), signal.SIGSTOP)

    async def signal_all(self, sig: int) -> None:
        """Signal every segment of the job (those on a lost runtime cannot be)."""
        from onesh.net.rpc import RpcError

        async def one(ep: str) -> None:
            with contextlib.suppress(RpcError):
                await self.sc.call(ep, "stage.signal", {"job": self.id, "sig": int(sig)}, 2.0)

        lost = {self.watch.endpoints.get(rt) for rt in self.watch.lost}
        await asyncio.gather(*(one(ep) for ep in dict.fromkeys(ep for _, ep in self.started) if ep not in lost))


async def pump_labelled(receiver: Any, fd: int, runtime: Callable[[], str]) -> int:
    """A stage's stderr to `fd`, each line prefixed with `[runtime] ` (a
    line that already names it, like "... (on r2)", is left alone)."""
    from onesh.builtins.api import write_all
    from onesh.net.pipe_protocol import PipeError

    partial = b""
    total = 0
    label = named = b""
    try:
        while True:
            try:
                data = await receiver.read()
            except PipeError:
                data = b""
            if not data:
                break
            total += len(data)
            label, named = f"[{runtime()}] ".encode(), f"(on {runtime()})".encode()
            *lines, partial = (partial + data).split(b"\n")
            out = b"".join(ln + b"\n" if named in ln else label + ln + b"\n" for ln in lines)
            if out:
                write_all(fd, out)
        if partial:
            write_all(fd, (partial if named in partial else label + partial) + b"\n")
    except OSError:
        pass  # our stderr is gone: nothing to tell anyone
    finally:
        await receiver.close()
    return total


async def _drain_or_abandon(pumps: list[tuple[Any, asyncio.Task[int]]]) -> None:
    """Every segment has reported: its output pipes normally ended before
    that.  A pipe whose writer died without an end of stream (its stage
    host was killed, its runtime vanished) would keep the job waiting
    forever: once such a pipe has nothing buffered and has been silent
    for `ABANDON_AFTER` seconds, stop pumping it."""
    last: dict[int, tuple[int, float]] = {}  # pump → (bytes read, when that changed)
    loop = asyncio.get_running_loop()
    while True:
        pending = [(rx, t) for rx, t in pumps if not t.done()]
        if not pending:
            return
        now = loop.time()
        for rx, task in pending:
            seen = last.get(id(rx))
            if rx.proto.eof or rx.proto.buffered or seen is None or seen[0] != rx.bytes_in:
                last[id(rx)] = (rx.bytes_in, now)  # ending, draining or moving: keep pumping
            elif now - seen[1] > ABANDON_AFTER:
                task.cancel()
        await asyncio.wait([t for _, t in pending], timeout=0.25)


def start_order(dialled: list[bool]) -> list[int]:
    """The order to start segments in: whoever binds a pipe starts before
    whoever dials it.  Normally the reader binds, so from the last segment
    to the first; a pipe whose reader dials out (dialled[i]) is bound by
    its writer, i - 1, which then goes first.  (A chain: always possible.)"""
    n = len(dialled)
    needs: dict[int, set[int]] = {i: set() for i in range(n)}
    for i in range(1, n):
        if dialled[i]:
            needs[i].add(i - 1)
        else:
            needs[i - 1].add(i)
    order: list[int] = []
    while len(order) < n:
        i = max(j for j in range(n) if j not in order and needs[j] <= set(order))
        order.append(i)
    return order


def _bind_host(boot: list[str]) -> str:
    """Where our pipe receivers listen: loopback for a local cluster, else
    the address we reach the cluster from, which its runtimes (devices
    included) can dial back (ONESH_PIPE_HOST overrides)."""
    forced = os.environ.get("ONESH_PIPE_HOST")
    if forced:
        return forced
    from onesh.net.rpc import endpoint_host

    hosts = sorted({endpoint_host(b) for b in boot})
    if set(hosts) <= {"127.0.0.1", "localhost"}:
        return "127.0.0.1"
    from onesh.net.route import source_address

    return source_address(hosts[0])


def _readable(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False
