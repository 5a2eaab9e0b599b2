"""The interpreter: runs the AST with bash semantics on one machine.

Process model (like bash): every stage of a multi-command pipeline, every
subshell, command substitution and background job is a forked child; a
single simple command runs in the shell when it is a builtin or function
and in a forked child (then exec) when it is external.  Redirections are
applied to the shell's own fds with save/restore (see redirs.py), so the
fds a builtin sees are always 0/1/2.
"""

from __future__ import annotations

import os
import time

from onesh.builtins import registry
from onesh.builtins.api import IO
from onesh.engine import redirs, spawn
from onesh.engine.collaborators import NoHistory
from onesh.engine.compiled import Compiler
from onesh.engine.control import (
    ExitShell,
    ReturnFromFunction,
)
from onesh.engine.expand import Expander
from onesh.engine.jobs import JobTable
from onesh.engine.programs import ProgramRunner
from onesh.engine.state import ShellState
from onesh.errors import ExpansionError, OneshError, ParseError, Source, format_error
from onesh.parser import ast as A
from onesh.parser import iter_commands

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable

    from onesh.builtins.api import BuiltinFn
    from onesh.engine.collaborators import ClusterLink, History
    from onesh.runtime.client import ClusterClient

MAX_FUNC_DEPTH = 1000
_CODE_CACHE_SIZE = 4096


class CommandNotFound(OneshError):
    status = 127


class Interpreter(ProgramRunner):
    """Composition: state + expander + job table.  Also the `Shell` that
    builtins receive through `IO`.  Forking, waiting and the terminal are
    in ProcessControl (onesh.engine.processes)."""

    def __init__(self, state: ShellState, *, interactive: bool = False, cluster: ClusterLink | None = None,
                 history: History | None = None) -> None:
        """`cluster`: the way to the cluster (None: this shell has none);
        `history`: the REPL's lines for the `history` builtin."""
        self.state = state
        self.cluster_link = cluster
        self.history_book: History = history if history is not None else NoHistory()
        self.state.interactive = interactive
        self.interactive = interactive
        self.expander = Expander(self)
        self.compiler = Compiler(self)
        # node id -> (node, closure): each list, loop or function body is
        # compiled once (onesh.engine.compiled); the node is kept so its id
        # cannot be reused while the entry lives.
        self._code: dict[int, tuple[A.CommandList | A.Command, Callable[[], int]]] = {}
        self.jobs = JobTable()
        self.builtin_fns: dict[str, BuiltinFn] = {}  # imported on first use
        self.path_cache: dict[str, str] = {}
        self.errexit_ignore = 0
        self.func_depth = 0
        self.cmdsub_count = 0  # command substitutions run so far (their status counts)
        self.procsubs: list[tuple[int, int]] = []  # open <( ) >( ): (our fd, pid)
        self.procsub_pids: list[int] = []  # finished with, not yet reaped
        self.lineno = 0
        self.command_at: A.SimpleCommand | None = None  # the simple command being run (error locations)
        self.eval_where: str | None = None  # where() of the `eval` being run
        self.start_time = time.monotonic()
        self.in_child = False
        self.source: Source | None = None
        self.job_control = False
        self.sourcing = 0
        # A shell running as a placed pipeline stage on a runtime
        # (ONESH_STAGE is set by the stage host): its commands run there.
        self.in_stage = bool(os.environ.get("ONESH_STAGE"))
        self.shell_pgid = os.getpgrp()
        self.tty_fd: int | None = None
        # A job whose statuses are not its processes' own (a distributed
        # pipeline run in a child): pid -> fd carrying its PIPESTATUS as JSON.
        self.status_pipes: dict[int, int] = {}
        self.fg_pipestatus: list[int] | None = None
        self.session_pid = os.getpid()  # the shell's, also in the children that run its jobs

    # ------------------------------------------------------------ cluster
    @property
    def cluster(self) -> Callable[[], ClusterClient] | None:
        """The cluster client getter (attaching or starting the cluster on
        first use), None when this shell has no cluster at all."""
        return None if self.cluster_link is None else self.cluster_link.client

    def cluster_attached(self) -> bool:
        """Has this shell a cluster already (never starts one)?"""
        return self.cluster_link is not None and self.cluster_link.attached()

    def namespace_dir(self, path: str) -> bool:
        if self.cluster_link is None or self.in_stage:
            return False
        from onesh.engine.clusterpaths import under_namespace_root

        if not (under_namespace_root(path) or self.cluster_attached()):
            return False  # a mistyped local directory never starts a cluster
        from onesh.engine import nscommands

        return nscommands.is_namespace_dir(self, path)

    def plan(self, text: str) -> str:
        """The `plan` builtin's table for a one-pipeline command line;
        OneshError when it does not parse or cannot be planned."""
        from onesh.engine.distributed import plan_text
        from onesh.parser import parse

        prog = parse(text, "plan")
        items = prog.body.items
        if len(items) != 1 or items[0].command.rest or items[0].background:
            raise OneshError("expected exactly one pipeline", status=2)
        saved, self.source = self.source, Source(text, "plan")
        try:
            return plan_text(self, items[0].command.first)
        finally:
            self.source = saved

    # ----------------------------------------------------- Shell protocol
    def history(self) -> list[str]:
        return self.history_book.lines()

    def clear_history(self) -> None:
        self.history_book.clear()

    def write_err(self, text: str) -> None:
        try:
            os.write(2, text.encode("utf-8", "surrogateescape"))
        except OSError:
            pass

    def write_out(self, text: str) -> None:
        try:
            os.write(1, text.encode("utf-8", "surrogateescape"))
        except OSError:
            pass

    def report(self, err: OneshError) -> None:
        if err.source is None and self.source is not None and err.span is not None:
            err.source = self.source
        self.write_err(format_error(err) + "\n")

    # ------------------------------------------------------------- entry
    def run_text(self, text: str, name: str) -> int:
        """Parse and run one command at a time; a syntax error stops the text
        (status 2) after the earlier commands ran, like bash."""
        prev_source, prev_at, prev_eval = self.source, self.command_at, self.eval_where
        if name == "eval":  # bash names the line of the `eval`, not one inside its text
            self.eval_where = self.where()
        self.source = Source(text, name)
        status = self.state.last_status
        try:
            for cl in iter_commands(text, name, aliases=lambda: self.state.aliases):
                self.lineno = text.count("\n", 0, cl.span.start) + 1
                if "verbose" in self.state.options:
                    self.write_err(text[cl.span.start:cl.span.end] + "\n")
                if "noexec" in self.state.options:
                    continue
                status = self.run_list(cl)
                self.state.last_status = status
        except ParseError as e:
            self.report(e)
            status = 2
            self.state.last_status = status
            if not self.interactive and not self.in_child:
                pass
        finally:
            self.source, self.command_at, self.eval_where = prev_source, prev_at, prev_eval
        return status

    def run_file(self, path: str, args: list[str] | None = None) -> int:
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError as e:
            self.write_err(f"onesh: {path}: {e.strerror}\n")
            return 127 if isinstance(e, FileNotFoundError) else 126
        if text.startswith("#!"):
            nl = text.find("\n")
            text = "#" + text[1:] if nl < 0 else "\n" + text[nl + 1:]
        if args is not None:
            self.state.positional = args
        return self.run_text(text, path)

    # -------------------------------------------------------------- lists
    def code(self, node: A.CommandList | A.Command) -> Callable[[], int]:
        """The compiled closure for a command list or command (cached)."""
        hit = self._code.get(id(node))
        if hit is not None and hit[0] is node:
            return hit[1]
        fn = self.compiler.list_(node) if isinstance(node, A.CommandList) else self.compiler.command(node)
        if len(self._code) >= _CODE_CACHE_SIZE:
            self._code.clear()  # a long session parses without end; recompiling is cheap
        self._code[id(node)] = (node, fn)
        return fn

    def run_list(self, cl: A.CommandList) -> int:
        return self.code(cl)()

    def run_andor(self, ao: A.AndOr) -> int:
        return self.compiler.andor(ao)()

    def check_errexit(self, status: int) -> None:
        if status != 0 and self.errexit_ignore == 0 and "errexit" in self.state.options:
            raise ExitShell(status)

    def run_pipeline(self, pl: A.Pipeline) -> int:
        keep = len(self.procsubs)
        try:
            return self._run_pipeline(pl)
        finally:
            if len(self.procsubs) > keep:
                self.close_procsubs(keep)

    def _run_pipeline(self, pl: A.Pipeline) -> int:
        start = time.monotonic() if pl.timed else 0.0
        if pl.negated:
            self.errexit_ignore += 1
        try:
            remote = self.run_distributed(pl) if self.cluster is not None else None
            if remote is not None:
                status = remote
            elif len(pl.commands) == 1:
                self.fg_pipestatus = None
                status = self.run_command(pl.commands[0])
                # `fg` hands over the statuses of the job it waited for, like bash
                self.state.pipestatus = self.fg_pipestatus or [status]
                self.fg_pipestatus = None
            else:
                status = self.run_multi(pl)
        finally:
            if pl.negated:
                self.errexit_ignore -= 1
        if pl.timed:
            real = time.monotonic() - start
            t = os.times()
            self.write_err(f"\nreal\t{_fmt_time(real)}\nuser\t{_fmt_time(t.children_user)}\n"
                           f"sys\t{_fmt_time(t.children_system)}\n")
        if pl.negated:
            return 0 if status else 1
        if len(pl.commands) > 1 or isinstance(pl.commands[0], (A.SimpleCommand, A.Subshell, A.ArithCommand,
                                                               A.CondCommand)):
            self.state.last_status = status
            self.check_errexit(status)
        return status

    def run_distributed(self, pl: A.Pipeline) -> int | None:
        """The pipeline's status if it ran on the cluster; None: run it here."""
        from onesh.engine.clusterpaths import draft_needed

        if self.in_stage or (not draft_needed(self, pl) and not self.ns_command_word(pl)):
            return None
        from onesh.engine import nscommands

        try:
            argv = nscommands.candidate(self, pl) if len(pl.commands) == 1 else None
            if argv is not None:
                status = nscommands.run(self, argv)
                if status is not None:
                    self.state.pipestatus = [status]
                    return status
            if draft_needed(self, pl):
                from onesh.engine.distributed import distributed_pipeline

                return distributed_pipeline(self, pl)
        except OneshError as e:
            self.report(e)
            self.state.pipestatus = [e.status]
            if isinstance(e, ExpansionError) and not self.interactive:
                # failglob, ${x:?}, set -u while expanding the pipeline's
                # words: abort as run_simple does on the local path (bash)
                raise ExitShell(127 if _is_fatal_expansion(e) and not self.in_child else 1) from None
            return e.status
        return None

    def ns_command_word(self, pl: A.Pipeline) -> bool:
        """`ls /dev/sensor` and friends: a file command naming a namespace root."""
        from onesh.engine.clusterpaths import under_namespace_root

        cmd = pl.commands[0]
        if len(pl.commands) != 1 or not isinstance(cmd, A.SimpleCommand) or len(cmd.words) < 2:
            return False
        return any(under_namespace_root(self.source_text(w)) for w in cmd.words[1:])

    def run_multi(self, pl: A.Pipeline) -> int:
        """A real pipeline: each stage in its own child, OS pipes between."""
        # Simple commands here were already checked (run_distributed);
        # a compound stage may hide one: { cat /dev/sensor/1; } | ...
        self.cluster_before_fork([c for c in pl.commands if not isinstance(c, A.SimpleCommand)])
        n = len(pl.commands)
        pids: list[int] = []
        pgid = 0
        prev_read: int | None = None
        text = self.text_of(pl)
        for k, cmd in enumerate(pl.commands):
            r, w = os.pipe() if k < n - 1 else (None, None)
            stderr_too = k < len(pl.stderr_too) and pl.stderr_too[k]
            try:
                planned = spawn.plan_stage(self, cmd)
            except OneshError:
                planned = None  # let the forked stage report it, as bash does
            if planned is not None:
                path, argv, env = planned
                fds = [(prev_read, 0)] if prev_read is not None else []
                if w is not None:
                    fds += [(w, 1), (w, 2)] if stderr_too else [(w, 1)]
                try:
                    pid = spawn.spawn(path, argv, env, dup2=fds)
                except spawn.SpawnError as e:
                    self.write_err(f"onesh: {e.message}\n")
                    pid = self.fork(pgid)
                    if pid == 0:
                        os._exit(e.status)
                pids.append(pid)
                if prev_read is not None:
                    os.close(prev_read)
                if w is not None:
                    os.close(w)
                prev_read = r
                continue
            pid = self.fork(pgid)
            if pid == 0:
                try:
                    if prev_read is not None:
                        os.dup2(prev_read, 0)
                        os.close(prev_read)
                    if w is not None:
                        os.dup2(w, 1)
                        if stderr_too:
                            os.dup2(w, 2)
                        os.close(w)
                    if r is not None:
                        os.close(r)
                    self.child_run(lambda c=cmd: self.run_command(c, exec_last=True))  # type: ignore[misc]
                finally:
                    os._exit(1)
            if pgid == 0:
                pgid = pid
            pids.append(pid)
            if prev_read is not None:
                os.close(prev_read)
            if w is not None:
                os.close(w)
            prev_read = r
        return self.wait_foreground(pids, pgid, text)

    def run_background(self, item: A.ListItem) -> int:
        text = self.text_of(item.command)
        self.cluster_before_fork(item.command)
        pid = self.fork(0, foreground=False)
        if pid == 0:
            if not self.job_control:
                # Like bash without job control: background jobs don't read the terminal.
                try:
                    fd = os.open(os.devnull, os.O_RDONLY)
                    os.dup2(fd, 0)
                    os.close(fd)
                except OSError:
                    pass
                import signal

                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGQUIT, signal.SIG_IGN)
            self.child_run(lambda: self.run_background_child(item.command))
        job = self.jobs.add([pid], pid, text, pipefail="pipefail" in self.state.options)
        self.state.last_bg_pid = pid
        if self.interactive:
            self.write_err(f"[{job.id}] {pid}\n")
        return 0

    def run_background_child(self, ao: A.AndOr) -> int:
        """The forked child of `cmd &`.  A lone simple command is exec'd in
        it, as bash does, so that `$!` and `kill %1` are the command itself:
        a child shell waiting for it would die of the signal and leave the
        command running on its own."""
        pl = ao.first
        if ao.rest or pl.negated or pl.timed or len(pl.commands) != 1 \
                or not isinstance(pl.commands[0], A.SimpleCommand):
            return self.run_andor(ao)
        remote = self.run_distributed(pl) if self.cluster is not None else None
        if remote is not None:
            return remote
        return self.run_command(pl.commands[0], exec_last=True)

    def text_of(self, node: A.AndOr | A.Pipeline | A.Command) -> str:
        if self.source is None:
            return ""
        return self.source.text[node.span.start:node.span.end].strip()

    # ----------------------------------------------------------- commands
    def run_command(self, cmd: A.Command, *, exec_last: bool = False) -> int:
        if exec_last and isinstance(cmd, A.SimpleCommand):
            return self.run_simple(cmd, exec_last=True)
        return self.code(cmd)()

    def define_function(self, fd: A.FunctionDef) -> int:
        self.state.functions[fd.name] = fd
        if self.source is not None:
            # what its spans index: for `declare -f`, errors, job texts
            self.state.function_sources[fd.name] = self.source
        return 0

    def apply_redirs(self, rs: tuple[A.Redir, ...]) -> list[redirs.Saved] | None:
        try:
            return redirs.apply(rs, self.expand_redir_target, self.expand_heredoc,
                                "noclobber" in self.state.options)
        except OneshError as e:
            self.report(e)
            return None

    def expand_redir_target(self, w: A.Word) -> str:
        fields = self.expander.word_fields(w)
        if len(fields) != 1:
            raise redirs.RedirError(f"{self.source_text(w)}: ambiguous redirect", w.span)
        return fields[0]

    def source_text(self, node: A.Word) -> str:
        if self.source is None:
            return "?"
        return self.source.text[node.span.start:node.span.end]

    def expand_heredoc(self, hd: A.HereDoc) -> str:
        if hd.quoted:
            return "".join(p.text for p in hd.body.parts if isinstance(p, A.Lit))
        return self.expander.single(hd.body)

    def run_compound(self, cmd: A.Command) -> int:
        """The compound commands not compiled to closures (rare in loops)."""
        if isinstance(cmd, A.Subshell):
            self.cluster_before_fork(cmd)
            pid = self.fork(0)
            if pid == 0:
                self.state.loop_depth = 0  # bash: `(break)` is not the caller's loop
                self.child_run(lambda: self.run_list(cmd.body))
            return self.wait_foreground([pid], pid, self.text_of(cmd))
        if isinstance(cmd, A.Case):
            return self.run_case(cmd)
        if isinstance(cmd, A.Select):
            from onesh.engine.select import run_select

            return run_select(self, cmd, cmd.body)
        if isinstance(cmd, A.CondCommand):
            from onesh.engine.conditional import evaluate_cond

            try:
                return evaluate_cond(self, cmd)
            except OneshError as e:
                self.report(e)
                return 2
        raise OneshError(f"cannot run {type(cmd).__name__}")

    def run_case(self, cmd: A.Case) -> int:
        from onesh.engine import pattern

        try:
            word = self.expander.single(cmd.word)
        except OneshError as e:
            self.report(e)
            return 1
        status = 0
        fallthrough = False
        for arm in cmd.arms:
            if not fallthrough:
                matched = any(pattern.match(self.expander.pattern(p), word) for p in arm.patterns)
                if not matched:
                    continue
            status = self.run_list(arm.body)
            if arm.terminator == ";;":
                return status
            fallthrough = arm.terminator == ";&"
        return status

    # ----------------------------------------------------- simple command
    def run_simple(self, cmd: A.SimpleCommand, *, exec_last: bool = False,
                   argv: list[str] | None = None) -> int:
        """Expand and run a simple command; `argv` when the words were
        already expanded (see onesh.engine.compiled)."""
        if argv is None:
            subs = self.cmdsub_count
            try:
                argv = self.expander.words(cmd.words) if cmd.words else []
            except OneshError as e:
                return self.expansion_failed(e)
            if not argv and subs != self.cmdsub_count:
                # words that expanded to nothing: the status of the last
                # command substitution (`$(exit 3)` alone is status 3)
                return self.run_assignments_only(cmd, self.state.last_status)
        if not argv:
            return self.run_assignments_only(cmd)
        return self.dispatch(cmd, argv, exec_last=exec_last)

    def expansion_failed(self, e: OneshError) -> int:
        """A simple command's words failed to expand: report; bash aborts a
        non-interactive shell."""
        self.report(e)
        if not self.interactive:
            raise ExitShell(127 if _is_fatal_expansion(e) and not self.in_child else 1) from None
        return 1

    def dispatch(self, cmd: A.SimpleCommand, argv: list[str], *, exec_last: bool = False) -> int:
        """Run expanded words as a function, a builtin or a program."""
        if "xtrace" in self.state.options:
            self.xtrace(cmd, argv)
        self.command_at = cmd
        name = argv[0]
        func = self.state.functions.get(name)
        if func is not None:
            if not cmd.assigns and not cmd.redirs:
                return self.call_function(func, argv)
            return self.with_prefix(cmd, lambda: self.call_function(func, argv), temporary=True, export=True)
        spec = registry.BUILTINS.get(name)
        if spec is not None:
            if name == "exec":
                return self.run_exec(cmd, argv)
            if not cmd.assigns and not cmd.redirs:
                return self.run_builtin(name, argv)
            return self.with_prefix(cmd, lambda: self.run_builtin(name, argv), temporary=not spec.special)
        return self.run_external(cmd, argv, exec_last=exec_last)

    def xtrace(self, cmd: A.SimpleCommand, argv: list[str]) -> None:
        ps4 = self.state.get("PS4")
        prefix = "+ " if ps4 is None else ps4
        parts = [f"{a.name}={self.expander.single(a.value) if a.value else ''}" for a in cmd.assigns]
        parts += [_quote_for_trace(a) for a in argv]
        self.write_err(prefix + " ".join(parts) + "\n")

    def run_assignments_only(self, cmd: A.SimpleCommand, status: int = 0) -> int:
        """`x=1 y=$(cmd)`: status 0, or the last command substitution's
        (`$?` in the values is still the previous command's)."""
        subs = self.cmdsub_count
        try:
            for a in cmd.assigns:
                self.assign(a)
        except OneshError as e:
            self.report(e)
            if not self.interactive:
                raise ExitShell(127 if _is_fatal_expansion(e) else 1) from None
            return 1
        if self.cmdsub_count != subs:
            status = self.state.last_status  # set by the command substitution
        self.state.last_status = status
        if "xtrace" in self.state.options and cmd.assigns:
            self.write_err("+ " + " ".join(f"{a.name}={self.state.get(a.name) or ''}" for a in cmd.assigns) + "\n")
        if cmd.redirs:
            saved = self.apply_redirs(cmd.redirs)
            if saved is None:
                return 1
            redirs.restore(saved)
        return status

    def assign(self, a: A.Assign, *, export: bool | None = None) -> None:
        st = self.state
        if a.array is not None:
            values = self.expander.words(a.array)
            if a.append:
                cur = st.get_array(a.name) or {}
                base = (max(cur) + 1) if cur else 0
                new = dict(cur)
                for k, v in enumerate(values):
                    new[base + k] = v
            else:
                new = dict(enumerate(values))
            st.set(a.name, new, export=export)
            return
        value = self.expander.single(a.value) if a.value is not None else ""
        var = st.var(a.name)
        if var is not None and var.integer:
            value = str(self.expander_arith_text(value))
        if a.index is not None:
            idx = self.expander.arith(a.index) if a.index.parts else 0
            if a.append:
                arr = st.get_array(a.name) or {}
                value = arr.get(idx, "") + value
            st.set_index(a.name, idx, value)
            return
        if a.append:
            old = st.get(a.name) or ""
            if var is not None and var.integer:
                value = str(int(old or 0) + int(value))
            else:
                value = old + value
        if var is not None and isinstance(var.value, dict):
            arr = dict(var.value)
            arr[0] = value
            st.set(a.name, arr, export=export)
            return
        st.set(a.name, value, export=export)

    def expander_arith_text(self, text: str) -> int:
        from onesh.engine import arith

        return arith.run(text, self.expander.arith_env)

    def with_prefix(self, cmd: A.SimpleCommand, fn: Callable[[], int], *, temporary: bool,
                    export: bool = False) -> int:
        """Run fn with the command's prefix assignments and redirections."""
        undo: list[tuple[str, tuple[str | dict[int, str] | None, bool] | None]] = []
        try:
            for a in cmd.assigns:
                if temporary:
                    v = self.state.var(a.name)
                    undo.append((a.name, None if v is None else (v.value, v.exported)))
                self.assign(a, export=True if (temporary and export) else None)
        except OneshError as e:
            self.report(e)
            self._undo(undo)
            return 1
        saved = self.apply_redirs(cmd.redirs) if cmd.redirs else []
        if saved is None:
            self._undo(undo)
            return 1
        try:
            return fn()
        finally:
            redirs.restore(saved)
            self._undo(undo)

    def _undo(self, undo: list[tuple[str, tuple[str | dict[int, str] | None, bool] | None]]) -> None:
        for name, old in reversed(undo):
            try:
                if old is None:
                    self.state.unset(name)
                else:
                    value, exported = old
                    v = self.state.var(name)
                    if v is not None:
                        v.value = value
                        v.exported = exported
            except OneshError:
                pass

    def where(self) -> str:
        cmd, source = self.command_at, self.source
        if source is not None and source.name == "eval" and self.eval_where is not None:
            return self.eval_where
        # (bash names no line at the prompt nor for -c text)
        if (self.interactive or cmd is None or source is None or source.name in ("-c", "eval")
                or cmd.span.start > len(source.text)):
            return "onesh: "
        return f"{source.name}: line {source.line_col(cmd.span.start)[0]}: "

    def run_builtin(self, name: str, argv: list[str]) -> int:
        fn = self.builtin_fns.get(name)
        if fn is None:
            fn = registry.lookup(name)
            assert fn is not None
            self.builtin_fns[name] = fn
        io = IO(0, 1, 2, self)
        try:
            return fn(argv, io)
        except BrokenPipeError:
            return 141
        except OneshError as e:
            self.report(e)
            return e.status
        except OSError as e:
            self.write_err(f"onesh: {name}: write error: {e.strerror}\n")
            return 1

    def call_function(self, func: A.FunctionDef, argv: list[str]) -> int:
        if self.func_depth >= MAX_FUNC_DEPTH:
            self.write_err(f"onesh: {func.name}: maximum function nesting level exceeded ({MAX_FUNC_DEPTH})\n")
            if not self.interactive:
                raise ExitShell(1)
            return 1
        state = self.state
        state.push_frame(func.name, argv[1:])
        self.func_depth += 1
        source, self.source = self.source, state.function_sources.get(func.name, self.source)
        # bash: a function body is not inside the caller's loops, so
        # `break` there is an error, not a break of the caller's loop.
        loops, state.loop_depth = state.loop_depth, 0
        try:
            return self.code(func.body)()
        except ReturnFromFunction as r:
            return r.status
        finally:
            state.loop_depth = loops
            self.source = source
            self.func_depth -= 1
            state.pop_frame()


def _is_fatal_expansion(e: OneshError) -> bool:
    # bash: ${x:?} and set -u errors abort a non-interactive shell.
    from onesh.engine.expand import UnboundError

    return isinstance(e, UnboundError)


def _quote_for_trace(s: str) -> str:
    if s and all(c.isalnum() or c in "@%+=:,./-_" for c in s):
        return s
    return "'" + s.replace("'", "'\\''") + "'"


def _fmt_time(sec: float) -> str:
    m, s = divmod(sec, 60)
    return f"{int(m)}m{s:.3f}s"

