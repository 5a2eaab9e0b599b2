"""Syntax tree → Python closures, built once per node and run many times.

A loop body or a function body used to be re-walked on every iteration or
call: an isinstance chain per command, the cluster test rescanning the
words, every word expanded even when it is plain text.  `compile_list`
turns a command list into nested closures instead; everything that depends
only on the text (which kind of command, which words are plain literals,
whether a pipeline could name the cluster) is decided here, once, and the
closures do only what must happen at run time.

Semantics stay in the interpreter: a closure calls the same Interpreter
methods the tree walker used (run_simple with pre-expanded words,
run_background, the loop helpers), and anything unusual (timed, negated or
multi-command pipelines, subshells, `case`, `[[ ]]`) is handed to the tree
walker as it is.
"""

from __future__ import annotations

from onesh.builtins import registry
from onesh.engine import redirs
from onesh.engine.control import BreakLoop, ContinueLoop
from onesh.engine.expand import DYNAMIC
from onesh.engine.pattern import has_glob
from onesh.errors import OneshError
from onesh.parser import ast as A
from onesh.parser.words import is_name
from onesh.record import Record, values

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable

    from onesh.engine.interp import Interpreter

    Code = Callable[[], int]

# Characters that make an unquoted literal more than its own text: globs,
# brace and extglob groups.
_LIVE = frozenset("*?[]{}()!@+")


def static_word(w: A.Word) -> str | None:
    """The one field a word expands to when it has no expansion at all
    (no $, no glob, no brace, no tilde), else None."""
    parts = w.parts
    if len(parts) == 1 and isinstance(parts[0], A.Lit):
        # One unquoted literal (`[`, `]`, `-lt`, `x=1`): plain unless it
        # really is a glob, a brace expansion or an extglob group.
        text = parts[0].text
        if "{" in text or "(" in text or has_glob(text):
            return None
        return text
    out: list[str] = []
    for p in parts:
        if isinstance(p, A.Lit):
            if not _LIVE.isdisjoint(p.text):
                return None
            out.append(p.text)
        elif isinstance(p, (A.SQuoted, A.Escaped, A.AnsiCQuoted)):
            out.append(p.text)
        elif isinstance(p, A.DQuoted):
            for q in p.parts:
                if not isinstance(q, A.Lit):
                    return None
                out.append(q.text)
        else:
            return None
    return "".join(out)


def _lone_param(w: A.Word) -> tuple[A.Param | None, bool]:
    """(param, quoted) when the word is just `$name`, `${name}` or
    `"$name"` of an ordinary variable (not special, positional or dynamic)."""
    parts = w.parts
    quoted = False
    if len(parts) == 1 and isinstance(parts[0], A.DQuoted):
        parts = parts[0].parts
        quoted = True
    if len(parts) != 1:
        return None, False
    p = parts[0]
    if (not isinstance(p, A.Param) or p.op is not None or p.length or p.index is not None
            or not is_name(p.name) or p.name in DYNAMIC):
        return None, False
    return p, quoted


def _may_procsub(pl: A.Pipeline) -> bool:
    """Could the pipeline's text hold a `<(` or `>(`?  (A cheap
    over-approximation: it only decides whether to clean up after it.)"""
    def walk(node: object) -> bool:
        if isinstance(node, A.ProcSub):
            return True
        if isinstance(node, tuple):
            return any(walk(x) for x in node)
        if isinstance(node, Record):
            return any(walk(v) for v in values(node))
        return False

    return walk(pl)


def static_words(words: tuple[A.Word, ...]) -> list[str] | None:
    out: list[str] = []
    for w in words:
        s = static_word(w)
        if s is None:
            return None
        out.append(s)
    return out


# What run_body returns for a `break` / `continue` of the loop itself.
BREAK, CONTINUE = -1, -2


def run_body(body: Callable[[], int]) -> int:
    """One iteration of a loop: the body's status, or BREAK / CONTINUE;
    a `break 2` / `continue 2` goes on to the enclosing loop."""
    try:
        return body()
    except BreakLoop as e:
        if e.levels > 1:
            raise BreakLoop(e.levels - 1) from None
        return BREAK
    except ContinueLoop as e:
        if e.levels > 1:
            raise ContinueLoop(e.levels - 1) from None
        return CONTINUE


class Compiler:
    """Builds closures over one interpreter."""

    def __init__(self, interp: Interpreter) -> None:
        self.interp = interp

    # ------------------------------------------------------------- lists
    def list_(self, cl: A.CommandList) -> Code:
        interp, state = self.interp, self.interp.state
        if len(cl.items) == 1 and not cl.items[0].background:
            only = self.andor(cl.items[0].command)

            def run_one() -> int:
                status = only()
                state.last_status = status
                return status

            return run_one
        steps: list[tuple[Code | None, A.ListItem]] = [
            (None if item.background else self.andor(item.command), item) for item in cl.items]

        def run_list() -> int:
            status = 0
            for fn, item in steps:
                status = interp.run_background(item) if fn is None else fn()
                state.last_status = status
            return status

        return run_list

    def andor(self, ao: A.AndOr) -> Code:
        if not ao.rest:
            return self.pipeline(ao.first)
        interp, state = self.interp, self.interp.state
        first = self.pipeline(ao.first)
        rest = [(op == "&&", self.pipeline(pl)) for op, pl in ao.rest]
        last = len(rest) - 1

        def run_andor() -> int:
            interp.errexit_ignore += 1
            try:
                status = first()
                state.last_status = status
                for k, (on_success, fn) in enumerate(rest):
                    if on_success == (status == 0):
                        if k == last:
                            # the last command of the list is subject to set -e
                            interp.errexit_ignore -= 1
                            try:
                                status = fn()
                            finally:
                                interp.errexit_ignore += 1
                        else:
                            status = fn()
                        state.last_status = status
                return status
            finally:
                interp.errexit_ignore -= 1

        return run_andor

    def pipeline(self, pl: A.Pipeline) -> Code:
        interp, state = self.interp, self.interp.state
        if pl.timed or pl.negated or len(pl.commands) != 1:
            return lambda: interp.run_pipeline(pl)
        from onesh.engine.clusterpaths import mentions_cluster

        cmd = pl.commands[0]
        # Syntactic half of the cluster test, decided once; whether a
        # cluster is attached is asked at run time.
        may_need_cluster = mentions_cluster(pl, interp.source_text) or interp.ns_command_word(pl)
        body = self.command(cmd)
        # `((0))` and `[[ a == b ]]` are subject to set -e, as simple commands are
        sets_status = isinstance(cmd, (A.SimpleCommand, A.Subshell, A.ArithCommand, A.CondCommand))

        procsubs = interp.procsubs

        def run_pipeline() -> int:
            keep = len(procsubs)
            try:
                return run_one()
            finally:
                if len(procsubs) > keep:
                    interp.close_procsubs(keep)

        def run_one() -> int:
            remote = None
            if interp.cluster is not None and not interp.in_stage and (
                    may_need_cluster or interp.cluster_attached()):
                remote = interp.run_distributed(pl)
            if remote is not None:
                status = remote
            else:
                interp.fg_pipestatus = None
                status = body()
                # `fg` hands over the statuses of the job it waited for, like bash
                state.pipestatus = interp.fg_pipestatus or [status]
                interp.fg_pipestatus = None
            if sets_status:
                state.last_status = status
                if status:
                    interp.check_errexit(status)
            return status

        return run_pipeline if _may_procsub(pl) else run_one

    # ----------------------------------------------------------- commands
    def command(self, cmd: A.Command) -> Code:
        interp = self.interp
        if isinstance(cmd, A.SimpleCommand):
            return self.simple(cmd)
        if isinstance(cmd, A.FunctionDef):
            return lambda: interp.define_function(cmd)
        if cmd.redirs:
            body = self.compound(cmd)

            def with_redirs() -> int:
                saved = interp.apply_redirs(cmd.redirs)
                if saved is None:
                    return 1
                try:
                    return body()
                finally:
                    redirs.restore(saved)

            return with_redirs
        return self.compound(cmd)

    def compound(self, cmd: A.Command) -> Code:
        interp = self.interp
        if isinstance(cmd, A.BraceGroup):
            return self.list_(cmd.body)
        if isinstance(cmd, A.If):
            return self.if_(cmd)
        if isinstance(cmd, A.While):
            return self.while_(cmd)
        if isinstance(cmd, A.For):
            return self.for_(cmd)
        if isinstance(cmd, A.ArithFor):
            return self.arith_for(cmd)
        if isinstance(cmd, A.ArithCommand):
            value = interp.expander.arith_code(cmd.expr)

            def arith_command() -> int:
                try:
                    return 0 if value() else 1
                except OneshError as e:
                    interp.report(e)
                    return 1

            return arith_command
        return lambda: interp.run_compound(cmd)

    def simple(self, cmd: A.SimpleCommand) -> Code:
        interp = self.interp
        if cmd.pin is not None:
            return lambda: interp.run_simple(cmd)
        if not cmd.words:
            return lambda: interp.run_assignments_only(cmd)
        fields = [self.word(w) for w in cmd.words]
        if all(isinstance(f, str) for f in fields):
            plain = [f for f in fields if isinstance(f, str)]
            if cmd.assigns or cmd.redirs:
                return lambda: interp.dispatch(cmd, list(plain))
            return self._plain_command(cmd, plain)
        expand: list[Callable[[], list[str]]] = [
            (lambda f=f: [f]) if isinstance(f, str) else f for f in fields]  # type: ignore[misc]

        def run_expanded() -> int:
            subs = interp.cmdsub_count
            argv: list[str] = []
            try:
                for f in expand:
                    argv += f()
            except OneshError as e:
                return interp.expansion_failed(e)
            if not argv:
                return interp.run_assignments_only(
                    cmd, interp.state.last_status if subs != interp.cmdsub_count else 0)
            return interp.dispatch(cmd, argv)

        return run_expanded

    def _plain_command(self, cmd: A.SimpleCommand, argv: list[str]) -> Code:
        """Words that are all plain text, no prefix assignment or
        redirection: the kind of command is still looked up at run time (a
        function may be defined later, or unset)."""
        interp = self.interp
        name = argv[0]
        functions = interp.state.functions
        options = interp.state.options
        builtins = registry.BUILTINS

        def run_plain() -> int:
            if "xtrace" in options:
                interp.xtrace(cmd, argv)
            interp.command_at = cmd
            func = functions.get(name)
            if func is not None:
                return interp.call_function(func, list(argv))
            if name in builtins and name != "exec":
                return interp.run_builtin(name, list(argv))
            return interp.run_external(cmd, list(argv))

        return run_plain

    def word(self, w: A.Word) -> str | Callable[[], list[str]]:
        """A word as its one field (plain text), or a closure expanding it.
        `$name` and `"$name"` of an ordinary variable get their own closure;
        the rest goes through the full expander."""
        text = static_word(w)
        if text is not None:
            return text
        interp, state = self.interp, self.interp.state
        expander = interp.expander
        words = (w,)

        def general() -> list[str]:
            return expander.words(words)

        param, quoted = _lone_param(w)
        if param is None:
            return general
        name = param.name
        options = state.options
        get = state.get
        if quoted:
            def quoted_var() -> list[str]:
                value = get(name)
                if value is None:
                    return general() if "nounset" in options else [""]
                return [value]

            return quoted_var

        def unquoted_var() -> list[str]:
            value = get(name)
            if not value or "*" in value or "?" in value or "[" in value:
                return general()
            ifs = get("IFS")
            for c in " \t\n" if ifs is None else ifs:
                if c in value:
                    return general()
            return [value]

        return unquoted_var

    # -------------------------------------------------------------- loops
    def if_(self, cmd: A.If) -> Code:
        interp = self.interp
        clauses = [(self.list_(c.cond), self.list_(c.body)) for c in cmd.clauses]
        else_body = self.list_(cmd.else_body) if cmd.else_body is not None else None

        def run_if() -> int:
            for cond, body in clauses:
                interp.errexit_ignore += 1
                try:
                    c = cond()
                finally:
                    interp.errexit_ignore -= 1
                if c == 0:
                    return body()
            return else_body() if else_body is not None else 0

        return run_if

    def while_(self, cmd: A.While) -> Code:
        interp, state = self.interp, self.interp.state
        cond, body, until = self.list_(cmd.cond), self.list_(cmd.body), cmd.until

        def run_while() -> int:
            status = 0
            state.loop_depth += 1
            try:
                while True:
                    try:
                        interp.errexit_ignore += 1
                        try:
                            c = cond()
                        except ContinueLoop as e:
                            # bash: `continue` in the condition succeeds, so
                            # `until continue` ends and `while continue` loops
                            if e.levels > 1:
                                raise ContinueLoop(e.levels - 1) from None
                            c = 0
                            if not until:
                                continue
                        finally:
                            interp.errexit_ignore -= 1
                        if (c == 0) == until:
                            break
                    except BreakLoop as e:  # in the condition
                        if e.levels > 1:
                            raise BreakLoop(e.levels - 1) from None
                        status = 0
                        break
                    r = run_body(body)
                    if r == BREAK:
                        status = 0
                        break
                    if r != CONTINUE:
                        status = r
            finally:
                state.loop_depth -= 1
            return status

        return run_while

    def for_(self, cmd: A.For) -> Code:
        interp, state = self.interp, self.interp.state
        body, var = self.list_(cmd.body), cmd.var
        words = cmd.words
        fixed = static_words(words) if words is not None else None

        def run_for() -> int:
            if fixed is not None:
                items = fixed
            elif words is None:
                items = list(state.positional)
            else:
                try:
                    items = interp.expander.words(words)
                except OneshError as e:
                    interp.report(e)
                    return 1
            status = 0
            state.loop_depth += 1
            try:
                for item in items:
                    state.set(var, item)
                    r = run_body(body)
                    if r == BREAK:
                        break
                    if r != CONTINUE:
                        status = r
            finally:
                state.loop_depth -= 1
            return status

        return run_for

    def arith_for(self, cmd: A.ArithFor) -> Code:
        interp, state = self.interp, self.interp.state
        body = self.list_(cmd.body)
        code = interp.expander.arith_code
        init = code(cmd.init) if cmd.init is not None else None
        cond = code(cmd.cond) if cmd.cond is not None else None
        step = code(cmd.step) if cmd.step is not None else None

        def run_arith_for() -> int:
            status = 0
            try:
                if init is not None:
                    init()
                state.loop_depth += 1
                try:
                    while cond is None or cond():
                        r = run_body(body)
                        if r == BREAK:
                            break
                        if r != CONTINUE:
                            status = r
                        if step is not None:
                            step()
                finally:
                    state.loop_depth -= 1
            except OneshError as e:
                interp.report(e)
                return 1
            return status

        return run_arith_for
