"""Stage host: runs one segment of a distributed pipeline on a runtime.

Started by the runtime (`stage.start`) as `python -m onesh.runtime.stagehost`
with the segment spec as one JSON line on stdin.  It

1. binds a network-pipe receiver for the segment's input (when the input
   comes from another segment or from the shell) and reports its endpoint
   as the first JSON line on stdout;
2. starts the segment's commands with plain OS pipes between them (a
   builtin agent is `python -m onesh.coreutils NAME`, a shell builtin or
   function runs under `python -m onesh -c`, an external command as is);
3. pumps: network pipe → first command's stdin, last command's stdout →
   the next segment's pipe (or a namespace file, durable on k replicas),
   every command's stderr → the shell's stderr pipe;
4. forwards SIGINT/SIGTERM/SIGHUP it receives to its commands and keeps
   pumping what they still write, then reports the exit statuses
   (`{"statuses": [...]}`) and exits.

Segment spec:
    {"job": str, "segment": int, "cwd": str, "env": {..},
     "stages": [{"argv": [..], "mode": "agent"|"exec"|"shell"|"python"|"node", "label": str,
                 "stderr_to_stdout": bool, "stderr_null": bool (`2>/dev/null`),
                 "program": {..} (python, node: onesh.runtime.launch)}],
     "stdin":  {"kind": "null"} | {"kind": "pipe"} | {"kind": "file", "path": P}
               | {"kind": "pipe", "connect": E}  (we dial out: the writer bound E)
     "stdout": {"kind": "null"} | {"kind": "pipe", "endpoint": E, "pipe_id": I}
               | {"kind": "pipe", "bind": true, "pipe_id": I, "transport": T}  (our reader dials out:
                 we bind, with T (tls, zmq), and report the endpoint as "stdout_endpoint")
               | {"kind": "file", "path": P, "append": bool}
               | {"kind": "topic", "path": P}  (a named pipe: every reader gets it),
     "stderr": {"kind": "pipe", "endpoint": E, "pipe_id": I} | {"kind": "null"}}
The input pipe's id is "<job>/<segment>/in"; the receiving end names the
pipe, so a sender can only ever feed the pipe it was wired to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from onesh.builtins.api import write_all
from onesh.runtime import agentpipes
from onesh.runtime.agentpipes import AgentReports
from onesh.runtime.forked import ForkedCommand, entry_point, fork_command
from onesh.runtime.programreplay import ProgramReplay, applies

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
REPORT_EVERY = 0.5  # seconds between the stage host's reports of its data flow: several per
# second, so `top --cluster`, sampling every second, never sees the same figure twice for a stage that moves data


def _emit(msg: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


SPILL_TRIES = 3  # writes of a checkpoint spill before the stage gives up being restartable
CHECKPOINTS = "/.onesh/checkpoints"  # the namespace directory of stateful stages' checkpoints (one file each)

class SpecError(Exception):
    pass


@dataclass
class Wiring:
    """The ends of a segment's OS pipes left for the stage host's pumps."""
    feed_w: int | None  # → the first command's stdin (from the input pipe or a file)
    drain_r: int | None  # ← the last command's stdout (to the output pipe, a file or a topic)
    err_r: int  # ← every command's stderr
    errors: list[str]  # messages for the shell's stderr (command not found)
    # The first and last commands, when builtin agents owning the
    # segment's input and output pipes (agentpipes.py; one and the same
    # when the segment is that one agent).
    agent_in: AgentReports | None = None
    agent_out: AgentReports | None = None
    note_w: int | None = None  # ← the stage host's own word on the segment's stderr (its input was cut off)


def _tcp_host(endpoint: str) -> str:
    """The host part of a tcp://HOST:PORT endpoint (loopback if none)."""
    if endpoint.startswith("tcp://"):
        h = endpoint[len("tcp://"):].rsplit(":", 1)[0]
        if h and h not in ("*", "0.0.0.0"):  # (a wildcard is no address to give a writer)
            return h
    return "127.0.0.1"


def command_argv(stage: dict[str, Any], runtime: str) -> list[str] | str:
    """The argv to execute, or an error message (command not found)."""
    argv = stage.get("argv")
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise SpecError("stage argv must be a non-empty list of strings")
    mode = stage.get("mode", "exec")
    if mode == "agent":
        return [sys.executable, "-m", "onesh.coreutils", *argv]
    if mode in ("python", "node"):
        # a program in the onesh context (the evaluation-context replacement)
        from onesh.runtime.launch import BadProgram, program_argv

        try:
            return program_argv(stage, runtime)
        except BadProgram as e:
            raise SpecError(str(e)) from None
    if mode == "shell":
        return [sys.executable, "-m", "onesh", "-c", argv[0], *argv[1:]]
    if mode != "exec":
        raise SpecError(f"unknown stage mode {mode!r}")
    if "/" not in argv[0] and shutil.which(argv[0]) is None:
        return f"onesh: {argv[0]}: command not found (on {runtime})\n"
    return argv


_keys: dict[str, Any] = {}


def cluster_keys() -> Any:
    """The cluster's keys, from the secret file the runtime named
    (derived once per process: a zygote derives them for all its
    children)."""
    from onesh.net.keys import ClusterKeys, load_secret

    path = os.environ["ONESH_SECRET"]
    if path not in _keys:
        _keys[path] = ClusterKeys.from_secret(load_secret(path))
    return _keys[path]


class StageHost:
    def __init__(self, spec: dict[str, Any]) -> None:
        import zmq.asyncio

        self.spec = spec
        self.runtime = os.environ.get("ONESH_RUNTIME", "?")
        self.keys = cluster_keys()
        self.boot = [b for b in os.environ.get("ONESH_BOOT", "").split(",") if b]
        self.ctx = zmq.asyncio.Context()
        self.procs: list[asyncio.subprocess.Process | ForkedCommand | None] = []
        self.pgids: list[int] = []  # process groups of our commands (the first one, unless its leader was gone)
        self.bytes_in = 0
        self.bytes_out = 0
        self.namespace: Any = None
        self.relinks: set[asyncio.Task[None]] = set()
        self.on_signal: list[asyncio.Task[None]] = []
        self.signalled = 0
        self.publish_interrupted = False
        self.auth: Any = None  # the ZAP handler, once a ZeroMQ pipe end is bound here (zap_for)
        self.in_bind = ""  # where the input pipe's receiving end listens (when it comes from a pipe)
        self.recoverable = False  # one stateless agent owning both pipes: it can be restarted elsewhere
        # A program alone between two pipes (not a builtin agent), which
        # can be run again elsewhere (programreplay.py).
        self.replay: ProgramReplay | None = None
        self.err_sender: Any = None
        self.background: set[asyncio.Task[None]] = set()  # (checkpoint stores: cancelled at the end)

    def pipe_id(self, what: str) -> str:
        return f"{self.spec['job']}/{self.spec['segment']}/{what}"

    def ns(self) -> Any:
        if self.namespace is None:
            from onesh.runtime.nsclient import Namespace

            self.namespace = Namespace(self.ctx, self.keys, self.boot, local_runtime=self.runtime)
        return self.namespace

    async def run(self) -> int:
        try:
            stages = self.spec.get("stages")
            if not isinstance(stages, list) or not stages:
                raise SpecError("no stages")
            stdin_spec = self.spec.get("stdin") or {"kind": "null"}
            stdout_spec = self.spec.get("stdout") or {"kind": "null"}
            stderr_spec = self.spec.get("stderr") or {"kind": "null"}
            # The commands first, while this process has no thread but its
            # own: builtin agents are forked from it (no new interpreter),
            # and a fork is only safe before zmq starts its I/O threads.
            wiring = await self.start_commands(stages, stdin_spec, stdout_spec)
        except SpecError as e:
            _emit({"error": f"onesh: bad stage spec: {e}"})
            return 2
        try:
            return await self.run_network(wiring, stdin_spec, stdout_spec, stderr_spec)
        except BaseException:
            self.killpg(signal.SIGKILL)  # (no command outlives a stage host that failed to start)
            raise
        finally:
            for task in self.background:
                task.cancel()
            await asyncio.gather(*self.background, return_exceptions=True)
            if self.namespace is not None:
                await self.namespace.close()
            self.ctx.destroy(linger=0)

    async def run_network(self, wiring: Wiring, stdin_spec: dict[str, Any], stdout_spec: dict[str, Any],
                          stderr_spec: dict[str, Any]) -> int:
        from onesh.net.pipes import PipeReceiver, PipeSender
        from onesh.net.transport import pipe_bind

        try:
            if self.recoverable and self.spec.get("stateful") and wiring.agent_in is not None:
                await self.checkpoints(wiring.agent_in)
            receiver = taken = None
            if self.replay is not None:
                # A program's output pipe first: its successor learns where
                # the reader stands (and so where its input goes on from).
                taken = PipeSender(self.ctx, self.keys, str(stdout_spec.get("pipe_id")),
                                   str(stdout_spec["endpoint"]), adopt=self.replay.resume,
                                   epoch=int(self.spec.get("epoch") or 0))
                await taken.start()
                why = await self.replay.take_over(taken) if self.replay.resume else ""
                if why:
                    _emit({"error": why})
                    self.killpg(signal.SIGKILL)
                    await taken.abort("the stage did not start")
                    return 1
            if stdin_spec.get("kind") == "pipe" and stdin_spec.get("connect"):
                # We dial out (the writer cannot reach us): its end is bound.
                receiver = PipeReceiver(self.ctx, self.keys, self.pipe_id("in"), connect=str(stdin_spec["connect"]))
                endpoint = await receiver.start()
            elif wiring.agent_in is not None:
                endpoint = await wiring.agent_in.started()  # (the agent listens: agentpipes.py)
            elif stdin_spec.get("kind") == "pipe":
                self.zap_for(self.in_bind)
                receiver = PipeReceiver(self.ctx, self.keys, self.pipe_id("in"), bind=self.in_bind,
                                        **(self.replay.receiver_options() if self.replay is not None else {}))
                endpoint = await receiver.start()
            else:
                endpoint = ""
            out_sender = err_sender = None
            if wiring.agent_out is not None:
                wiring.agent_out.watch()  # (the agent dials the next segment itself)
            elif stdout_spec.get("kind") == "pipe" and stdout_spec.get("bind"):
                # Our reader dials out: we bind, on our runtime's address,
                # with the shell's transport between hosts, and it is told
                # where (stdout_endpoint in our first line).
                wanted = stdout_spec.get("transport")
                bind = pipe_bind(_tcp_host(self.boot[0] if self.boot else ""), False,
                                 wanted if isinstance(wanted, str) else None)
                self.zap_for(bind)
                out_sender = PipeSender(self.ctx, self.keys, str(stdout_spec.get("pipe_id")), bind=bind)
                await out_sender.start()
            elif taken is not None and self.replay is not None:
                out_sender = taken
                self.replay.commit_as_delivered(receiver, out_sender)
            elif stdout_spec.get("kind") == "pipe":
                out_sender = PipeSender(self.ctx, self.keys, str(stdout_spec.get("pipe_id")),
                                        str(stdout_spec["endpoint"]))
                await out_sender.start()
            if stderr_spec.get("kind") == "pipe":
                # (a successor stage goes on with its predecessor's stderr pipe)
                err_sender = PipeSender(self.ctx, self.keys, str(stderr_spec.get("pipe_id")),
                                        str(stderr_spec["endpoint"]), adopt=self.spec.get("recover") == "resume",
                                        epoch=int(self.spec.get("epoch") or 0))
                await err_sender.start()
                self.err_sender = err_sender
            statuses = await self.run_segment(wiring, receiver, stdin_spec, out_sender, stdout_spec,
                                              err_sender, endpoint)
            if receiver is not None:
                await receiver.close()
            relinks = out_sender.reconnects if out_sender is not None else 0
            if wiring.agent_in is not None:
                wiring.agent_in.drain()
                self.bytes_in = wiring.agent_in.io["bytes_in"]
            if wiring.agent_out is not None:
                wiring.agent_out.drain()
                self.bytes_out, relinks = wiring.agent_out.io["bytes_out"], wiring.agent_out.relinks
                if not wiring.agent_out.finished:
                    await wiring.agent_out.end_output(self.ctx, self.keys, str(stdout_spec.get("pipe_id")),
                                                      str(stdout_spec.get("endpoint")),
                                                      epoch=int(self.spec.get("epoch") or 0))
            _emit({"bytes_in": self.bytes_in, "bytes_out": self.bytes_out, "relinks": relinks})
            _emit({"statuses": statuses})
            return 0
        finally:
            if self.auth is not None:
                self.auth.stop()

    def checkpoint_path(self) -> str:
        job = str(self.spec["job"]).replace(":", "_").replace("/", "_")
        return f"{CHECKPOINTS}/{job}/{self.spec['segment']}"

    async def checkpoints(self, agent: AgentReports) -> None:
        """A stateful agent's checkpoints: stored in the namespace (a file,
        its chunks on 2 runtimes, acknowledged once stored), then the agent
        hears it may let go of the input they cover.  A tool whose state is
        what it read (sort) also spills it: each spill is a file beside the
        checkpoint (PATH.0, PATH.1, ...), which counts them.  A successor is
        first given the last one stored, and the spills gathered in a local
        file."""
        ns, path = self.ns(), self.checkpoint_path()
        spills = 0
        if self.spec.get("recover") == "resume":
            try:
                ckpt = json.loads(await ns.read_bytes(path))
            except FileNotFoundError:
                ckpt = {"inp": 0, "out": 0, "state": None}  # (none stored: its writer still holds it all)
            spills = int(ckpt.get("spills") or 0)
            if spills:
                fd, local = tempfile.mkstemp(prefix="onesh-restore-", dir=agentpipes.spill_dir())
                try:
                    with os.fdopen(fd, "wb") as f:
                        for k in range(spills):
                            f.write(await ns.read_bytes(f"{path}.{k}"))
                except OSError as e:
                    # (the agent hears nothing and ends: its job ends, naming the runtime)
                    os.unlink(local)
                    sys.stderr.write(f"stage host: the checkpoint to go on from cannot be read: {e}\n")
                    return
                ckpt["spill_file"] = local
            agent.order({"restore": ckpt})
        pending: list[dict[str, Any]] = []
        wake = asyncio.Event()

        def take(ckpt: dict[str, Any]) -> None:
            pending.append(ckpt)
            wake.set()

        def drop(ckpt: dict[str, Any]) -> None:
            if ckpt.get("spill"):
                with contextlib.suppress(OSError):
                    os.unlink(str(ckpt["spill"]))

        async def store_spill(local: str) -> None:
            nonlocal spills
            data = agentpipes.read_spill(local)
            for attempt in range(SPILL_TRIES):
                try:
                    await ns.write_bytes(f"{path}.{spills}", data)
                    spills += 1
                    return
                except OSError as e:
                    if attempt == SPILL_TRIES - 1:
                        raise
                    sys.stderr.write(f"stage host: checkpoint spill not stored ({e}); trying again\n")
                    await asyncio.sleep(0.5)

        async def store() -> None:
            while True:
                await wake.wait()
                wake.clear()
                batch = pending[:]
                pending.clear()
                if not batch:
                    continue
                try:
                    # (every spill counts; of the checkpoints, only the newest)
                    for ckpt in batch:
                        if ckpt.get("spill"):
                            await store_spill(str(ckpt.pop("spill")))
                except OSError as e:
                    # A gap in the log: no checkpoint from here on is whole.
                    sys.stderr.write(f"stage host: checkpoints not stored ({e}): this stage "
                                     "is not restarted elsewhere now\n")
                    agent.order({"unheld": True})
                    for ckpt in [*batch, *pending]:
                        drop(ckpt)
                    agent.on_checkpoint = drop  # (until the agent hears it)
                    return
                ckpt = batch[-1]
                ckpt["spills"] = spills
                try:
                    await ns.write_bytes(path, json.dumps(ckpt).encode())
                except OSError as e:
                    sys.stderr.write(f"stage host: checkpoint not stored: {e}\n")
                    continue
                agent.order({"stored": int(ckpt["inp"])})

        agent.on_checkpoint = take
        task = asyncio.get_running_loop().create_task(store())
        self.background.add(task)

    async def feed_replayable(self, receiver: Any, fd: int, out: Any) -> None:
        """Our input → a program that can be run again elsewhere.  A
        successor whose writer let go of the input it needs cannot: it is
        killed, and says why."""
        assert self.replay is not None
        self.bytes_in = await self.replay.feed(receiver, fd, out)
        if receiver.proto.resume_failed:
            self.killpg(signal.SIGKILL)
            label = " | ".join(str(st.get("label", "?")).strip() for st in self.spec.get("stages") or [])
            msg = (f"onesh: {label}: cannot run again on {self.runtime}: the input it needs "
                   "is gone (its writer keeps a program's input for a restart up to ONESH_REPLAY_MAX bytes, "
                   f"and had more)\n").encode()
            if self.err_sender is not None:
                await self.err_sender.write(msg)
            else:
                os.write(2, msg)

    def zap_for(self, bind: str) -> None:
        """Start the ZAP handler before the first Curve server socket (a
        ZeroMQ pipe end bound here): the other transports do not use it,
        and it costs a few ms of every stage's start."""
        if bind.startswith("tcp://") and self.auth is None:
            from onesh.net.keys import start_authenticator

            self.auth = start_authenticator(self.ctx, self.keys)

    async def start_commands(self, stages: list[dict[str, Any]], stdin_spec: dict[str, Any],
                             stdout_spec: dict[str, Any]) -> Wiring:
        """Start the segment's commands, joined by OS pipes; the ends left
        for the pumps are in the Wiring."""
        cwd = logical = self.spec.get("cwd") or os.getcwd()
        if not os.path.isdir(cwd):
            cwd = os.path.expanduser("~")
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in (self.spec.get("env") or {}).items()})
        # The shell's working directory may be one only the namespace has
        # (cd /home/proj): agents resolve relative namespace names there.
        env["ONESH_PWD"] = str(logical)
        env["ONESH_STAGE"] = f"{self.spec['job']}/{self.spec['segment']}"
        # A shell builtin that needs the cluster (`plan`, `nodes`, a nested
        # `onesh -c`) uses the one this stage runs in, never an embedded
        # cluster of its own (ONESH_SECRET is already the runtime's).
        if self.boot:
            env["ONESH_CLUSTER"] = ",".join(self.boot)
        n = len(stages)
        # every stage's command before any starts: a bad spec starts none
        argvs = [command_argv(st, self.runtime) for st in stages]
        if stdin_spec.get("kind") == "pipe" and not stdin_spec.get("connect"):
            # On the runtime's own address (not loopback: the writer may
            # be on another host), or a Unix socket when it is on this one.
            # The transport between hosts is the shell's pick (spec), so
            # ONESH_PIPE_TRANSPORT in the shell's environment decides.
            from onesh.net.transport import pipe_bind

            wanted = stdin_spec.get("transport")
            self.in_bind = pipe_bind(_tcp_host(self.boot[0] if self.boot else ""),
                                     bool(stdin_spec.get("same_host")), wanted if isinstance(wanted, str) else None)
        # The first and last commands may own the segment's network pipes
        # (agentpipes.py): their fd 0 / fd 1 is then /dev/null, no pump.
        if applies(self.spec, stdin_spec, stdout_spec):
            # (its pipes are the stage host's: it holds the input for a replay)
            self.replay = ProgramReplay(self.spec)
            own_in: dict[str, Any] = {}
            own_out: dict[str, Any] = {}
        else:
            own_in, own_out = agentpipes.wiring(stages, stdin_spec, stdout_spec, self.in_bind,
                                                str(self.spec.get("recover") or ""),
                                                int(self.spec.get("epoch") or 0), bool(self.spec.get("stateful")))
        self.recoverable = bool(own_in.get("recover")) or self.replay is not None
        if self.spec.get("recover") == "resume" and not self.recoverable:
            raise SpecError("a stage can only take over from one that died where it owns both its pipes")
        # stdin of the first command
        kind_in = stdin_spec.get("kind")
        first_in_r: int | None = None
        feed_w: int | None = None
        if kind_in in ("pipe", "file") and not own_in:
            first_in_r, feed_w = _pipe()
        else:
            first_in_r = os.open(os.devnull, os.O_RDONLY)
        # stdout of the last command
        kind_out = stdout_spec.get("kind")
        last_out_w: int | None
        drain_r: int | None = None
        if kind_out in ("pipe", "file", "topic") and not own_out:
            drain_r, last_out_w = _pipe()
        else:
            last_out_w = os.open(os.devnull, os.O_WRONLY)
        err_r, err_w = _pipe()
        errors: list[str] = [self.replay.warning] if self.replay is not None and self.replay.warning else []
        agents: dict[int, AgentReports] = {}
        prev_r = first_in_r
        for k, (st, argv) in enumerate(zip(stages, argvs, strict=True)):
            if k < n - 1:
                r, w = _pipe()
            else:
                r, w = None, last_out_w
            pipes = {**(own_in if k == 0 else {}), **(own_out if k == n - 1 else {})}
            proc = None
            if isinstance(argv, str):
                errors.append(argv)
            else:
                try:
                    own_env = st.get("env")  # (its prefix assignments: `NAME=v cmd`)
                    stderr = w if st.get("stderr_to_stdout") else err_w
                    if st.get("stderr_null"):
                        stderr = null_w = os.open(os.devnull, os.O_WRONLY)  # (`2>/dev/null`)
                    io: dict[str, Any] = {"stdin": prev_r, "stdout": w, "cwd": cwd,
                                          "env": {**env, **own_env} if isinstance(own_env, dict) else env,
                                          "stderr": stderr}
                    try:
                        if pipes:
                            proc, agents[k] = await self.start_agent(st, pipes, io)
                        else:
                            proc = await self.spawn(argv, **io)
                    finally:
                        if st.get("stderr_null"):
                            os.close(null_w)
                except OSError as e:
                    errors.append(f"onesh: {argv[0]}: {e.strerror} (on {self.runtime})\n")
            self.procs.append(proc)
            os.close(prev_r)
            if w is not None:
                os.close(w)
            prev_r = r if r is not None else -1
        note_w = os.dup(err_w)
        os.close(err_w)
        return Wiring(feed_w, drain_r, err_r, errors, agents.get(0) if own_in else None,
                      agents.get(n - 1) if own_out else None, note_w)

    async def start_agent(self, stage: dict[str, Any], pipes: dict[str, Any],
                          io: dict[str, Any]) -> tuple[ForkedCommand | asyncio.subprocess.Process, AgentReports]:
        """A builtin agent owning network pipes (agentpipes.py), with its
        report channel as fd 3."""
        # (a socket pair, not a pipe: the stage host gives its orders on it too: repipe)
        report_r, report_w = (sock.detach() for sock in socket.socketpair())
        try:
            child = await self.spawn([], run=agentpipes.entry(list(stage["argv"]), self.pipe_id("in"), pipes),
                                     fd3=report_w, **io)
        except BaseException:
            os.close(report_r)
            raise
        finally:
            os.close(report_w)
        return child, AgentReports(report_r, child.pid)

    async def run_segment(self, wiring: Wiring, receiver: Any, stdin_spec: dict[str, Any],
                          out_sender: Any, stdout_spec: dict[str, Any], err_sender: Any,
                          endpoint: str) -> list[int]:
        from onesh.net.pipes import pump_fd_to_pipe, pump_pipe_to_fd

        loop = asyncio.get_running_loop()
        feed_w, drain_r, err_r, errors = wiring.feed_w, wiring.drain_r, wiring.err_r, wiring.errors
        kind_in, kind_out = stdin_spec.get("kind"), stdout_spec.get("kind")
        _emit({"stdin_endpoint": endpoint,
               "stdout_endpoint": out_sender.endpoint if stdout_spec.get("bind") and out_sender else "",
               "pids": [p.pid for p in self.procs if p is not None],
               "pgids": self.pgids, "recoverable": self.recoverable,
               "resumed_at": (wiring.agent_in.resumed_at if wiring.agent_in is not None
                              else self.replay.start.inp if self.replay is not None and self.replay.resume
                              else -1),
               "replays": self.replay.guarantee if self.replay is not None else ""})

        def order(msg: dict[str, Any]) -> None:
            # Word from the shell about the reader of our output: it was
            # restarted elsewhere (its runtime died), our output goes on to
            # its successor; or it was killed (it held its acks, so we
            # would wait for a successor): our writer sees the pipe end.
            ep, gone = msg.get("repipe"), bool(msg.get("gone"))
            if wiring.agent_out is not None and ((isinstance(ep, str) and ep) or gone):
                wiring.agent_out.order({"repipe": ep} if ep else {"gone": True})
            elif out_sender is not None and not stdout_spec.get("bind"):
                if isinstance(ep, str) and ep:
                    out_sender.repipe(ep)
                elif gone:
                    out_sender.give_up("reader gone")
        watch_lifeline(loop, self.lifeline_lost, order)
        for sig in FORWARDED:
            loop.add_signal_handler(sig, self.forward, sig)
        # Job control: our commands' group is orphaned (a new session), so
        # the kernel would ignore SIGTSTP there: stop them with SIGSTOP.
        loop.add_signal_handler(signal.SIGTSTP, self.job_control, out_sender, signal.SIGSTOP)
        loop.add_signal_handler(signal.SIGCONT, self.job_control, out_sender, signal.SIGCONT)
        loop.add_signal_handler(signal.SIGUSR1, _dump_tasks)
        if out_sender is not None:
            # Fault injection (tests, chaos drills): drop the output pipe's
            # socket and open a new one; replay and de-duplication must make
            # this invisible downstream.
            loop.add_signal_handler(signal.SIGUSR2, self.relink, out_sender)
        elif wiring.agent_out is not None:
            loop.add_signal_handler(signal.SIGUSR2, wiring.agent_out.relink)
        async with asyncio.TaskGroup() as tg:
            feed = idle = None
            if feed_w is not None:
                if kind_in == "pipe" and self.replay is not None:
                    feed = tg.create_task(self.feed_replayable(receiver, feed_w, out_sender))
                    first = self.procs[0]
                    if self.replay.stateless and drain_r is not None and first is not None:  # (one program)
                        idle = tg.create_task(self.replay.watch_idle(receiver, out_sender, feed_w, drain_r,
                                                                     first.pid))
                elif kind_in == "pipe":
                    feed = tg.create_task(self.count_in(pump_pipe_to_fd(receiver, feed_w)))
                else:
                    feed = tg.create_task(self.read_file(str(stdin_spec.get("path")), feed_w))
            pumps: list[asyncio.Task[Any]] = []
            if drain_r is not None:
                if kind_out == "pipe":
                    pumps.append(tg.create_task(self.count_out(pump_fd_to_pipe(drain_r, out_sender))))
                elif kind_out == "topic":
                    self.on_signal.append(tg.create_task(self.publish(drain_r, str(stdout_spec.get("path")))))
                    pumps.append(self.on_signal[-1])
                else:
                    pumps.append(tg.create_task(self.write_file(drain_r, str(stdout_spec.get("path")),
                                                                bool(stdout_spec.get("append")))))
            pumps.append(tg.create_task(self.pump_stderr(err_r, err_sender, errors)))
            reporting = tg.create_task(self.report_loop(receiver, out_sender, wiring))
            try:
                statuses = await self.wait_all()
                cut = getattr(receiver, "cut_off", "") if feed is not None and feed.done() else ""
                if cut and wiring.note_w is not None:
                    # (the first command saw an end of its input that was none)
                    label = str((self.spec.get("stages") or [{}])[0].get("label", "")).strip()
                    os.write(wiring.note_w, f"onesh: {label}: its input was cut off: its writer gave up "
                                            f"({cut}) (on {self.runtime})\n".encode())
                    statuses[0] = statuses[0] or 1
            finally:
                if wiring.note_w is not None:
                    os.close(wiring.note_w)  # (the stderr pump ends once the commands' ends close too)
            if idle is not None:
                idle.cancel()
            if feed is not None and not feed.done():
                # Every command exited without reading all its input (head):
                # stop feeding; the upstream writer sees the pipe end.
                feed.cancel()
            # (what they wrote may still be on its way out, waiting for its
            # reader: the runtime goes on hearing how it moves till then)
            await asyncio.wait([*pumps, *([feed] if feed is not None else [])])
            reporting.cancel()
        if self.publish_interrupted:
            # Interrupted while our output still waited for the named pipe
            # (no reader came): like a writer killed in open(2).
            statuses[-1] = 128 + self.signalled
        return statuses

    async def spawn(self, argv: list[str], run: Any = None, fd3: int = -1,
                    **kw: Any) -> asyncio.subprocess.Process | ForkedCommand:
        """A command in the segment's process group (signals go to every
        group in `pgids`).  If the group's leader already exited and was
        reaped (`stat x | tail`), setpgid fails: the command leads a new
        group, which the next commands join.  onesh's own code (a builtin
        agent, a shell stage; or `run`, with `fd3`) is forked, not started
        anew (forked.py)."""
        run = run or entry_point(argv)
        if run is not None:
            group = self.pgids[-1] if self.pgids else 0
            child = fork_command(run, stdin=kw["stdin"], stdout=kw["stdout"], stderr=kw["stderr"],
                                 cwd=kw["cwd"], env=kw["env"], process_group=group, fd3=fd3)
            if child.pgid == child.pid:
                self.pgids.append(child.pid)  # it leads a group of its own
            return child
        if self.pgids:
            try:
                return await asyncio.create_subprocess_exec(*argv, process_group=self.pgids[-1], **kw)
            except PermissionError:
                pass
        proc = await asyncio.create_subprocess_exec(*argv, process_group=0, **kw)
        self.pgids.append(proc.pid)
        return proc

    async def count_in(self, coro: Any) -> None:
        self.bytes_in = await coro

    async def count_out(self, coro: Any) -> None:
        self.bytes_out = await coro

    async def wait_all(self) -> list[int]:
        out = []
        for p in self.procs:
            if p is None:
                out.append(127)
                continue
            rc = await p.wait()
            out.append(128 - rc if rc < 0 else rc)
        return out

    def io(self, receiver: Any, sender: Any, wiring: Wiring | None = None) -> dict[str, Any]:
        """Bytes (and about how many lines) in and out so far, and whether
        the output waits for credit (a slower stage downstream).  Where an
        agent owns a pipe, as it last reported."""
        bytes_in = receiver.bytes_in if receiver is not None else self.bytes_in
        bytes_out = sender.bytes_out if sender is not None else self.bytes_out
        out = {"bytes_in": bytes_in, "bytes_out": bytes_out,
               "lines_in": receiver.lines.lines(bytes_in) if receiver is not None else None,
               "lines_out": sender.lines.lines(bytes_out) if sender is not None else None,
               "blocked": bool(sender is not None and sender.blocked)}
        for agent, keys in ((wiring and wiring.agent_in, ("bytes_in", "lines_in")),
                            (wiring and wiring.agent_out, ("bytes_out", "lines_out", "blocked"))):
            if agent:
                out.update((k, agent.io[k]) for k in keys if k in agent.io)
        return out

    async def report_loop(self, receiver: Any, sender: Any, wiring: Wiring) -> None:
        """Tell the runtime how the data moves, every REPORT_EVERY seconds
        (ps --cluster and top --cluster show it live)."""
        while True:
            await asyncio.sleep(REPORT_EVERY)
            _emit({"io": self.io(receiver, sender, wiring)})
            if self.replay is not None and self.recoverable and receiver is not None and receiver.let_go:
                self.recoverable = False  # (our program's input outgrew its replay: it cannot move now)
                _emit({"recoverable": False})

    def lifeline_lost(self) -> None:
        """Our runtime died (its end of our stdin closed).  Nobody will ask
        for our statuses and the job is being given up: stop the commands
        at once and go, rather than keep a job's data flowing, orphaned."""
        sys.stderr.write(f"onesh: stage host of {self.spec.get('job')}#{self.spec.get('segment')}: "
                         f"runtime {self.runtime} is gone; stopping its commands\n")
        self.killpg(signal.SIGKILL)
        os._exit(128 + signal.SIGKILL)

    def relink(self, sender: Any) -> None:
        task = asyncio.get_running_loop().create_task(sender.reconnect())
        self.relinks.add(task)
        task.add_done_callback(self.relinks.discard)

    def forward(self, sig: int) -> None:
        self.signalled = sig
        for task in self.on_signal:
            task.cancel()  # waiting for a named pipe's reader is interruptible
        self.killpg(sig)

    def job_control(self, out_sender: Any, sig: int) -> None:
        """The job is stopped (Ctrl-Z) or goes on: so are our commands; and
        while it is stopped, our output's reader (stopped too) is not given
        up on for its silence."""
        if out_sender is not None:
            out_sender.stopped = sig == signal.SIGSTOP
        self.killpg(sig)

    def killpg(self, sig: int) -> None:
        for pgid in self.pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, sig)

    async def pump_stderr(self, fd: int, sender: Any, errors: list[str]) -> None:
        """Our commands' stderr → the shell (or our own stderr)."""
        from onesh.net.pipes import pump_fd_to_pipe

        if sender is None:
            os.set_blocking(fd, True)
            for msg in errors:
                os.write(2, msg.encode())
            await asyncio.to_thread(_copy_fd, fd, 2)
            os.close(fd)
            return
        for msg in errors:
            await sender.write(msg.encode())
        await pump_fd_to_pipe(fd, sender)

    async def read_file(self, path: str, fd: int) -> None:
        """A namespace file → the first command's stdin."""
        try:
            # aclosing: a reader that stops early (head) leaves a named
            # pipe at once, so its writers hear "reader gone".
            async with contextlib.aclosing(self.ns().read(path)) as chunks:
                async for chunk in chunks:
                    self.bytes_in += len(chunk)
                    await _write_all(fd, chunk)
        except BrokenPipeError:
            pass
        except Exception as e:  # noqa: BLE001 - reported as the stage's error
            os.write(2, f"onesh: {path}: {e} (on {self.runtime})\n".encode())
        finally:
            os.close(fd)

    async def publish(self, fd: int, path: str) -> None:
        """The last command's stdout → every reader of named pipe `path`.
        With every reader gone the commands get EPIPE, as with a FIFO."""
        from onesh.runtime.namedpipes import Publisher

        try:
            async with Publisher(self.ns(), path) as pub:
                try:
                    await pub.pump(fd)
                finally:
                    self.bytes_out = pub.bytes_out
        except asyncio.CancelledError:
            self.publish_interrupted = True  # see forward(): the status says so
        except BrokenPipeError:
            pass  # closing our end below gives the writers their SIGPIPE
        except OSError as e:
            os.write(2, f"onesh: {path}: {e.strerror or e} (on {self.runtime})\n".encode())
        finally:
            os.close(fd)

    async def write_file(self, fd: int, path: str, append: bool) -> None:
        """The last command's stdout → a namespace file, committed as it
        grows so a long-running stream is readable (and survives Ctrl-C)."""
        loop = asyncio.get_running_loop()
        async with self.ns().writer(path, append=append) as w:
            last_commit = loop.time()
            while True:
                data = await _read_some(fd)
                if not data:
                    break
                self.bytes_out += len(data)
                await w.write(data)
                if loop.time() - last_commit > 1.0:
                    await w.flush_commit()
                    last_commit = loop.time()
        os.close(fd)


def watch_lifeline(loop: asyncio.AbstractEventLoop, lost: Callable[[], None],
                   order: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Call `lost` when our stdin, held open by the runtime that started
    us, reaches end-of-file: that runtime is gone.  Its orders come on
    it too, as JSON lines (`order`: stage.repipe)."""
    buf = b""

    def readable() -> None:
        nonlocal buf
        try:
            data = os.read(0, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(0)
            lost()
            return
        buf += data
        *lines, buf = buf.split(b"\n")
        for line in lines:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if order is not None and isinstance(msg, dict):
                order(msg)

    try:
        loop.add_reader(0, readable)
    except (OSError, ValueError, PermissionError):
        pass  # stdin is not something to watch (a file, /dev/null): started by hand


def _dump_tasks() -> None:
    """SIGUSR1: where is every task waiting (goes to the runtime's log)."""
    for task in asyncio.all_tasks():
        coro: Any = task.get_coro()
        chain = []
        while coro is not None:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None:
                chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        sys.stderr.write(f"task {task.get_name()}: {' > '.join(chain)}\n")


def _pipe() -> tuple[int, int]:
    """An OS pipe with a 1 MiB buffer (Linux): fewer wake-ups per GiB."""
    r, w = os.pipe()
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    return r, w


def _copy_fd(src: int, dst: int) -> None:
    while True:
        data = os.read(src, 65536)
        if not data:
            return
        write_all(dst, data)


async def _read_some(fd: int) -> bytes:
    return await asyncio.to_thread(os.read, fd, 1 << 20)


async def _write_all(fd: int, data: bytes) -> None:
    await asyncio.to_thread(write_all, fd, data)


def main() -> int:
    line = sys.stdin.readline()
    try:
        spec = json.loads(line)
        if not isinstance(spec, dict):
            raise ValueError("not an object")
    except ValueError as e:
        _emit({"error": f"onesh: stage host: bad spec: {e}"})
        return 2
    try:
        return asyncio.run(StageHost(spec).run())
    except Exception as e:
        if os.environ.get("ONESH_DEBUG"):
            raise
        _emit({"error": f"onesh: stage host: {type(e).__name__}: {e}"})
        return 1


if __name__ == "__main__":
    sys.exit(main())
