"""How a bootstrap shows its progress.

On a terminal: a prompt_toolkit progress display, one line per step (a
spinner while it runs, its result when done) and a bar with bytes and rate
for the copy.  Anywhere else (a pipe, a log, CI): one plain line per
finished step, which is what a script wants to read.
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    def start(self, index: int, total: int, title: str) -> None: ...
    def done(self, detail: str) -> None: ...
    def copy(self, sent: int, size: int) -> None: ...
    def close(self) -> None: ...


def size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class PlainProgress:
    """`edge1: [2/6] ship wheels: 9.3 MiB in 14 files (12.0 MiB/s) 0.8s`."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self.stream = stream
        self.name = name
        self.label = ""
        self.t0 = time.monotonic()

    def start(self, index: int, total: int, title: str) -> None:
        self.label = f"[{index}/{total}] {title}"
        self.t0 = time.monotonic()

    def done(self, detail: str) -> None:
        self.stream.write(f"{self.name}: {self.label}: {detail} ({time.monotonic() - self.t0:.1f}s)\n")
        self.stream.flush()

    def copy(self, sent: int, size: int) -> None:
        pass

    def close(self) -> None:
        pass


class TerminalProgress:
    """A prompt_toolkit ProgressBar: one counter per step, bytes for the copy."""

    def __init__(self, stream: TextIO, name: str) -> None:
        from prompt_toolkit.input import create_pipe_input
        from prompt_toolkit.output import create_output
        from prompt_toolkit.shortcuts import ProgressBar

        self.stack = contextlib.ExitStack()
        # The display reads no keys (Ctrl-C reaches us as SIGINT from the
        # terminal), and must not end when stdin is /dev/null: an input
        # that stays open until we close it.
        keys = self.stack.enter_context(create_pipe_input())
        self.bar = self.stack.enter_context(ProgressBar(
            title=f"onesh bootstrap {name}", formatters=_formatters(), output=create_output(stdout=stream),
            input=keys))
        self.counter: Any = None
        self.label = ""

    def start(self, index: int, total: int, title: str) -> None:
        self.label = f"[{index}/{total}] {title}"
        self.counter = self.bar(label=self.label)

    def done(self, detail: str) -> None:
        if self.counter is not None:
            self.counter.label = f"{self.label}: {detail}"
            if self.counter.total is not None:
                self.counter.items_completed = self.counter.total
            self.counter.done = True
        self.bar.invalidate()

    def copy(self, sent: int, size: int) -> None:
        if self.counter is not None:
            self.counter.total = size
            self.counter.items_completed = sent
            self.bar.invalidate()

    def close(self) -> None:
        if self.counter is not None and not self.counter.done:
            self.counter.stopped = True  # a failed step stays visible, without a spinner
        self.stack.close()


def _formatters() -> list[Any]:
    from prompt_toolkit.formatted_text import AnyFormattedText
    from prompt_toolkit.layout.dimension import AnyDimension, D
    from prompt_toolkit.shortcuts.progress_bar import formatters as f

    class Transfer(f.Formatter):
        """`3.1/9.3 MiB 45.2 MiB/s` for a counter with a byte total, else a spinner."""

        def format(self, progress_bar: Any, progress: Any, width: int) -> AnyFormattedText:
            if progress.total is None:
                return "" if progress.done or progress.stopped else f.SpinningWheel().format(progress_bar, progress, width)
            seconds = max(progress.time_elapsed.total_seconds(), 1e-6)
            return f"{size(progress.items_completed)}/{size(progress.total)} {size(progress.items_completed / seconds)}/s"

        def get_width(self, progress_bar: Any) -> AnyDimension:
            return D(min=1, max=34, preferred=34)

    class ByteBar(f.Bar):
        def format(self, progress_bar: Any, progress: Any, width: int) -> AnyFormattedText:
            return "" if progress.total is None else super().format(progress_bar, progress, width)

    return [f.Label(), f.Text(" "), ByteBar(sym_a="#", sym_b="#", sym_c="."), f.Text(" "), Transfer(),
            f.Text(" "), f.TimeElapsed()]


def make_progress(stream: TextIO, name: str) -> Progress:
    """The display for `stream`: prompt_toolkit on a terminal, else plain lines."""
    try:
        tty = os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        tty = False
    if tty and os.environ.get("TERM") != "dumb":
        return TerminalProgress(stream, name)
    return PlainProgress(stream, name)
