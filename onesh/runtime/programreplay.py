"""A program (Python, Node.js, native; not a builtin agent) alone in its
stage, or a segment of several commands, restarted on another runtime
when its own dies or on `migrate`.

A program's state cannot be checkpointed, so its successor runs it again
on input its writer kept:

- by default from the start: the stage host holds all of the program's
  input (its acks: pipe_protocol.Receiver.hold), so its writer keeps it,
  up to ONESH_REPLAY_MAX bytes (REPLAY_MAX); past that it lets go, and the
  program can no longer be restarted;
- declared ONESH_STATELESS=1 (a filter: it keeps nothing from one line to
  the next and writes what a line makes before it reads on), from its last
  idle point: whenever its pipes are empty and it sleeps reading or
  polling, its input up to the last whole line it was given made exactly
  its output so far, and its output frames carry that (a Mark); its input
  is committed as far as the reader downstream has them.

Its output goes on where the reader stands: at least once (what it makes
again comes again), or, declared ONESH_DETERMINISTIC=1, exactly once (what
the reader has past the checkpoint is dropped).  A segment of several
commands runs again from the start; it is deterministic when each of its
commands is a builtin agent or is declared so.  The settings are the
stage's prefix assignments (`ONESH_STATELESS=1 python3 f.py @r2`) or the
shell's environment.
"""

from __future__ import annotations

import asyncio
import fcntl
import sys
import termios
import time
from typing import Any

from onesh.net.pipe_protocol import NO_MARK, Mark
from onesh.runtime.agentpipes import ADOPT_WAIT

# What a program's writer keeps for a replay to its successor: bytes, and
# frames (a slow writer's lines come a frame each).  Past either, the
# program's input is let go of, and it is no longer restartable.
REPLAY_MAX = 16 << 20
REPLAY_FRAMES = 1 << 16
IDLE_EVERY = 0.06  # seconds between two looks at whether a stateless program is idle (watch_idle)
GATE_WAIT = 3.0  # seconds a stateless program held back from more input may take to be idle (feed)
# Where a program idles that waits for input (its /proc/PID/wchan): a pipe
# read, or a poll of its fds (Node's event loop, select).
WAITING_FOR_INPUT = ("pipe_read", "epoll_wait", "ep_poll", "do_select", "do_sys_poll", "do_poll")


def applies(spec: dict[str, Any], stdin_spec: dict[str, Any], stdout_spec: dict[str, Any]) -> bool:
    """Is this segment one program, or several commands, that the shell
    asked to be restartable, between a pipe bound here and one it dials?
    (One builtin agent is restarted by its own checkpoints: agentpipes.py.)"""
    stages = spec.get("stages") or []
    return (spec.get("recover") in ("hold", "resume") and bool(stages)
            and (len(stages) > 1 or stages[0].get("mode") != "agent")
            and not any(st.get("stderr_to_stdout") for st in stages)
            and stdin_spec.get("kind") == "pipe" and not stdin_spec.get("connect")
            and stdout_spec.get("kind") == "pipe" and not stdout_spec.get("bind")
            and bool(stdout_spec.get("endpoint")))


class ProgramReplay:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.resume = spec.get("recover") == "resume"
        self.start = NO_MARK  # where a successor goes on from (take_over)
        self.fed = -1  # the input offset up to which the program was given all it has (feed)
        stages = spec.get("stages") or [{}]
        # Builtin agents make the same output of the same input; a segment
        # is deterministic when each of its commands is one or says so.
        self.deterministic = all(st.get("mode") == "agent" or self._flag("ONESH_DETERMINISTIC", st)
                                 for st in stages)
        # (idle points are watched for one program, not a chain of them)
        self.stateless = len(stages) == 1 and self._flag("ONESH_STATELESS", stages[0])
        self.warning = ""  # (for the shell's stderr: a setting it could not use)
        value = self._declared("ONESH_REPLAY_MAX")
        try:
            self.replay_max = max(1, int(value or REPLAY_MAX))
        except ValueError:
            self.replay_max = REPLAY_MAX
            self.warning = (f"onesh: ONESH_REPLAY_MAX={value}: not a number of bytes; "
                            f"{REPLAY_MAX >> 20} MiB it is\n")

    def _declared(self, name: str, stage: dict[str, Any] | None = None) -> str:
        """A command's prefix assignment (the first command's, or the
        first that has one), else the shell's environment."""
        stages = [stage] if stage is not None else self.spec.get("stages") or []
        for st in stages:
            own = st.get("env") or {}
            if name in own:
                return str(own[name])
        return str((self.spec.get("env") or {}).get(name, ""))

    def _flag(self, name: str, stage: dict[str, Any]) -> bool:
        return self._declared(name, stage).lower() in ("1", "yes", "true")

    @property
    def guarantee(self) -> str:
        return "exactly" if self.deterministic else "at least"

    def receiver_options(self) -> dict[str, Any]:
        """How its input pipe reads (net.pipe_ends.ReceiverEnd): holding,
        from its checkpoint when it is a successor."""
        return {"hold": True, "hold_max": REPLAY_FRAMES, "replay_max": self.replay_max,
                "line_ends": self.stateless, "skip_to": self.start.inp if self.resume else -1}

    async def take_over(self, out: Any) -> str:
        """A successor: where does the reader of our output stand?  Its
        last checkpoint says where our input goes on from.  "" once known,
        else why not."""
        deadline = time.monotonic() + ADOPT_WAIT
        while out.adopted is None and not out.gone and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if out.adopted is None:
            return f"its reader did not answer within {ADOPT_WAIT:g}s"
        self.start = out.adopted.mark
        if self.deterministic:
            out.proto.drop_next(out.adopted.offset - self.start.out)
        return ""

    def commit_as_delivered(self, receiver: Any, out: Any) -> None:
        """A stateless program's input is acknowledged as far as the
        checkpoint its delivered output carries (watch_idle makes them)."""
        if self.stateless:
            out.on_ack = lambda ack: receiver.commit(ack.mark.inp)

    async def feed(self, receiver: Any, fd: int, out: Any) -> int:
        """Our input → the program.  The pipe stays open (holding its
        acks) until our output is safe downstream: the stage host closes
        it."""
        from onesh.net.pipes import pump_pipe_to_fd

        async def gate() -> None:
            # (the copy calls this when all it took is written: watch_idle)
            self.fed = receiver.proto.offset - receiver.proto.buffered
            # A stateless program fed faster than it works is never idle:
            # past half its replay, it gets no more until it has been
            # (watch_idle) and the reader has its output (commit), rather
            # than let go of its input.  One that is not idle even so
            # (busy, or waiting for something else) within GATE_WAIT,
            # while its output is not held up downstream, is let go of.
            deadline = time.monotonic() + GATE_WAIT
            while (receiver.proto.held_bytes >= receiver.replay_max // 2 and not receiver.let_go
                   and not receiver.proto.eof and not receiver.closed):
                if out.blocked:
                    deadline = time.monotonic() + GATE_WAIT
                elif time.monotonic() > deadline:
                    receiver.give_up_hold()
                    break
                await asyncio.sleep(IDLE_EVERY / 4)

        return await pump_pipe_to_fd(receiver, fd, close_pipe=False, gate=gate if self.stateless else None)

    async def watch_idle(self, receiver: Any, out: Any, feed_w: int, drain_r: int, pid: int) -> None:
        """A stateless program's checkpoints: whenever it is idle (it took
        all it was given, wrote all it made of it, and waits for more).
        Idle twice in a row, IDLE_EVERY apart, with nothing moved between:
        a program that flushes its output on a timer (onesh's Python
        launcher, 50 ms) has flushed it by then."""
        last: tuple[int, int] | None = None
        marked = (self.start.inp, self.start.out)
        while not receiver.proto.eof and not receiver.let_go:
            await asyncio.sleep(IDLE_EVERY)
            # (input taken from the pipe, not what waits in it: feed may be
            # holding it back)
            now = (receiver.proto.offset - receiver.proto.buffered, self.start.out + out.bytes_out)
            if now[0] != self.fed:
                last = None  # (the copy took some it may not have written yet)
                continue
            # Idle, it may hold the start of a line it has not finished:
            # its checkpoint is where that line starts (what it wrote so
            # far came from the lines before).
            inp = receiver.line_end
            if now == last and inp > marked[0] and idle(out, feed_w, drain_r, pid):
                if out.proto.checkpoint(Mark(inp, now[1])):
                    out._push()  # (an empty frame carries it)
                marked = (inp, now[1])
            last = now


def idle(out: Any, feed_w: int, drain_r: int, pid: int) -> bool:
    """Is a program idle: all it was given taken (its stdin pipe empty),
    its output all taken (its stdout pipe empty, nothing held back by the
    pipe's credit), and it sleeps reading or polling (not in a timer, with
    lines it read still to do)?"""
    if out.blocked or _queued(feed_w) or _queued(drain_r):
        return False
    try:
        with open(f"/proc/{pid}/wchan") as f:
            where = f.read()
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state == "S" and any(w in where for w in WAITING_FOR_INPUT)


def _queued(fd: int) -> int:
    """Bytes in a pipe (either end)."""
    buf = bytearray(4)
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf)
    except OSError:
        return 1
    return int.from_bytes(buf, sys.byteorder)
