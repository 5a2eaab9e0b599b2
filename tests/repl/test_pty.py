"""End-to-end: the real `onesh` REPL on a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time

import pytest


class PtyShell:
    def __init__(self, home: str) -> None:
        env = dict(os.environ, HOME=home, TERM="xterm", PS1="PROMPT$ ", PROMPT_TOOLKIT_NO_CPR="1", XDG_DATA_HOME=home)
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe(sys.executable, [sys.executable, "-m", "onesh"], env)
        self.pid, self.fd = pid, fd
        self.buf = b""

    def read_until(self, needle: bytes, timeout: float = 15.0) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {needle!r}; got {self.buf[-500:]!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    break
                if not data:
                    break
                self.buf += data
        idx = self.buf.index(needle) + len(needle)
        out, self.buf = self.buf[:idx], self.buf[idx:]
        return out

    def send(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def wait(self, timeout: float = 10.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                os.read(self.fd, 4096)
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("shell did not exit")

    def descendants(self) -> set[int]:
        """Processes in the shell's session (pty.fork made the shell a session
        leader), so jobs orphaned by an exited shell are still found."""
        found: set[int] = set()
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != self.pid:
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[3]) == self.pid and fields[0] != "Z":
                    found.add(int(entry))
        return found

    def foreground_job(self) -> bool:
        """Does a job of the shell's own hold the terminal (its process
        group is the terminal's foreground group, not the shell's)?"""
        for pid in self.descendants():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            pgrp, tpgid = int(fields[2]), int(fields[5])
            if pgrp == tpgid and pgrp != self.pid:
                return True
        return False

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


@pytest.fixture
def shell(tmp_path):  # type: ignore[no-untyped-def]
    sh = PtyShell(str(tmp_path))
    yield sh
    # Whatever the shell started must be gone once the test is over.
    leftover = sh.descendants()
    sh.kill()
    for pid in leftover:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not leftover, f"processes left behind: {leftover}"


def test_echo_and_exit_status(shell: PtyShell) -> None:
    shell.read_until(b"PROMPT$")
    shell.send("echo hi-$((40+2))\r")
    shell.read_until(b"hi-42")
    shell.read_until(b"PROMPT$")
    shell.send("exit 3\r")
    assert shell.wait() == 3


def test_ctrl_c_kills_foreground_job_not_shell(shell: PtyShell) -> None:
    shell.read_until(b"PROMPT$")
    shell.send("sleep 30\r")
    # ^C before the job owns the terminal would reach the shell instead (a
    # loaded machine can take long to fork): wait until it is in front.
    deadline = time.monotonic() + 10
    while not shell.foreground_job() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert shell.foreground_job(), "the job never got the terminal"
    start = time.monotonic()
    shell.send("\x03")
    shell.read_until(b"PROMPT$", timeout=5)
    assert time.monotonic() - start < 5
    shell.send("echo alive $?\r")
    shell.read_until(b"alive 130")
    shell.send("exit\r")
    assert shell.wait() == 0


def test_multiline_continuation(shell: PtyShell) -> None:
    shell.read_until(b"PROMPT$")
    shell.send("if true; then\r")
    shell.send("echo in-$((1+1))\r")
    shell.send("fi\r")
    shell.read_until(b"in-2")
    shell.send("exit\r")
    shell.wait()


def test_descendants_are_seen(shell: PtyShell) -> None:
    # Guards the leak check in the fixture: a running job is found.
    shell.read_until(b"PROMPT$")
    shell.send("sleep 30 &\r")
    shell.read_until(b"[1] ")
    deadline = time.monotonic() + 5
    while not shell.descendants() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert shell.descendants()
    shell.send("kill %1\r")
    deadline = time.monotonic() + 5
    while shell.descendants() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not shell.descendants()
    shell.send("exit\r")
    shell.wait()


def test_ctrl_d_exits(shell: PtyShell) -> None:
    shell.read_until(b"PROMPT$")
    shell.send("\x04")
    assert shell.wait() == 0


def test_background_job_notice(shell: PtyShell) -> None:
    shell.read_until(b"PROMPT$")
    shell.send("sleep 0.2 &\r")
    shell.read_until(b"[1] ")
    shell.read_until(b"Done", timeout=10)
    shell.send("exit\r")
    shell.wait()


def test_syntax_error_shows_caret_and_continues(shell: PtyShell) -> None:
    shell.read_until(b"PROMPT$")
    shell.send("echo )\r")
    shell.read_until(b"syntax error: unexpected token")
    shell.read_until(b"^")
    shell.read_until(b"PROMPT$")
    shell.send("exit\r")
    assert shell.wait() == 2


def _echo_flag(shell: PtyShell, tag: str) -> bytes:
    # The marker is computed by the shell, so the echoed input never matches.
    shell.send(f"stty -a | tr ' ;' '\\n\\n' | grep -x -e echo -e -echo | sed \"s/^/{tag}$((6*7)):/\"\r")
    line = shell.read_until(f"{tag}42:".encode()) + shell.read_until(b"\n")
    return line.rsplit(b":", 1)[1].strip()


def test_terminal_modes_kept_or_restored_like_bash(shell: PtyShell) -> None:
    shell.read_until(b"PROMPT$")
    assert _echo_flag(shell, "A") == b"echo"
    # Killed by a signal with echo off: the shell restores its modes.
    shell.send("sh -c 'stty -echo; kill -9 $$'\r")
    shell.read_until(b"PROMPT$")
    assert _echo_flag(shell, "B") == b"echo"
    # A normal exit keeps the change (bash: `stty -echo` sticks).
    shell.send("stty -echo\r")
    shell.read_until(b"PROMPT$")
    assert _echo_flag(shell, "C") == b"-echo"
    shell.send("stty echo\r")
    shell.send("exit\r")
    shell.wait()


def test_keys_typed_before_the_editor_is_loaded_reach_it(shell: PtyShell) -> None:
    """The first prompt is written before prompt_toolkit is imported; keys
    typed at once (Ctrl-C included) wait for the editor instead of being
    echoed, signalled or lost, and commands still get a cooked terminal."""
    shell.read_until(b"PROMPT$")
    shell.send("echo lost\x03echo typed-ahead\r")
    out = shell.read_until(b"typed-ahead\r\n")  # the command's output
    assert b"lost\r\n" not in out
    shell.send("stty -a\r")
    modes = shell.read_until(b"echoctl")  # stty's local-modes line
    assert b"icanon" in modes and b"-icanon" not in modes and b"-isig" not in modes, modes
    assert b" echo " in modes, modes
    shell.send("exit\r")
    assert shell.wait() == 0
