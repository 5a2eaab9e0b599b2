"""Builtin agents that read and write their network pipes themselves.

A segment's first command, when it is a builtin agent and the segment's
input is a network pipe, binds that pipe and reads it as its stdin; its
last command, when a builtin agent writing to the next segment's pipe,
dials that pipe and writes it as its stdout (`cat @r2` in the middle of
a pipeline is both).  They are forked from their stage host (forked.py)
and run `run(argv, io)` with those pipes as files (onesh.net.netio, on a
blocking PollLoop).  The bytes go network → agent → network: no OS pipe,
no copy in the stage host, no stage-host task per chunk.  Acks, credit,
replay, relinks are the pipe protocol's, as on the stage host's own ends.
Commands between them are joined by OS pipes, as before.

The stage host keeps what only it does: the statuses, signals, stderr
(an OS pipe still: it is small), and the reports for `ps --cluster`.
It learns the input pipe's endpoint and the data counters from each such
agent through a report channel (fd 3 in the agent, JSON lines).

A segment that is one stateless agent (coreutils/restart.py) can be
restarted elsewhere when its runtime dies (engine/distributed.Job.recover):
started with `recover: hold`, its input's acks wait until its output from
that input is delivered downstream (the writer upstream keeps it for a
replay) and its output frames carry checkpoints (pipe_protocol.Mark);
its successor (`recover: resume`) asks the reader downstream where it
stands, reads on from that checkpoint's input offset and drops what it
makes again up to the reader's position.  The stage host passes on the
shell's `repipe` (the reader of our output was restarted elsewhere) over
the report channel, a socket pair for that reason.

Only the unix:// and tls:// transports: a ZeroMQ pipe end needs a zmq
Context with its I/O threads, and the agent is forked before any exist;
those ends keep the pumps, as do ends to a file or a named pipe, ends
dialled the other way round (--dial-out), and the output of a command
whose stderr joins its stdout.  `ONESH_AGENT_PIPES=0` in a runtime's
environment turns it off.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import tempfile
import time
from collections.abc import Callable
from typing import Any

REPORT_FD = 3  # the report channel's fd in the agent
REPORT_EVERY = 0.25  # seconds between the agent's reports of its data flow (at most)
FINISH_AFTER_SIGNAL = 2.0  # seconds a terminated agent gives the reader to take what it sent
END_FOR_AGENT = 5.0  # seconds the stage host tries to end a dead agent's output pipe
START_WAIT = 10.0  # seconds the stage host waits for the agent's input endpoint
ADOPT_WAIT = 5.0  # seconds a successor stage waits for its reader to say where it stands
# seconds a stateful successor waits for its checkpoint (the namespace may be
# failing over from the same death; the writer upstream waits 10 s for us)
RESTORE_WAIT = 8.0


def wiring(stages: list[dict[str, Any]], stdin_spec: dict[str, Any], stdout_spec: dict[str, Any],
           in_bind: str, recover: str = "", epoch: int = 0,
           stateful: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """The network ends the segment's first and last agents own: `bind`
    (the input pipe's) for the first, `out` and `out_id` (the next
    segment's) for the last; empty where the pumps stay.  `recover`
    ("hold", or "resume" for a successor) when the segment is one
    stateless agent owning both ends: it can be restarted elsewhere."""
    first: dict[str, Any] = {}
    last: dict[str, Any] = {}
    if os.environ.get("ONESH_AGENT_PIPES") == "0" or not stages:
        return first, last
    if (stages[0].get("mode") == "agent" and stdin_spec.get("kind") == "pipe" and not stdin_spec.get("connect")
            and in_bind.startswith(OWNED)):
        first["bind"] = in_bind
    out = str(stdout_spec.get("endpoint") or "")
    if (stages[-1].get("mode") == "agent" and not stages[-1].get("stderr_to_stdout")  # (its stderr is no pipe of ours)
            and stdout_spec.get("kind") == "pipe" and not stdout_spec.get("bind") and out.startswith(OWNED)):
        last.update(out=out, out_id=str(stdout_spec.get("pipe_id")))
    if recover in ("hold", "resume") and len(stages) == 1 and first and last:
        first.update(recover=recover, epoch=epoch, stateful=stateful)
    return first, last


OWNED = ("unix://", "tls://")  # (a ZeroMQ end needs zmq's I/O threads: the agent is forked before any)


# ----------------------------------------------------------- in the agent
def run(argv: list[str], in_id: str, pipes: dict[str, Any]) -> int:
    """The agent's body (forked.py runs it with the report channel on fd 3):
    its stdin is the input pipe when `pipes` has `bind`, its stdout the
    next segment's pipe when it has `out`; else its fds 0 and 1 (OS pipes
    to the segment's other commands)."""
    from onesh.coreutils.__main__ import main
    from onesh.coreutils.common import Io
    from onesh.net.netio import PipeIo, Terminated
    from onesh.net.pipe_protocol import Mark
    from onesh.net.transport import Credentials
    from onesh.runtime.stagehost import cluster_keys

    pio = PipeIo(Credentials(cluster_keys()))
    stdin = stdout = None
    recover = pipes.get("recover")
    stateful = bool(pipes.get("stateful"))
    orders = Orders(pio)
    if recover == "resume":
        # The successor of a stage whose runtime died: where does its
        # reader stand (and what made that)?  Its input goes on from there.
        stdout = orders.stdout = pio.sender(str(pipes["out_id"]), str(pipes["out"]), adopt=True,
                                            epoch=int(pipes.get("epoch", 1)))
        end = stdout.end
        with pio.signals:
            pio.wait(lambda: end.adopted is not None or end.gone, ADOPT_WAIT)
        if end.adopted is None:
            _report({"error": f"its reader did not answer within {ADOPT_WAIT:g}s"})
            return 1
        start = end.adopted.mark
        restored = None
        stdin_log = b""
        if stateful:
            # A tool with state goes on from its last stored checkpoint
            # (the stage host reads it from the namespace), not from the
            # reader's: what it had counted since is counted again.
            with pio.signals:
                pio.wait(lambda: orders.restore is not None, RESTORE_WAIT)
            ckpt = orders.restore
            if ckpt is None or int(ckpt["out"]) > end.adopted.offset:
                _report({"error": "no checkpoint to go on from" if ckpt is None else
                         "its reader has less of its output than its checkpoint made"})
                return 1
            start, restored = Mark(int(ckpt["inp"]), int(ckpt["out"])), ckpt.get("state")
            if ckpt.get("spill_file"):
                stdin_log = read_spill(str(ckpt["spill_file"]))
        # What we make again from `start` on, the reader has up to its offset.
        end.proto.drop_next(end.adopted.offset - start.out)
        stdout.written = start.out
        stdin = pio.receiver(in_id, str(pipes["bind"]), hold=True, skip_to=start.inp)
        stdin.restored, stdin.respill = restored, stdin_log
        _report({"endpoint": stdin.endpoint, "resumed_at": start.inp})
    else:
        if pipes.get("bind"):
            stdin = pio.receiver(in_id, str(pipes["bind"]), hold=recover == "hold")
            _report({"endpoint": stdin.endpoint})
        if pipes.get("out"):
            stdout = orders.stdout = pio.sender(str(pipes["out_id"]), str(pipes["out"]))
    orders.stdin = stdin
    if recover and stdin is not None and stdout is not None:
        # Exactly once across a restart elsewhere.  A stateless tool: our
        # frames carry checkpoints, and our input is acknowledged only as
        # far as our output from it is delivered downstream.  A tool with
        # state: its state goes to the stage host every STATE_EVERY bytes,
        # and our input is acknowledged as far as a stored one covers.
        held = stdin.end
        if stateful:
            out = stdout
            # A checkpoint goes to be stored once our reader has the output
            # it counts (a successor can only drop what it makes again up
            # to where its reader stands, not make what was lost).
            waiting: collections.deque[dict[str, Any]] = collections.deque()
            delivered = [stdout.end.adopted.offset if stdout.end.adopted is not None else 0]

            def release(offset: int) -> None:
                delivered[0] = max(delivered[0], offset)
                while waiting and waiting[0]["out"] <= delivered[0]:
                    _report({"checkpoint": waiting.popleft()})

            def store(inp: int, state: dict[str, Any], spill: bytes) -> None:
                ckpt: dict[str, Any] = {"inp": inp, "out": out.written, "state": state}
                if spill:
                    ckpt["spill"] = _spill_file(spill)
                waiting.append(ckpt)
                out.flush()
                release(delivered[0])
            stdin.on_state = store
            stdout.end.on_ack = lambda ack: release(ack.offset)
        else:
            stdin.marks = stdout
            stdout.end.on_ack = lambda ack: held.commit(ack.mark.inp)
    last = 0.0

    def counters() -> dict[str, Any]:
        out: dict[str, Any] = {}
        if stdin is not None:
            out.update(bytes_in=stdin.end.bytes_in, lines_in=stdin.end.lines.lines(stdin.end.bytes_in))
        if stdout is not None:
            out.update(bytes_out=stdout.end.bytes_out, lines_out=stdout.end.lines.lines(stdout.end.bytes_out),
                       blocked=stdout.end.blocked, relinks=stdout.end.reconnects)
        return out

    def progress() -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= REPORT_EVERY:
            last = now
            _report({"io": counters()})

    if stdin is not None:
        # (at the end of our input too: a tool that works on after it, sort,
        # would show its last report's count, short of all it read)
        stdin.on_end = lambda: _report({"io": counters()})

    pio.on_progress = progress
    finish: float | None = None
    try:
        status = main(argv, Io(argv[0], stdin=stdin, stdout=stdout))
    except Terminated as e:
        # (SIGTERM, SIGHUP, SIGQUIT: what was written still reaches the
        # reader, as the bytes in an OS pipe do when its writer is killed)
        status, finish = 128 + e.sig, FINISH_AFTER_SIGNAL
    with contextlib.suppress(Terminated, KeyboardInterrupt):
        if stdout is not None:
            if status == 141 or stdout.end.gone:
                stdout.abort(stdout.end.gone_reason or "reader gone")
            else:
                stdout.finish(finish)
        if stdin is not None:
            stdin.close()
    _report({"io": counters(), "finished": True})
    return status


class Orders:
    """The stage host's orders on the report channel (JSON lines): `repipe`,
    our reader was restarted elsewhere; `gone`, it was killed; `stored`, a
    checkpoint of our state is safe (up to that input offset); `restore`,
    the checkpoint a successor starts from; `unheld`, checkpoints cannot be
    stored (stop holding our input for them)."""

    def __init__(self, pio: Any) -> None:
        self.pio = pio
        self.stdout: Any = None
        self.stdin: Any = None
        self.restore: dict[str, Any] | None = None
        self._buf = b""
        with contextlib.suppress(OSError, ValueError):
            pio.loop.add_reader(REPORT_FD, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(REPORT_FD, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.pio.loop.remove_reader(REPORT_FD)
            return
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self._take(json.loads(line))

    def _take(self, order: Any) -> None:
        if not isinstance(order, dict):
            return
        out, inp = self.stdout, self.stdin
        if isinstance(order.get("repipe"), str) and out is not None and not out.closed:
            out.end.repipe(order["repipe"])
        elif order.get("gone") and out is not None and not out.closed:
            out.end.give_up("reader gone")
        elif isinstance(order.get("stored"), int) and inp is not None and not inp.closed:
            inp.end.commit(order["stored"])
        elif isinstance(order.get("restore"), dict):
            self.restore = order["restore"]
        elif order.get("unheld") and inp is not None and not inp.closed:
            # (our checkpoints cannot be stored: we are not restarted, and
            # our writer need not keep what we read for that)
            inp.on_state = None
            inp.end.proto.release()


def spill_dir() -> str | None:
    """Our runtime's directory for spills (stages.spill_dir: a runtime
    empties it when it starts); the temporary directory outside one."""
    d = os.environ.get("ONESH_SPILL_DIR")
    if not d:
        return None
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def _spill_file(data: bytes) -> str:
    """A spill of a tool's state (sort: the lines it read since the last)
    handed to the stage host in a file: it stores it in the namespace and
    removes the file."""
    fd, path = tempfile.mkstemp(prefix="onesh-spill-", dir=spill_dir())
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def read_spill(path: str) -> bytes:
    """A spill file handed over (to the stage host, to store it; to a
    successor, the log it restores), read once and removed."""
    try:
        with open(path, "rb") as f:
            return f.read()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _report(msg: dict[str, Any]) -> None:
    data = (json.dumps(msg) + "\n").encode()
    with contextlib.suppress(OSError):
        while data:
            data = data[os.write(REPORT_FD, data):]


# ------------------------------------------------------ in the stage host
class AgentReports:
    """The stage host's end of the report channel: the input pipe's
    endpoint first, then the agent's counters."""

    def __init__(self, fd: int, pid: int) -> None:
        self.fd, self.pid = fd, pid
        self.endpoint = ""
        self.io: dict[str, Any] = {"bytes_in": 0, "bytes_out": 0, "lines_in": 0, "lines_out": 0,
                                   "blocked": False}  # (of the pipes it owns)
        self.relinks = 0
        self.finished = False  # the agent ended its output pipe itself
        self.resumed_at = -1  # a successor: the input offset it goes on from
        self.on_checkpoint: Callable[[dict[str, Any]], None] | None = None  # (its state: the stage host stores it)
        self._buf = b""
        self._started: asyncio.Future[str] | None = None
        self._watching = False
        os.set_blocking(fd, False)

    def watch(self) -> None:
        """Take the agent's reports as they come."""
        if not self._watching and self.fd >= 0:
            self._watching = True
            asyncio.get_running_loop().add_reader(self.fd, self._readable)

    async def started(self) -> str:
        """The agent's input endpoint, once it is listening."""
        if self.endpoint:
            return self.endpoint
        self._started = asyncio.get_running_loop().create_future()
        if self.fd < 0:
            raise OSError("the agent ended before it opened its input pipe")
        self.watch()
        try:
            return await asyncio.wait_for(self._started, START_WAIT)
        except TimeoutError:
            raise OSError(f"the agent did not open its input pipe within {START_WAIT:g}s") from None

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            if self._started is not None and not self._started.done():
                self._started.set_exception(OSError("the agent ended before it opened its input pipe"))
            return
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            with contextlib.suppress(ValueError):
                self._take(json.loads(line))

    def _take(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        if isinstance(msg.get("error"), str) and self._started is not None and not self._started.done():
            self._started.set_exception(OSError(msg["error"]))
        if isinstance(msg.get("resumed_at"), int):
            self.resumed_at = msg["resumed_at"]
        if isinstance(msg.get("endpoint"), str):
            self.endpoint = msg["endpoint"]
            if self._started is not None and not self._started.done():
                self._started.set_result(self.endpoint)
        if msg.get("finished") is True:
            self.finished = True
        if isinstance(msg.get("checkpoint"), dict) and self.on_checkpoint is not None:
            self.on_checkpoint(msg["checkpoint"])
        io = msg.get("io")
        if isinstance(io, dict):
            self.relinks = int(io.pop("relinks", self.relinks) or 0)
            self.io.update(io)

    def drain(self) -> None:
        """Read what the agent reported last (it has ended: its end is closed)."""
        if self.fd < 0:
            return
        with contextlib.suppress(ValueError, RuntimeError):
            asyncio.get_running_loop().remove_reader(self.fd)
        os.set_blocking(self.fd, True)
        while self.fd >= 0:
            self._readable()

    async def end_output(self, ctx: Any, keys: Any, pipe_id: str, endpoint: str, epoch: int = 0) -> None:
        """The agent died (killed) without ending its output pipe: end it
        where the reader stands, as a killed writer's OS pipe ends, so the
        next stage sees the end of its input instead of waiting for ever."""
        from onesh.net.pipe_protocol import PipeError
        from onesh.net.pipes import PipeSender

        tx = PipeSender(ctx, keys, pipe_id, endpoint, adopt=True, epoch=epoch)  # (the agent's epoch: it writes for it)
        await tx.start()
        with contextlib.suppress(PipeError, TimeoutError, OSError):
            await tx.close(timeout=END_FOR_AGENT)

    def order(self, msg: dict[str, Any]) -> None:
        """Pass on the shell's word about the agent's reader: `repipe` (it
        was restarted elsewhere: dial it there), `gone` (it was killed)."""
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.write(self.fd, json.dumps(msg).encode() + b"\n")

    def relink(self) -> None:
        """SIGUSR2 for the agent: it re-opens its output's connection."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGUSR2)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


def entry(argv: list[str], in_id: str, pipes: dict[str, Any]) -> Callable[[], int]:
    """What fork_command runs in the agent."""
    host = os.getpid()

    def body() -> int:
        from onesh.runtime.forked import set_name

        set_name(argv[0])
        die_with(host)
        return run(argv, in_id, pipes)
    return body


def die_with(parent: int) -> None:
    """Be killed when our stage host dies.  An agent behind OS pipes dies
    of them (EPIPE) when its stage host does; one owning its network
    pipes would stream on, orphaned, and its job would never end."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # (not Linux: the stage host's lifeline still stops it with its job)
    if os.getppid() != parent:
        os._exit(128 + signal.SIGKILL)  # it died before we asked


PR_SET_PDEATHSIG = 1
