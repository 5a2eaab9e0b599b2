"""Warm stage hosts: a pre-imported process that forks them.

A stage host started cold is a new interpreter that imports zmq, the pipe
layer and TLS and derives the cluster keys before it binds its first
pipe: about 100 ms of CPU for every remote stage, which is most of what
`true @r2` costs.  A runtime instead keeps one *zygote*
(`python -m onesh.runtime.zygote FD NAME:DATA_DIR`), started on its first stage, which
has done all of that once and forks a stage host in a millisecond or two.
The forked child runs exactly what a cold stage host runs
(`stagehost.main`), with the same stdin (its spec, then its lifeline) and
stdout (its report lines): the runtime sees no difference but the time.

The zygote has no threads and no zmq context, so forking it is safe; a
child makes its own context after the fork.

Protocol, over a SOCK_SEQPACKET socket pair (one datagram per message,
JSON):
    runtime → zygote  {"fork": N} with two fds (SCM_RIGHTS): the child's
                      stdin and stdout, the read end and write end of two
                      pipes the runtime holds the other ends of
    zygote → runtime  {"ready": true} once, after the imports;
                      {"fork": N, "pid": P} or {"fork": N, "error": "..."};
                      {"exit": P, "rc": R} when a child ends (R as in
                      Popen.returncode: -SIG when killed by a signal)
End of file on the socket (the runtime died or let it go) ends the zygote;
its children keep running, each watched by its own lifeline.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import sys
from typing import Any

# /proc/PID/comm (what `ps -o comm` and `top` show) of the zygote and of
# the stage hosts it forks, which keep its command line.
ZYGOTE_NAME = b"onesh-zygote"
PROC_NAME = b"onesh-stagehost"


def set_proc_name(name: bytes) -> None:
    try:
        with open("/proc/self/comm", "wb") as f:
            f.write(name[:15])
    except OSError:
        pass  # (not Linux: only ps shows less)


# What a stage host imports on its way to its first pipe (and the builtin
# agents it runs most): imported once here, shared by every child.
WARM = ("asyncio.subprocess", "ssl", "ctypes", "zmq.asyncio", "onesh.net.pipes", "onesh.net.transport",
        "onesh.net.unixsock", "onesh.net.tlslink", "onesh.net.zmqlink", "onesh.runtime.stagehost",
        "onesh.runtime.nsclient", "onesh.runtime.forked", "onesh.runtime.agentpipes", "onesh.net.netio",
        "onesh.coreutils.__main__", "onesh.coreutils.common",
        "onesh.coreutils.cat", "onesh.coreutils.grep", "onesh.cli", "onesh.engine.interp")


def _warm_up() -> None:
    """Import what a stage host needs and derive the cluster's keys, once."""
    import importlib

    for name in WARM:
        with contextlib.suppress(ImportError):  # (a module this version does not have)
            importlib.import_module(name)
    import tempfile

    # (the first call looks for a usable directory by writing a file in
    # each candidate: ~2 ms of every stage host's way to its first Unix
    # socket, unless it is cached here)
    tempfile.gettempdir()
    if os.environ.get("ONESH_SECRET"):
        from onesh.runtime import stagehost

        stagehost.cluster_keys()  # cached: each child starts with them


def _send(sock: socket.socket, msg: dict[str, Any]) -> None:
    try:
        sock.send(json.dumps(msg).encode())
    except OSError:
        pass  # the runtime is gone: the loop sees end-of-file next


def _rc(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.waitstatus_to_exitcode(status)


def _child(sock: socket.socket, sel: selectors.BaseSelector, wake_r: int, wake_w: int,
           stdin_fd: int, stdout_fd: int) -> None:
    """In the forked child: become a stage host.  Never returns."""
    rc = 1
    try:
        os.setsid()  # as start_new_session: the job's signals reach it only through its runtime
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sel.close()
        sock.close()
        os.close(wake_r)
        os.close(wake_w)
        os.dup2(stdin_fd, 0)
        os.dup2(stdout_fd, 1)
        os.close(stdin_fd)
        os.close(stdout_fd)
        set_proc_name(PROC_NAME)
        # The interpreter's stdin/stdout objects were made for the zygote's
        # fds 0 and 1: new ones, with nothing buffered from before.
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
        from onesh.runtime import stagehost

        rc = stagehost.main()
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - a child must never return into the zygote's loop
        rc = 1
    finally:
        os._exit(rc)


def serve(sock: socket.socket) -> int:
    sel = selectors.DefaultSelector()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # (only to wake the selector)
    # The runtime stops us by closing the socket; a ^C on its terminal is
    # for the runtime to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sel.register(sock, selectors.EVENT_READ, "sock")
    sel.register(wake_r, selectors.EVENT_READ, "wake")
    _send(sock, {"ready": True})
    while True:
        for key, _ in sel.select():
            if key.data == "wake":
                os.read(wake_r, 4096)
                _reap(sock)
                continue
            try:
                data, fds, _flags, _addr = socket.recv_fds(sock, 65536, 2)
            except OSError:
                data, fds = b"", []
            if not data:
                return 0
            try:
                n = json.loads(data).get("fork")
            except (ValueError, AttributeError):
                n = None
            if n is None or len(fds) != 2:
                for fd in fds:
                    os.close(fd)
                _send(sock, {"fork": n, "error": "bad request"})
                continue
            try:
                pid = os.fork()
            except OSError as e:
                _send(sock, {"fork": n, "error": f"fork: {e.strerror}"})
                pid = -1
            if pid == 0:
                _child(sock, sel, wake_r, wake_w, fds[0], fds[1])
            for fd in fds:
                os.close(fd)
            if pid > 0:
                _send(sock, {"fork": n, "pid": pid})


def _reap(sock: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _send(sock, {"exit": pid, "rc": _rc(status)})


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2) or not argv[0].isdigit():
        sys.stderr.write("usage: python -m onesh.runtime.zygote FD [OWNER]  (started by a runtime)\n")
        return 2
    sock = socket.socket(fileno=int(argv[0]))
    set_proc_name(ZYGOTE_NAME)
    try:
        _warm_up()
    except Exception as e:  # noqa: BLE001 - the runtime falls back to cold stage hosts
        _send(sock, {"error": f"{type(e).__name__}: {e}"})
        return 1
    return serve(sock)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
