"""Pipeline stages on a runtime: `stage.*` requests.

A *segment* is a run of consecutive pipeline stages that the scheduler put
on the same runtime (joined by plain OS pipes).  Each segment runs in its
own stage-host process (`python -m onesh.runtime.stagehost`, or the same
forked from a warm zygote: warmstart.py), so a busy data path never
delays this runtime's heartbeats or control requests.

    stage.start   spec → {stdin_endpoint, pid}: start a segment
    stage.wait    {job, segment, timeout} → {done, statuses}: long poll
    stage.signal  {job, sig, segment?}: signal every segment of a job here (or one)
    stage.migrate {job, segment, target}: move a running segment (its shell
                  hears of it in stage.wait, which then answers {move})
    stage.repipe  {job, segment, endpoint | gone}: its output's reader was
                  restarted elsewhere (recovery): go on writing to it there;
                  or it was killed: the pipe ends (EPIPE)
    stage.list    → rows for `ps`: job, segment, stage text, pids, state, bytes
    stage.which   {names} → {found, stages}: which external commands exist here
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onesh.aio import within
from onesh.net.rpc import HandlerError
from onesh.runtime.cpuload import Overload, cpu_seconds
from onesh.runtime.warmstart import WarmProcess, Zygote

if TYPE_CHECKING:
    from onesh.runtime.daemon import Runtime

log = logging.getLogger("onesh.stages")

# A segment's stage host: forked from the runtime's zygote (warm), or a
# new interpreter (cold); stages.py uses only what both have.
StageProcess = asyncio.subprocess.Process | WarmProcess

FINISHED_KEEP = 120.0  # seconds a finished segment's statuses stay for stage.wait
# A running segment whose shell has not asked about it (stage.wait, which
# it does at least every second) for this long was given up: its shell
# was killed, or declared this runtime lost while it was unreachable
# (SIGSTOP, a partition).  Nobody will read its output: stop it.
LEASE = 5.0
LEASE_CHECK = 1.0
EXIT_GRACE = 10.0  # seconds a stage host has to exit once it reported (or closed its stdout)
DRAIN_WAIT = 5.0  # seconds a leaving runtime gives its shells to move its movable segments away
ANYWHERE = "*"  # a move's target when this runtime is leaving: wherever the shell finds room


@dataclass
class Segment:
    job: str
    index: int
    labels: list[str]
    proc: StageProcess
    started: float = field(default_factory=time.time)
    pids: list[int] = field(default_factory=list)
    pgids: list[int] = field(default_factory=list)  # process groups of its commands
    statuses: list[int] | None = None
    polled: float = field(default_factory=time.monotonic)  # the shell last asked about it
    stopped: bool = False  # by job control: no lease runs out while stopped
    bytes_in: int = 0
    bytes_out: int = 0
    relinks: int = 0  # times its output pipe was re-opened (fault injection: SIGUSR2)
    stdin_transport: str = ""  # its input pipe's scheme (unix, tls, tcp): says how it was wired
    io: dict[str, Any] = field(default_factory=dict)  # the stage host's last report (lines, blocked)
    finished_at: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)
    recoverable: bool = False  # one agent owning its pipes that can go on elsewhere (coreutils/restart.py)
    moved_from: list[str] = field(default_factory=list)  # the runtimes it ran on before (recovery, migrate)
    move_to: str = ""  # `migrate` asked it to go there: its shell's next stage.wait hears of it
    move_why: str = ""  # why it is to move, when not for `migrate` (this runtime is overloaded)
    moving: asyncio.Event = field(default_factory=asyncio.Event)
    pinned: bool = False  # a command of it is pinned to this runtime by name: only `migrate` moves it


class StageService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.segments: dict[tuple[str, int], Segment] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.zygote: Zygote | None = None  # warm stage hosts, from the first stage on
        self.load: Overload[tuple[str, int]] = Overload(runtime.cfg.capacity, runtime.cfg.overload_after)

    async def handle(self, op: str, body: dict[str, Any], peer: bytes) -> dict[str, Any]:
        if op == "start":
            return await self.start(body)
        if op == "wait":
            return await self.wait(body)
        if op == "signal":
            return self.signal(body)
        if op == "repipe":
            return await self.repipe(body)
        if op == "migrate":
            return self.migrate(body)
        if op == "list":
            return {"runtime": self.runtime.cfg.name, "rows": self.rows()}
        if op == "which":
            names = body.get("names", [])
            if not isinstance(names, list):
                raise HandlerError("stage.which: names must be a list")
            found = [n for n in names if isinstance(n, str) and "/" not in n and shutil.which(n)]
            running = sum(1 for s in self.segments.values() if s.statuses is None)
            return {"found": found, "stages": running}
        raise HandlerError(f"stage: unknown operation {op!r}")

    # -------------------------------------------------------------- start
    async def start(self, spec: dict[str, Any]) -> dict[str, Any]:
        job, index = spec.get("job"), spec.get("segment")
        stages = spec.get("stages")
        if not isinstance(job, str) or not isinstance(index, int) or not isinstance(stages, list) or not stages:
            raise HandlerError("stage.start: job (str), segment (int) and stages (list) are required")
        old = self.segments.get((job, index))
        if old is not None:
            if spec.get("recover") != "resume":
                raise HandlerError(f"stage.start: segment {job}#{index} already exists")
            # A segment moving back here (migrate, recovery): its earlier
            # run was killed; make sure it is gone before its successor starts.
            if old.statuses is None:
                kill_segment(old)
                with contextlib.suppress(TimeoutError):
                    await within(old.done.wait(), 2.0)
        cfg = self.runtime.cfg
        env = dict(os.environ)
        env.update({
            "ONESH_RUNTIME": cfg.name,
            "ONESH_SECRET": os.path.abspath(cfg.secret_path),
            # Our own listening endpoint first (a dial-out runtime's
            # advertised one is a relay's, a round trip through the cluster;
            # and a stage host binds its pipes on this address).
            "ONESH_BOOT": ",".join([self.runtime.local_endpoint or self.runtime.endpoint, *cfg.join]),
            "ONESH_DEVICES": ";".join(f"{k}={v}" for k, v in sorted(cfg.devices.items())),
            "ONESH_SPILL_DIR": spill_dir(os.path.abspath(cfg.data_dir)),
        })
        env.pop("ONESH_DEBUG_STAGEHOST", None)
        if self.zygote is None:
            self.zygote = Zygote(env, owner=f"{cfg.name}:{cfg.data_dir}")
        proc: StageProcess | None = await self.zygote.spawn()
        if proc is None:  # cold: a new interpreter
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "onesh.runtime.stagehost",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None,
                env=env, start_new_session=True)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(spec).encode() + b"\n")
        await proc.stdin.drain()
        # stdin stays open: it is the stage host's lifeline.  When this
        # runtime dies, the stage host reads end-of-file and stops its
        # commands rather than run on, orphaned (stagehost.watch_lifeline).
        try:
            first = await within(proc.stdout.readline(), 20.0)
            hello: dict[str, Any] = json.loads(first) if first else {"error": "stage host exited during start-up"}
        except (TimeoutError, ValueError) as e:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise HandlerError(f"stage.start: stage host did not start on {cfg.name}: {e}") from None
        if "error" in hello:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise HandlerError(f"{hello['error']} (on {cfg.name})")
        labels = [str(s.get("label", "")) for s in stages if isinstance(s, dict)]
        # (A stage that dials its input pipe binds nothing: its transport
        # is the writer's endpoint's.)
        stdin_spec = spec.get("stdin")
        dialled = stdin_spec.get("connect", "") if isinstance(stdin_spec, dict) else ""
        stdin_ep = str(hello.get("stdin_endpoint", "") or dialled)
        moved = spec.get("moved_from")
        seg = Segment(job, index, labels, proc, pids=list(hello.get("pids", [])),
                      pgids=[int(p) for p in hello.get("pgids", [])],
                      stdin_transport=stdin_ep.split("://", 1)[0] if "://" in stdin_ep else "",
                      recoverable=bool(hello.get("recoverable")), pinned=bool(spec.get("pinned")),
                      moved_from=[str(m) for m in moved] if isinstance(moved, list) else [])
        self.segments[(job, index)] = seg
        task = asyncio.create_task(self.follow(seg))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return {"stdin_endpoint": hello.get("stdin_endpoint", ""),
                "stdout_endpoint": hello.get("stdout_endpoint", ""), "pid": proc.pid,
                "pids": seg.pids, "runtime": cfg.name, "recoverable": bool(hello.get("recoverable")),
                "resumed_at": hello.get("resumed_at", -1), "replays": str(hello.get("replays") or "")}

    async def follow(self, seg: Segment) -> None:
        """Read the stage host's status lines until it exits."""
        assert seg.proc.stdout is not None
        while True:
            line = await seg.proc.stdout.readline()
            if not line:
                break
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if "pids" in msg:
                seg.pids = [int(p) for p in msg["pids"]]
            if "pgids" in msg:
                seg.pgids = [int(p) for p in msg["pgids"]]
            if msg.get("recoverable") is False:
                seg.recoverable = False  # (a program that let go of its input: no longer movable)
            if isinstance(msg.get("io"), dict):
                seg.io = msg["io"]
                seg.bytes_in = int(seg.io.get("bytes_in") or 0)
                seg.bytes_out = int(seg.io.get("bytes_out") or 0)
            if "bytes_in" in msg:
                seg.bytes_in = int(msg["bytes_in"])
                seg.bytes_out = int(msg.get("bytes_out", 0))
                seg.relinks = int(msg.get("relinks", 0))
            if "statuses" in msg:
                seg.statuses = [int(s) for s in msg["statuses"]]
                # The segment's answer is in, its output delivered: the
                # shell need not also wait out the stage host's own exit
                # (zmq and process teardown, a few ms of every job).
                seg.finished_at = time.time()
                seg.done.set()
        try:
            rc = await within(seg.proc.wait(), EXIT_GRACE)
        except TimeoutError:
            log.warning("job %s segment %d: its stage host did not exit %.0fs after it %s; killing it",
                        seg.job, seg.index, EXIT_GRACE, "reported" if seg.statuses is not None else "closed its stdout")
            kill_segment(seg)
            rc = await seg.proc.wait()
        if seg.proc.stdin is not None:
            seg.proc.stdin.close()
        if seg.statuses is None:
            # The stage host died without reporting (killed): every stage of
            # the segment shares its fate.
            st = 128 - rc if rc < 0 else (rc or 1)
            seg.statuses = [st] * len(seg.labels)
            seg.finished_at = time.time()
        seg.done.set()
        self.prune()

    def prune(self) -> None:
        now = time.time()
        for key, s in list(self.segments.items()):
            if s.statuses is not None and now - s.finished_at > FINISHED_KEEP:
                del self.segments[key]

    # -------------------------------------------------------- wait/signal
    async def wait(self, body: dict[str, Any]) -> dict[str, Any]:
        seg = self.segments.get((str(body.get("job")), int(body.get("segment", -1))))
        if seg is None:
            raise HandlerError(f"stage.wait: no segment {body.get('job')}#{body.get('segment')} "
                               f"on {self.runtime.cfg.name}")
        timeout = min(float(body.get("timeout", 1.0)), 5.0)
        seg.polled = time.monotonic()
        if not seg.move_to:
            done, moving = asyncio.ensure_future(seg.done.wait()), asyncio.ensure_future(seg.moving.wait())
            await asyncio.wait({done, moving}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            for t in (done, moving):
                t.cancel()
            await asyncio.gather(done, moving, return_exceptions=True)
        seg.polled = time.monotonic()
        out = {"done": seg.statuses is not None, "statuses": seg.statuses or [],
               "bytes_in": seg.bytes_in, "bytes_out": seg.bytes_out}
        if seg.move_to and seg.statuses is None:
            out["move"] = seg.move_to  # (its shell moves it: Job.move)
            if seg.move_why:
                out["why"], out["cpu"] = seg.move_why, round(self.load.rates.get((seg.job, seg.index), 0.0), 3)
            seg.move_to = seg.move_why = ""
            seg.moving.clear()
        return out

    def migrate(self, body: dict[str, Any]) -> dict[str, Any]:
        """`migrate JOB:SEG RUNTIME`: the shell running the job hears of it
        in its next stage.wait (at once: that call is waiting) and moves
        the segment (Job.move), as it restarts one whose runtime died."""
        seg = self.segments.get((str(body.get("job")), int(body.get("segment", -1))))
        target = body.get("target")
        if seg is None or seg.statuses is not None:
            raise HandlerError(f"no running segment {body.get('job')}:{body.get('segment')} "
                               f"on {self.runtime.cfg.name}")
        if not isinstance(target, str) or not target:
            raise HandlerError("stage.migrate: target (a runtime) is required")
        if target == self.runtime.cfg.name:
            raise HandlerError(f"{' | '.join(seg.labels).strip()} already runs on {target}")
        if not seg.recoverable:
            raise HandlerError(f"{' | '.join(seg.labels).strip()} cannot move: only a segment that is one builtin "
                               "agent that can go on elsewhere (`help NAME` says which), or one program whose "
                               "input fits ONESH_REPLAY_MAX, between network pipes, can")
        seg.move_to, seg.move_why = target, ""
        seg.moving.set()
        return {"asked": True}

    async def repipe(self, body: dict[str, Any]) -> dict[str, Any]:
        """The reader of a segment's output was restarted elsewhere (its
        runtime died): the segment's writer dials `endpoint` and replays
        what that reader has not acknowledged."""
        seg = self.segments.get((str(body.get("job")), int(body.get("segment", -1))))
        endpoint, gone = body.get("endpoint"), bool(body.get("gone"))
        if seg is None or not ((isinstance(endpoint, str) and endpoint) or gone):
            raise HandlerError(f"stage.repipe: no segment {body.get('job')}#{body.get('segment')} "
                               f"on {self.runtime.cfg.name}, or neither an endpoint nor gone")
        if seg.statuses is not None or seg.proc.stdin is None:
            return {"repiped": False}
        seg.polled = time.monotonic()
        seg.proc.stdin.write(json.dumps({"repipe": endpoint} if endpoint else {"gone": True}).encode() + b"\n")
        await seg.proc.stdin.drain()
        return {"repiped": True}

    def signal(self, body: dict[str, Any]) -> dict[str, Any]:
        job = str(body.get("job"))
        sig = int(body.get("sig", signal.SIGTERM))
        only = body.get("segment")  # one segment of the job, or all of them here
        if sig not in {s.value for s in signal.Signals}:
            raise HandlerError(f"stage.signal: bad signal {sig}")
        sent = 0
        for (j, index), seg in self.segments.items():
            if j == job and seg.statuses is None and (only is None or only == index):
                seg.polled = time.monotonic()
                if sig in (signal.SIGTSTP, signal.SIGSTOP):
                    seg.stopped = True
                elif sig == signal.SIGCONT:
                    seg.stopped = False
                if sig == signal.SIGKILL:
                    kill_segment(seg)  # the stage host cannot forward this one
                    sent += 1
                    continue
                # The stage host forwards it to its commands' process group
                # and keeps pumping what they still write.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(seg.proc.pid, sig)
                    sent += 1
        return {"signalled": sent}

    async def lease_loop(self) -> None:
        """Stop the segments that no shell asks about any more (LEASE); and
        (the same once-a-second look) measure what the running ones cost
        in CPU, moving one off when this runtime is overloaded (cpuload.py)."""
        while True:
            await asyncio.sleep(LEASE_CHECK)
            now = time.monotonic()
            for seg in self.segments.values():
                if seg.statuses is None and not seg.stopped and now - seg.polled > LEASE:
                    log.warning("job %s segment %d: no word from its shell for %.0fs; stopping it",
                                seg.job, seg.index, now - seg.polled)
                    seg.polled = now  # once: follow() records how it ends
                    kill_segment(seg)
            self.weigh(now)

    def weigh(self, now: float) -> None:
        """One look at the running segments' CPU time (cpuload.Overload)."""
        running = {key: seg for key, seg in self.segments.items() if seg.statuses is None and not seg.stopped}
        if not running:
            self.load.idle()
            return
        groups = {key: {seg.proc.pid, *seg.pgids} for key, seg in running.items()}
        spent = cpu_seconds(set().union(*groups.values()))
        totals = {key: sum(spent.get(g, 0.0) for g in gs) for key, gs in groups.items()}
        movable = {key for key, seg in running.items() if seg.recoverable and not seg.pinned and not seg.move_to}
        key = self.load.sample(now, totals, movable)
        if key is not None:
            seg = running[key]
            cfg = self.runtime.cfg
            seg.move_why = (f"runtime {cfg.name} is overloaded: its stages used {self.load.used:.1f} of its "
                            f"{cfg.capacity:g} CPUs for {self.load.after:g}s")
            seg.move_to = ANYWHERE
            seg.moving.set()
            log.info("job %s segment %d: %s; offered to its shell to move", seg.job, seg.index, seg.move_why)

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for (job, index), seg in sorted(self.segments.items()):
            state = "done" if seg.statuses is not None else "stopped" if seg.stopped else "running"
            out.append({"job": job, "segment": index, "stages": seg.labels, "pids": seg.pids,
                        "host_pid": seg.proc.pid, "state": state, "statuses": seg.statuses,
                        "bytes_in": seg.bytes_in, "bytes_out": seg.bytes_out, "relinks": seg.relinks,
                        "stdin_transport": seg.stdin_transport, "moved_from": seg.moved_from,
                        "lines_in": seg.io.get("lines_in"), "lines_out": seg.io.get("lines_out"),
                        "blocked": bool(seg.io.get("blocked")) and seg.statuses is None,
                        "started": seg.started})
        return out

    async def stop_all(self) -> None:
        """This runtime is leaving (SIGTERM): the segments that can go on
        elsewhere are handed to their shells to move (stage.wait answers
        {move: ANYWHERE}), for up to DRAIN_WAIT; the rest end."""
        movable = [s for s in self.segments.values() if s.statuses is None and s.recoverable and not s.stopped]
        for seg in movable:
            seg.move_to, seg.move_why = ANYWHERE, ""  # (leaving, not overloaded: anywhere will do)
            seg.moving.set()
        if movable:
            with contextlib.suppress(TimeoutError):
                await within(asyncio.gather(*(s.done.wait() for s in movable)), DRAIN_WAIT)
        for seg in self.segments.values():
            if seg.statuses is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(seg.proc.pid, signal.SIGTERM)
        if self.zygote is not None:
            await self.zygote.close()


def kill_segment(seg: Segment) -> None:
    """SIGKILL a segment's commands (their process groups) and its stage
    host: killing the stage host alone would orphan its commands."""
    for pgid in seg.pgids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(seg.proc.pid, signal.SIGKILL)


def spill_dir(data_dir: str) -> str:
    """Where this runtime's stages keep their spills (a sort's lines on
    their way to the namespace, a restored checkpoint's): in its data
    directory, emptied when it starts (a device killed mid-spill leaves
    them there, and no stage of its own runs yet)."""
    return os.path.join(data_dir, "spill")


def install(runtime: Runtime) -> None:
    shutil.rmtree(spill_dir(runtime.cfg.data_dir), ignore_errors=True)
    service = StageService(runtime)
    runtime.stage_cpu = lambda: service.load.used
    runtime.handlers["stage"] = service.handle
    runtime.loops.append(service.lease_loop)
    runtime.on_shutdown.append(service.stop_all)
