"""Running programs: $PATH lookup, fork/spawn and exec, `exec`, and the
`command NAME` path that skips functions and builtins.

A mixin of Interpreter (onesh.engine.interp), like ProcessControl below
it; the attributes it uses are the interpreter's and are declared below
for the type checker.
"""

from __future__ import annotations

import os
import sys

from onesh.builtins import registry
from onesh.engine import redirs, spawn
from onesh.engine.control import ExitShell
from onesh.engine.processes import ProcessControl
from onesh.errors import OneshError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from onesh.engine.expand import Expander
    from onesh.parser import ast as A


class ProgramRunner(ProcessControl):
    if TYPE_CHECKING:
        expander: Expander
        path_cache: dict[str, str]

        def assign(self, a: A.Assign, *, export: bool | None = None) -> None: ...
        def apply_redirs(self, rs: tuple[A.Redir, ...]) -> list[redirs.Saved] | None: ...
        def call_function(self, func: A.FunctionDef, argv: list[str]) -> int: ...
        def run_builtin(self, name: str, argv: list[str]) -> int: ...
        def text_of(self, node: A.AndOr | A.Pipeline | A.Command) -> str: ...
        def where(self) -> str: ...

    def run_exec(self, cmd: A.SimpleCommand, argv: list[str]) -> int:
        if len(argv) == 1:
            for a in cmd.assigns:
                self.assign(a)
            saved = self.apply_redirs(cmd.redirs) if cmd.redirs else []
            if saved is None:
                if not self.interactive:
                    raise ExitShell(1)
                return 1
            redirs.discard(saved)
            return 0
        args = argv[1:]
        while args and args[0].startswith("-") and args[0] != "-":
            if args[0] == "--":
                args = args[1:]
                break
            args = args[1:]  # -c/-l/-a are accepted and ignored
        if not args:
            return 0
        saved = self.apply_redirs(cmd.redirs) if cmd.redirs else []
        if saved is None:
            return 1
        env = self.state.environ()
        for a in cmd.assigns:
            env[a.name] = self.expander.single(a.value) if a.value else ""
        status = self.exec_external(args, env)
        redirs.restore(saved)
        if not self.interactive:
            raise ExitShell(status)
        return status

    def run_argv(self, argv: list[str], *, skip_functions: bool = False, skip_builtins: bool = False) -> int:
        """Run an already expanded command (`command NAME ...`)."""
        name = argv[0]
        if not skip_functions and name in self.state.functions:
            return self.call_function(self.state.functions[name], argv)
        if not skip_builtins and name in registry.BUILTINS and name != "exec":
            return self.run_builtin(name, argv)
        if self.find_command(name) is None:
            self.write_err(f"{self.where()}{name}: command not found\n")
            return 127
        env = self.state.environ()
        pid = self.fork(0)
        if pid == 0:
            self.child_run(lambda: self.exec_external(argv, env))
        return self.wait_foreground([pid], pid, " ".join(argv))

    def find_command(self, name: str) -> str | None:
        if "/" in name:
            return name if os.path.exists(name) else None
        path = self.state.get("PATH")
        path = os.defpath if path is None else path
        key = f"{path}\0{name}"
        hit = self.path_cache.get(key)
        if hit is not None and os.path.isfile(hit):
            return hit
        for d in path.split(":"):
            full = os.path.join(d or ".", name)
            if os.path.isfile(full) and os.access(full, os.X_OK):
                self.path_cache[key] = full
                return full
        return None

    def exec_external(self, argv: list[str], env: dict[str, str]) -> int:
        """Replace this process (a forked child) with argv[0]; return the
        status on failure."""
        name = argv[0]
        path = self.find_command(name)
        if path is None:
            self.write_err(f"{self.where()}{name}: command not found\n")
            return 127
        if os.path.isdir(path):
            self.write_err(f"{self.where()}{name}: Is a directory\n")
            return 126
        import signal

        for sig in spawn.child_default_signals():
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execve(path, argv, env)
        except OSError as e:
            import errno

            if e.errno == errno.ENOEXEC:
                # A script without #!: run it with onesh, like bash runs it with bash.
                try:
                    os.execve(sys.executable, [sys.executable, "-m", "onesh", path, *argv[1:]], env)
                except OSError:
                    pass
            if e.errno == errno.ENOENT:
                self.write_err(f"{self.where()}{name}: No such file or directory\n")
                return 127
            self.write_err(f"{self.where()}{name}: {e.strerror}\n")
            return 126
        return 126  # pragma: no cover - execve does not return

    def run_external(self, cmd: A.SimpleCommand, argv: list[str], *, exec_last: bool = False) -> int:
        try:
            env_extra = {a.name: (self.expander.single(a.value) if a.value else "") for a in cmd.assigns}
        except OneshError as e:
            self.report(e)
            return 1
        if self.find_command(argv[0]) is None:
            if cmd.redirs:
                saved = self.apply_redirs(cmd.redirs)
                if saved is None:
                    return 1
                redirs.restore(saved)
            self.write_err(f"{self.where()}{argv[0]}: command not found\n")
            return 127
        env = self.state.environ()
        env.update(env_extra)
        if exec_last:
            # Already in a forked pipeline stage: no need to fork again.
            saved = self.apply_redirs(cmd.redirs) if cmd.redirs else []
            if saved is None:
                return 1
            return self.exec_external(argv, env)
        if not self.job_control:
            path = self.find_command(argv[0])
            if path is not None and not os.path.isdir(path):
                saved = self.apply_redirs(cmd.redirs) if cmd.redirs else []
                if saved is None:
                    return 1
                try:
                    pid = spawn.spawn(path, argv, env)
                except spawn.SpawnError as e:
                    self.write_err(f"onesh: {e.message}\n")
                    return e.status
                finally:
                    redirs.restore(saved)
                return self.wait_foreground([pid], pid, self.text_of(cmd))
        pid = self.fork(0)
        if pid == 0:
            def child() -> int:
                if cmd.redirs and self.apply_redirs(cmd.redirs) is None:
                    return 1
                return self.exec_external(argv, env)

            self.child_run(child)
        return self.wait_foreground([pid], pid, self.text_of(cmd))
