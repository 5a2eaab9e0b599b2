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

    from onesh.engine.jobs import Job, JobTable
    from onesh.engine.state import ShellState
    from onesh.runtime.client import ClusterClient
else:
    Protocol = object


class Shell(Protocol):
    """Everything a builtin may use of the interpreter
    (onesh.engine.interp.Interpreter implements it); builtins never reach
    past it."""

    state: ShellState
    jobs: JobTable
    job_control: bool
    sourcing: int  # `source`/`.` files being run: `return` is valid there too

    def run_text(self, text: str, name: str) -> int:
        """Parse and run shell text in the current shell (eval, source)."""
        ...

    def where(self) -> str:
        """The start of an error message, bash style: `onesh: ` at the
        prompt, `FILE: line N: ` in a script (`onesh: line N: ` for -c)."""
        ...

    def run_argv(self, argv: list[str], *, skip_functions: bool = False, skip_builtins: bool = False) -> int:
        """Run an expanded command (`command NAME`, `ps` falling back to the system's)."""
        ...

    def exec_external(self, argv: list[str], env: dict[str, str]) -> int:
        """Replace the shell with a program (`exec`); the status if that fails."""
        ...

    def find_command(self, name: str) -> str | None:
        """The path $PATH gives a program name (hashed)."""
        ...

    def history(self) -> list[str]:
        """Lines entered so far (the REPL supplies them; empty for scripts)."""
        ...

    def clear_history(self) -> None: ...

    def continue_job(self, job: Job) -> None:
        """SIGCONT to a stopped job, which then runs in the background."""
        ...

    def foreground_job(self, job: Job) -> int:
        """Give a job the terminal, continue it and wait for it (`fg`)."""
        ...

    def reap_procsubs(self, *, block: bool) -> None:
        """Collect the <( ) >( ) children (`wait` waits for them)."""
        ...

    @property
    def cluster(self) -> Callable[[], ClusterClient] | None:
        """The cluster client getter (starts the embedded cluster on first
        use), None when the shell has no cluster."""
        ...

    def cluster_attached(self) -> bool:
        """Has the shell a cluster already?  Never starts one."""
        ...

    def namespace_dir(self, path: str) -> bool:
        """Is `path` a directory only the cluster namespace has (`cd /net/r2`)?"""
        ...

    def plan(self, text: str) -> str:
        """Where each stage of a one-pipeline command line would run (`plan`)."""
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
        """Print `onesh: name: message` to stderr, with the script's line
        when there is one (bash: `script.sh: line 3: cd: ...`)."""
        self.err(f"{self.shell.where()}{name}: {message}\n")


def write_all(fd: int, data: bytes) -> None:
    """os.write until everything is written.  A closed reader raises
    BrokenPipeError, which the engine turns into status 141 like SIGPIPE."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


if TYPE_CHECKING:
    BuiltinFn = Callable[[list[str], IO], int]
