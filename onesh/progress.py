"""Progress of long work (a big `cp`, `cluster up` of many runtimes): a
prompt_toolkit progress bar on a terminal, nothing otherwise.

    with progress("copy big.iso", total=size, unit="B") as advance:
        for chunk in ...:
            advance(len(chunk))

The bar shows the amount done, the rate and the time left; on stderr, so
the command's output stays clean.  Without a terminal on stderr (a script,
a pipe, a test) nothing is printed and nothing of prompt_toolkit is
imported.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any


def human(n: float, unit: str) -> str:
    if unit != "B":
        return f"{n:.0f}"
    for suffix in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or suffix == "GiB":
            return f"{n:.0f} {suffix}" if suffix == "B" else f"{n:.1f} {suffix}"
        n /= 1024
    return f"{n:.1f} TiB"


def on_terminal() -> bool:
    try:
        return os.isatty(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):
        return False


@contextlib.contextmanager
def progress(title: str, total: float | None, unit: str = "B") -> Iterator[Callable[[float], None]]:
    """A function to call with each amount done (added up)."""
    if not on_terminal():
        yield lambda n: None
        return
    from prompt_toolkit.output import create_output
    from prompt_toolkit.shortcuts import ProgressBar
    from prompt_toolkit.shortcuts.progress_bar import formatters

    class Amount(formatters.Formatter):
        """done / total in bytes (or items), and the rate."""

        def format(self, progress_bar: Any, progress: Any, width: int) -> Any:
            done = progress.items_completed
            seconds = progress.time_elapsed.total_seconds() or 1e-9
            of = f" / {human(progress.total, unit)}" if progress.total else ""
            return f"{human(done, unit)}{of}  {human(done / seconds, unit)}/s"

        def get_width(self, progress_bar: Any) -> Any:
            from prompt_toolkit.layout.dimension import D

            return D(min=24)

    bar = ProgressBar(title=title, output=create_output(stdout=sys.stderr), formatters=[
        formatters.Percentage(), formatters.Text(" "), formatters.Bar(), formatters.Text(" "), Amount(),
        formatters.Text("  eta "), formatters.TimeLeft()])
    with bar:
        counter: Any = bar(total=int(total) if total else None)

        def advance(n: float) -> None:
            counter.items_completed += int(n)
            bar.invalidate()

        yield advance
        counter.done = True
