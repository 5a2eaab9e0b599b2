"""Builtin agents and shell stages forked from their stage host.

`python -m onesh.coreutils cat` as a separate interpreter costs a Python
start-up and its imports (30 to 50 ms) for every builtin stage; the stage
host already is a Python process with onesh importable (and, forked from
a warm zygote, with the agents already imported).  So a stage whose
command is onesh's own code runs in a child forked from the stage host,
which sets up its fds, directory, environment and signals as exec would
have, runs the entry point and leaves with os._exit.

Only safe while the stage host has no other thread that could hold a
lock the child needs: stagehost.py starts its commands before zmq and
the authenticator start theirs.  asyncio's child watcher may have one
thread per exec'd command waiting in waitpid, which holds no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import sys
from collections.abc import Callable

# (onesh's signal set-up in a fresh interpreter: SIGINT raises
# KeyboardInterrupt, SIGPIPE is ignored so a closed pipe is EPIPE.)
RESET = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP, signal.SIGCONT,
         signal.SIGUSR1, signal.SIGUSR2, signal.SIGCHLD, signal.SIGTTIN, signal.SIGTTOU)


def entry_point(argv: list[str]) -> Callable[[], int] | None:
    """What `argv` would run, if it is onesh's own code run by this very
    interpreter: a builtin agent or a shell stage.  None: exec it."""
    if len(argv) < 3 or argv[0] != sys.executable or argv[1] != "-m":
        return None
    rest = argv[3:]
    if argv[2] == "onesh.coreutils":
        def agent() -> int:
            from onesh.coreutils.__main__ import finish_stdout, main

            set_name(rest[0] if rest else "onesh")
            return finish_stdout(main(rest))
        return agent
    if argv[2] == "onesh":
        def shell() -> int:
            from onesh.cli import main

            set_name("onesh")
            return main(rest)
        return shell
    return None


def set_name(name: str) -> None:
    """What ps shows for it (its command line stays its parent's)."""
    from onesh.runtime.zygote import set_proc_name

    set_proc_name(name.encode())


class ForkedCommand:
    """A forked child, awaited as an asyncio subprocess is."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pgid = 0  # its process group (0: unknown, it already ended)
        self.returncode: int | None = None

    async def wait(self) -> int:
        if self.returncode is None:
            try:
                await ended(self.pid)
                _, status = os.waitpid(self.pid, 0)
            except OSError:  # (no pidfd: a kernel before 5.3)
                _, status = await asyncio.to_thread(os.waitpid, self.pid, 0)
            self.returncode = (-os.WTERMSIG(status) if os.WIFSIGNALED(status)
                               else os.waitstatus_to_exitcode(status))
        return self.returncode


async def ended(pid: int) -> None:
    """Return once process `pid` has ended (a zombie counts), without
    reaping it; OSError where the kernel has no pidfd."""
    pidfd = os.pidfd_open(pid)
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def readable() -> None:
        if not done.done():  # (level-triggered: it may fire again before we go)
            done.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await done
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)


def fork_command(run: Callable[[], int], *, stdin: int, stdout: int, stderr: int, cwd: str,
                 env: dict[str, str], process_group: int, fd3: int = -1) -> ForkedCommand:
    """Fork a child that runs `run()` with the given fds as 0, 1 and 2 (and
    `fd3` as 3, when given), in process group `process_group` (0: a new
    one it leads)."""
    pid = os.fork()
    if pid == 0:
        _child(run, (stdin, stdout, stderr, fd3), cwd, env, process_group)
    # Both sides set the group, as shells do, so it is set before either
    # goes on; both try the same groups in the same order.
    child = ForkedCommand(pid)
    for group in (process_group, 0) if process_group else (0,):
        try:
            os.setpgid(pid, group)
        except OSError:
            continue
        child.pgid = group or pid
        break
    return child


def _child(run: Callable[[], int], fds: tuple[int, int, int, int], cwd: str,
           env: dict[str, str], process_group: int) -> None:
    rc = 1
    try:
        try:
            os.setpgid(0, process_group)
        except OSError:
            os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        for sig in RESET:
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        # (each source moved above the targets first, so none is overwritten before it is copied)
        moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 4) if 0 <= fd < 4 else fd for fd in fds]
        for target, fd in enumerate(moved):
            if fd >= 0:
                os.dup2(fd, target)
        last = 4 if fds[3] >= 0 else 3
        os.closerange(last, _max_fd())  # the stage host's pipes and sockets are not ours
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False,  # noqa: SIM115
                          buffering=1)
        rc = run()
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except KeyboardInterrupt:
        rc = 130
    except BaseException as e:  # noqa: BLE001 - the child must never return into its parent's code
        with contextlib.suppress(OSError):
            os.write(2, f"onesh: {type(e).__name__}: {e}\n".encode())
        rc = 1
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os._exit(rc & 0xFF)


def _max_fd() -> int:
    try:
        return max(int(n) for n in os.listdir("/proc/self/fd")) + 1
    except (OSError, ValueError):
        return os.sysconf("SC_OPEN_MAX")
