"""What a builtin sees: `run(argv, io) -> int`.

`IO` carries the three file descriptors the builtin must use (the engine has
already applied redirections, so a builtin never touches fds 0/1/2 directly)
and the `Shell` facade for state and services.  Builtins are registered by
name in `onesh.builtins.registry` and imported lazily, so `onesh -c true`
pays only for the modules it uses.
"""

from __future__ import annotations

import os

from onesh.record import Record

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from onesh.engine.state import ShellState
else:
    Protocol = object


class Shell(Protocol):
    """Services of the interpreter that builtins may call."""

    state: ShellState

    def run_text(self, text: str, name: str) -> int:
        """Parse and run shell text in the current shell (eval, source)."""
        ...

    def history(self) -> list[str]:
        """Lines entered so far (the REPL supplies them; empty for scripts)."""
        ...


class IO(Record):
    stdin: int
    stdout: int
    stderr: int
    shell: Shell

    @property
    def state(self) -> ShellState:
        return self.shell.state

    def out(self, text: str) -> None:
        write_all(self.stdout, text.encode("utf-8", "surrogateescape"))

    def err(self, text: str) -> None:
        write_all(self.stderr, text.encode("utf-8", "surrogateescape"))

    def error(self, name: str, message: str) -> None:
        """Print `onesh: name: message` to stderr, bash style."""
        self.err(f"onesh: {name}: {message}\n")


def write_all(fd: int, data: bytes) -> None:
    """os.write until everything is written.  A closed reader raises
    BrokenPipeError, which the engine turns into status 141 like SIGPIPE."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


if TYPE_CHECKING:
    BuiltinFn = Callable[[list[str], IO], int]
