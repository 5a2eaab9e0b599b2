"""posix_spawn for external commands when the shell has no job control.

fork() of a Python process is costly: every object the child touches
(reference counts!) copies a page before exec.  posix_spawn (vfork + exec
in glibc) avoids that, which is most of the per-stage cost of a pipeline of
external programs.  With job control (the interactive REPL) we keep fork,
because the child itself must join its process group and take the terminal
before it can read from it.
"""

from __future__ import annotations

import errno
import os
import sys

from onesh.parser import ast as A

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Sequence

    from onesh.engine.interp import Interpreter

def child_default_signals() -> tuple[int, ...]:
    """The signals a child gets back at their default disposition (the
    shell ignores or handles them).  `signal` is imported here, not at
    start-up: its enums cost `onesh -c true` a few milliseconds."""
    import signal

    return (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU,
            signal.SIGPIPE, signal.SIGCHLD)


class SpawnError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def spawn(path: str, argv: list[str], env: dict[str, str], *,
          dup2: Sequence[tuple[int, int]] = ()) -> int:
    """Start argv with fds dup'ed (src, dst) first; returns the pid."""
    actions = [(os.POSIX_SPAWN_DUP2, src, dst) for src, dst in dup2]
    try:
        return os.posix_spawn(path, argv, env, file_actions=actions, setsigdef=child_default_signals())
    except OSError as e:
        if e.errno == errno.ENOEXEC:
            # A script without #!: run it with onesh, like bash runs it with bash.
            return os.posix_spawn(sys.executable, [sys.executable, "-m", "onesh", path, *argv[1:]], env,
                                  file_actions=actions, setsigdef=child_default_signals())
        if e.errno == errno.ENOENT:
            raise SpawnError(127, f"{argv[0]}: No such file or directory") from None
        raise SpawnError(126, f"{argv[0]}: {e.strerror}") from None


def _safe_part(p: A.WordPart) -> bool:
    """Parts whose expansion has no side effects, so expanding them in the
    parent instead of a forked child is unobservable."""
    if isinstance(p, (A.Lit, A.SQuoted, A.Escaped, A.AnsiCQuoted, A.Tilde)):
        return True
    if isinstance(p, A.DQuoted):
        return all(_safe_part(x) for x in p.parts)
    if isinstance(p, A.Param):
        return p.op not in ("=", ":=", "?", ":?", "bad") and p.index is None
    return False


def plan_stage(interp: Interpreter, cmd: A.Command) -> tuple[str, list[str], dict[str, str]] | None:
    """(path, argv, env) if this pipeline stage can be posix_spawn'ed."""
    if interp.job_control or not isinstance(cmd, A.SimpleCommand) or cmd.redirs or not cmd.words:
        return None
    if "xtrace" in interp.state.options:
        return None
    for w in cmd.words:
        if not all(_safe_part(p) for p in w.parts):
            return None
    for a in cmd.assigns:
        if a.value is None or a.array is not None or not all(_safe_part(p) for p in a.value.parts):
            return None
    argv = interp.expander.words(cmd.words)
    if not argv:
        return None
    name = argv[0]
    if name in interp.state.functions:
        return None
    from onesh.builtins.registry import BUILTINS

    if name in BUILTINS:
        return None
    path = interp.find_command(name)
    if path is None or os.path.isdir(path):
        return None
    env = interp.state.environ()
    for a in cmd.assigns:
        assert a.value is not None
        env[a.name] = interp.expander.single(a.value)
    return path, argv, env
