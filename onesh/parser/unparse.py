"""Syntax tree → shell text, the way bash prints a function (`declare -f`,
`type`): one command per line, four-space indentation, `;` after commands
in loop and `if` bodies, here-document bodies after their command line.

The rules follow bash's print_cmd.c closely, quirks included, because
scripts compare and re-`eval` this output.  Words are printed as they were
written (the source text of their span), as bash does.
"""

from __future__ import annotations

from onesh.parser import ast as A
from onesh.parser.words import RESERVED

_STEP = 4


def function_text(fd: A.FunctionDef, source: str) -> str:
    """`declare -f NAME` for a function parsed from `source`."""
    p = _Printer(source)
    return p.function(fd)


class _Printer:
    def __init__(self, source: str) -> None:
        self.src = source
        self.out: list[str] = []
        self.indentation = 0
        self.skip_indent = 0
        self.deferred: list[A.Redir] = []
        self.was_heredoc = False

    # ----------------------------------------------------------- output
    def emit(self, s: str) -> None:
        self.out.append(s)

    def last_char(self) -> str:
        for chunk in reversed(self.out):
            if chunk:
                return chunk[-1]
        return ""

    def indent(self, n: int) -> None:
        self.emit(" " * n)

    def newline(self, s: str = "") -> None:
        self.emit("\n")
        self.indent(self.indentation)
        self.emit(s)

    def semicolon(self) -> None:
        if self.out and self.last_char() in ("&", "\n"):
            return
        self.emit(";")

    def text(self, node: A.Word | A.Assign | A.Redir) -> str:
        return self.src[node.span.start:node.span.end]

    # --------------------------------------------------------- functions
    def function(self, fd: A.FunctionDef) -> str:
        if fd.name in RESERVED:
            self.emit("function ")
        self.emit(f"{fd.name} () \n")
        self.indentation += _STEP
        self.emit("{ \n")
        self.body_of_function(fd)
        return "".join(self.out)

    def body_of_function(self, fd: A.FunctionDef) -> None:
        body = fd.body
        redirs: tuple[A.Redir, ...] = ()
        if isinstance(body, A.BraceGroup):
            redirs = body.redirs
            self.command_list(body.body)
        else:
            self.command(body)
        self.flush_heredocs("")
        self.indentation -= _STEP
        if redirs:
            self.newline("} ")
            self.emit(" ".join(self.redir(r) for r in redirs))
        else:
            self.newline("}")

    def nested_function(self, fd: A.FunctionDef) -> None:
        self.emit(f"function {fd.name} () \n")
        self.indent(self.indentation)
        self.emit("{ \n")
        self.indentation += _STEP
        self.body_of_function(fd)

    # ------------------------------------------------------------ lists
    def start(self) -> None:
        """Where bash's make_command_string_internal begins a command."""
        if self.skip_indent:
            self.skip_indent -= 1
        else:
            self.indent(self.indentation)

    def command_list(self, cl: A.CommandList) -> None:
        items = cl.items
        if not items:
            return
        self.start()
        self.skip_indent += 1
        for k, item in enumerate(items):
            self.and_or(item.command)
            last = k == len(items) - 1
            if item.background:
                self.flush_heredocs(" &")
                if not last:
                    self.emit(" ")
                    self.skip_indent += 1
            elif not last:
                self.separator()

    def separator(self) -> None:
        """bash's `;` connector inside a function definition."""
        if not self.deferred:
            if not self.was_heredoc:
                self.emit(";")
            else:
                self.was_heredoc = False
        else:
            self.flush_heredocs("")
        self.emit("\n")

    def flush_heredocs(self, cstring: str) -> None:
        if cstring and (cstring[0] != ";" or len(cstring) > 1):
            self.emit(cstring)
        if self.deferred:
            self.emit("\n")
            for r in self.deferred:
                hd = r.heredoc
                assert hd is not None
                self.emit(self.heredoc_body(r) + hd.delimiter + "\n")
            if cstring and (cstring[0] != ";" or len(cstring) > 1):
                self.emit(" ")
            self.deferred = []
            self.was_heredoc = True

    def heredoc_body(self, r: A.Redir) -> str:
        hd = r.heredoc
        assert hd is not None
        body = self.src[hd.body.span.start:hd.body.span.end]
        if hd.strip_tabs:
            body = "".join(line.lstrip("\t") for line in body.splitlines(keepends=True))
        return body

    def and_or(self, ao: A.AndOr) -> None:
        self.start()
        self.skip_indent += 1
        self.pipeline(ao.first)
        for op, pl in ao.rest:
            self.flush_heredocs(f" {op} ")
            self.skip_indent += 1
            self.pipeline(pl)

    def pipeline(self, pl: A.Pipeline) -> None:
        self.start()
        if pl.timed:
            self.emit("time ")
        if pl.negated:
            self.emit("! ")
        for k, cmd in enumerate(pl.commands):
            self.skip_indent += 1
            self.command(cmd, stderr_too=k < len(pl.stderr_too) and pl.stderr_too[k])
            if k < len(pl.commands) - 1:
                self.flush_heredocs(" |")
                self.emit(" ")

    # --------------------------------------------------------- commands
    def command(self, cmd: A.Command, *, stderr_too: bool = False) -> None:
        self.start()
        if isinstance(cmd, A.SimpleCommand):
            self.simple(cmd, stderr_too)
            return
        if isinstance(cmd, A.FunctionDef):
            self.nested_function(cmd)
            return
        self.compound(cmd)
        redirs = [self.redir(r) for r in cmd.redirs]
        if stderr_too:
            redirs.append("2>&1")
        if redirs:
            self.emit(" " + " ".join(redirs))

    def simple(self, cmd: A.SimpleCommand, stderr_too: bool) -> None:
        words = [self.assign(a) for a in cmd.assigns] + [self.word(w) for w in cmd.words]
        if cmd.pin is not None:
            words.append("@" + cmd.pin)
        redirs = [self.redir(r) for r in cmd.redirs]
        if stderr_too:
            redirs.append("2>&1")
        self.emit(" ".join(words + redirs))

    def word(self, w: A.Word) -> str:
        parts = w.parts
        if len(parts) == 2 and isinstance(parts[0], A.Lit) and isinstance(parts[1], A.ArrayWords):
            # `declare a=( 1 2 )`: bash prints the list normalised, a=(1 2)
            return parts[0].text + "(" + " ".join(self.text(e) for e in parts[1].elements) + ")"
        return self.text(w)

    def assign(self, a: A.Assign) -> str:
        if a.array is None:
            return self.text(a)
        elements = " ".join(self.text(w) for w in a.array)
        return f"{a.name}{'+=' if a.append else '='}({elements})"

    def redir(self, r: A.Redir) -> str:
        op = r.op
        default = 0 if op.startswith("<") else 1
        fd = "" if r.fd is None or r.fd == default else str(r.fd)
        if r.heredoc is not None:
            self.deferred.append(r)
            return f"{fd}{op}{self.text(r.target)}"
        target = self.text(r.target)
        if op in (">&", "<&"):
            return f"{fd}{op}{target}"
        return f"{fd}{op} {target}"

    def body(self, cl: A.CommandList) -> None:
        self.indentation += _STEP
        self.command_list(cl)
        self.flush_heredocs("")
        self.indentation -= _STEP

    def compound(self, cmd: A.Command) -> None:
        if isinstance(cmd, A.BraceGroup):
            self.emit("{ \n")
            self.indentation += _STEP
            self.command_list(cmd.body)
            self.flush_heredocs("")
            self.emit("\n")
            self.indentation -= _STEP
            self.indent(self.indentation)
            self.emit("}")
        elif isinstance(cmd, A.Subshell):
            self.emit("( ")
            self.skip_indent += 1
            self.command_list(cmd.body)
            self.flush_heredocs("")
            self.emit(" )")
        elif isinstance(cmd, A.If):
            self.if_(cmd.clauses, cmd.else_body)
        elif isinstance(cmd, A.While):
            self.emit("until " if cmd.until else "while ")
            self.skip_indent += 1
            self.command_list(cmd.cond)
            self.flush_heredocs("")
            self.semicolon()
            self.emit(" do\n")
            self.body(cmd.body)
            self.semicolon()
            self.newline("done")
        elif isinstance(cmd, (A.For, A.Select)):
            kw = "for" if isinstance(cmd, A.For) else "select"
            words = '"$@"' if cmd.words is None else " ".join(self.text(w) for w in cmd.words)
            self.emit(f"{kw} {cmd.var} in {words};")
            self.newline("do\n")
            self.body(cmd.body)
            self.semicolon()
            self.newline("done")
        elif isinstance(cmd, A.ArithFor):
            parts = ["" if w is None else self.text(w).strip() for w in (cmd.init, cmd.cond, cmd.step)]
            self.emit(f"for (({parts[0]}; {parts[1]}; {parts[2]}))")
            self.newline("do\n")
            self.body(cmd.body)
            self.semicolon()
            self.newline("done")
        elif isinstance(cmd, A.Case):
            self.emit(f"case {self.text(cmd.word)} in ")
            self.indentation += _STEP
            for arm in cmd.arms:
                self.newline("")
                self.emit(" | ".join(self.text(p) for p in arm.patterns) + ")\n")
                self.indentation += _STEP
                if arm.body.items:
                    self.command_list(arm.body)
                self.indentation -= _STEP
                self.flush_heredocs("")
                self.newline(arm.terminator)
            self.indentation -= _STEP
            self.newline("esac")
        elif isinstance(cmd, A.ArithCommand):
            self.emit(f"(( {self.text(cmd.expr).strip()} ))")
        elif isinstance(cmd, A.CondCommand):
            self.emit("[[ " + " ".join(self.text(w) for w in cmd.words) + " ]]")

    def if_(self, clauses: tuple[A.IfClause, ...], else_body: A.CommandList | None) -> None:
        first, rest = clauses[0], clauses[1:]
        self.emit("if ")
        self.skip_indent += 1
        self.command_list(first.cond)
        self.flush_heredocs("")
        self.semicolon()
        self.emit(" then\n")
        self.body(first.body)
        if rest or else_body is not None:
            self.semicolon()
            self.newline("else\n")
            self.indentation += _STEP
            if rest:
                # elif is printed as an `if` nested in the else part
                self.indent(self.indentation)
                self.if_(rest, else_body)
            else:
                assert else_body is not None
                self.command_list(else_body)
                self.flush_heredocs("")
            self.indentation -= _STEP
        self.semicolon()
        self.newline("fi")
