"""The runtime's side of warm stage hosts (see zygote.py).

`Zygote.spawn()` gives a stage host forked from the runtime's zygote, as a
`WarmProcess` that stages.py uses as it uses the asyncio subprocess of a
cold one: `pid`, `stdin` (the spec, then the lifeline), `stdout` (the
report lines), `wait()`, `kill()`.  The zygote is started on the first
stage and stopped after IDLE seconds without one, so an idle runtime
keeps no second interpreter.  If it cannot be started, or dies, stages
start cold (`None` from spawn) and a later stage tries again.

ONESH_ZYGOTE=0 in the runtime's environment turns warm starts off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

from onesh.aio import within

log = logging.getLogger("onesh.warmstart")

IDLE = 300.0  # seconds without a stage before the zygote is let go
RETRY = 30.0  # seconds before trying again after the zygote failed
READY_TIMEOUT = 20.0
FORK_TIMEOUT = 5.0


class WarmProcess:
    """A stage host forked by the zygote (not our child: the zygote reaps
    it and reports how it ended)."""

    def __init__(self, pid: int, stdin: asyncio.StreamWriter, stdout: asyncio.StreamReader,
                 exited: asyncio.Future[int]) -> None:
        self.pid = pid
        self.stdin = stdin
        self.stdout = stdout
        self._exited = exited

    @property
    def returncode(self) -> int | None:
        return self._exited.result() if self._exited.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)


class Zygote:
    def __init__(self, env: dict[str, str], owner: str = "") -> None:
        self.env = env
        self.owner = owner  # (on its command line: whose it is, for ps and leak checks)
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self.ready: asyncio.Future[bool] | None = None
        self.forks: dict[int, asyncio.Future[int]] = {}  # request number → pid
        self.children: dict[int, asyncio.Future[int]] = {}  # pid → its return code
        self.count = 0
        self.failed_at = -RETRY
        self.idle_timer: asyncio.TimerHandle | None = None
        self.starting = asyncio.Lock()

    @staticmethod
    def enabled() -> bool:
        return os.environ.get("ONESH_ZYGOTE", "1") != "0" and hasattr(socket, "send_fds")

    # ------------------------------------------------------------ spawn
    async def spawn(self) -> WarmProcess | None:
        """A new stage host, or None: start this one cold."""
        if not self.enabled() or not await self._running():
            return None
        assert self.sock is not None
        loop = asyncio.get_running_loop()
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        self.count += 1
        n = self.count
        reply: asyncio.Future[int] = loop.create_future()
        self.forks[n] = reply
        try:
            try:
                socket.send_fds(self.sock, [json.dumps({"fork": n}).encode()], [in_r, out_w])
            finally:
                os.close(in_r)
                os.close(out_w)
            pid = await within(reply, FORK_TIMEOUT)
        except (OSError, TimeoutError, RuntimeError) as e:
            self.forks.pop(n, None)
            os.close(in_w)
            os.close(out_r)
            self._lost(f"fork request failed: {e}")
            return None
        self._arm_idle()
        stdout = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout),
                                     os.fdopen(out_r, "rb", buffering=0))
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin,
                                                            os.fdopen(in_w, "wb", buffering=0))
        stdin = asyncio.StreamWriter(transport, protocol, None, loop)
        return WarmProcess(pid, stdin, stdout, self.children[pid])

    async def _running(self) -> bool:
        if self.sock is not None and self.ready is not None and self.ready.done():
            return self.ready.result()
        async with self.starting:
            if self.sock is None:
                if time.monotonic() - self.failed_at < RETRY:
                    return False
                await self._start()
            assert self.ready is not None
            try:
                return await within(asyncio.shield(self.ready), READY_TIMEOUT)
            except TimeoutError:
                self._lost("not ready in time")
                return False

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.ready = loop.create_future()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "onesh.runtime.zygote", str(theirs.fileno()), *([self.owner] if self.owner else []),
                pass_fds=[theirs.fileno()], stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=None, env=self.env)
        except OSError as e:
            ours.close()
            self.ready.set_result(False)
            self.failed_at = time.monotonic()
            log.warning("warm stage hosts off: cannot start the zygote: %s", e)
            return
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        loop.add_reader(ours.fileno(), self._readable)

    # ----------------------------------------------------------- replies
    def _readable(self) -> None:
        assert self.sock is not None
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._lost("exited")
                return
            try:
                msg: dict[str, Any] = json.loads(data)
            except ValueError:
                continue
            self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        if "ready" in msg or ("error" in msg and "fork" not in msg):
            if self.ready is not None and not self.ready.done():
                if "error" in msg:
                    log.warning("warm stage hosts off: the zygote failed: %s", msg["error"])
                self.ready.set_result("ready" in msg)
        elif "exit" in msg:
            fut = self.children.pop(int(msg["exit"]), None)
            if fut is not None and not fut.done():
                fut.set_result(int(msg.get("rc", -signal.SIGKILL)))
            self._arm_idle()
        elif "fork" in msg:
            reply = self.forks.pop(int(msg["fork"]), None)
            if reply is None or reply.done():
                return
            if "pid" in msg:
                pid = int(msg["pid"])
                self.children[pid] = loop.create_future()  # before its exit can be read
                reply.set_result(pid)
            else:
                reply.set_exception(RuntimeError(str(msg.get("error"))))

    # ----------------------------------------------------------- the end
    def _lost(self, why: str) -> None:
        """The zygote is gone (or given up): start stages cold for a while,
        and watch its children's ends ourselves."""
        if self.sock is None:
            return
        if why in ("idle", "stopped"):
            log.info("zygote let go (%s); the next stage starts it again", why)
        else:
            log.warning("zygote %s; stage hosts start cold for %.0fs", why, RETRY)
        self._close_socket()
        self.failed_at = time.monotonic() if why != "idle" else -RETRY
        if self.ready is not None and not self.ready.done():
            self.ready.set_result(False)
        for reply in self.forks.values():
            if not reply.done():
                reply.set_exception(RuntimeError(f"zygote {why}"))
        self.forks.clear()
        for pid, fut in self.children.items():
            _watch_orphan(pid, fut)
        self.children = {}

    def _close_socket(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        if self.sock is not None:
            with contextlib.suppress(ValueError, RuntimeError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        self.ready = None

    def _arm_idle(self) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.idle_timer = asyncio.get_running_loop().call_later(IDLE, self._idle)

    def _idle(self) -> None:
        self.idle_timer = None
        if self.children or self.forks:
            self._arm_idle()
            return
        self._lost("idle")  # its end of the socket sees end-of-file and it exits

    async def close(self) -> None:
        self._lost("stopped")
        if self.proc is not None:
            with contextlib.suppress(TimeoutError, ProcessLookupError):
                await within(self.proc.wait(), 2.0)
            if self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()


def _watch_orphan(pid: int, fut: asyncio.Future[int]) -> None:
    """A stage host whose zygote is gone: nobody will report its status,
    so resolve `fut` when it ends (as killed: had it finished normally
    it reported its statuses on its stdout first)."""
    if fut.done():
        return

    async def watch() -> None:
        from onesh.runtime.forked import ended

        try:
            await ended(pid)
        except ProcessLookupError:
            pass  # already gone
        except OSError:  # (no pidfd: a kernel before 5.3) its new parent reaps it
            while _exists(pid):
                await asyncio.sleep(0.5)
        if not fut.done():
            fut.set_result(-signal.SIGKILL)

    task = asyncio.get_running_loop().create_task(watch())
    _watching.add(task)
    task.add_done_callback(_watching.discard)


_watching: set[asyncio.Task[None]] = set()  # (the tasks above, so none is collected while it runs)


def _exists(pid: int) -> bool:
    """Running (a zombie its new parent has not reaped counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return False
