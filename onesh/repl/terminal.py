"""The REPL's terminal side that needs no line editor: job control, the
rc file, the terminal modes commands run with, and the first prompt shown
before prompt_toolkit (a tenth of a second of imports) is loaded.

`onesh` on a terminal runs `prepare` and `show_first_prompt` first, so the
prompt is on the screen while the editor loads; keys typed meanwhile wait
in the terminal and reach the editor, which then draws the same prompt
over the early one.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from onesh.engine.control import ExitShell
from onesh.repl.prompt import ps1_text

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter


class TtyModes:
    """The terminal modes commands run with, kept like bash does: a command
    that exits normally may change them for good (`stty -echo`), one killed
    by a signal or stopped (status > 128) gets them restored, since it had
    no chance to undo its raw mode.  Commands always start in these cooked
    modes, whatever the line editor did to the terminal."""

    def __init__(self, fd: int | None) -> None:
        self.fd = fd if fd is not None and os.isatty(fd) else None
        self.modes = self._get()

    def _get(self) -> list[Any] | None:
        if self.fd is None:
            return None
        import termios

        try:
            return termios.tcgetattr(self.fd)
        except termios.error:
            return None

    def _set(self) -> None:
        if self.fd is None or self.modes is None:
            return
        import termios

        try:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.modes)
        except termios.error:
            pass

    def before_command(self) -> None:
        self._set()

    def after_command(self, status: int) -> None:
        if status > 128:
            self._set()
        else:
            self.modes = self._get() or self.modes


def setup_job_control(interp: Interpreter) -> None:
    """Own the terminal: our own process group in the foreground, and the
    job-control signals ignored by the shell itself (children restore them)."""
    if not os.isatty(0):
        return
    for sig in (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    try:
        if os.getpgrp() != os.getpid():
            os.setpgid(0, 0)
        os.tcsetpgrp(0, os.getpgrp())
    except OSError:
        return
    interp.job_control = True
    interp.tty_fd = 0
    interp.shell_pgid = os.getpgrp()


def source_rc(interp: Interpreter) -> None:
    home = interp.state.get("HOME") or os.path.expanduser("~")
    rc = os.path.join(home, ".oneshrc")
    if os.path.isfile(rc):
        try:
            interp.run_file(rc)
        except ExitShell:
            pass


def prepare(interp: Interpreter) -> None:
    """Before the first prompt: the terminal and the rc file."""
    setup_job_control(interp)
    source_rc(interp)


class FirstPrompt:
    """The prompt written before the line editor is loaded.  Meanwhile the
    terminal is in raw mode, as the editor would keep it: keys wait in the
    input queue unechoed and uninterpreted (Ctrl-C, Ctrl-D reach the editor
    as keys instead of signalling or ending the shell)."""

    def __init__(self, text: str, modes: list[Any] | None) -> None:
        self.text = text
        self.modes = modes

    def hand_over(self) -> None:
        """The editor takes the terminal: back to the modes it had (the
        editor saves those, and commands run with them)."""
        if self.modes is None:
            return
        import termios

        try:
            termios.tcsetattr(0, termios.TCSANOW, self.modes)
        except termios.error:
            pass
        self.modes = None


def show_first_prompt(interp: Interpreter) -> FirstPrompt | None:
    """Write PS1 (expanded) to the terminal now, None when not on one."""
    if not (os.isatty(0) and os.isatty(1)):
        return None
    import termios

    try:
        text = ps1_text(interp)
    except KeyboardInterrupt:  # Ctrl-C while a $(...) in PS1 runs
        text = "$ "
    try:
        modes = termios.tcgetattr(0)
        raw = termios.tcgetattr(0)
        raw[3] &= ~(termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN)  # lflag
        raw[6][termios.VMIN], raw[6][termios.VTIME] = 1, 0
        termios.tcsetattr(0, termios.TCSANOW, raw)
    except termios.error:
        modes = None
    first = FirstPrompt(text, modes)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError:
        first.hand_over()
        return None
    return first
