"""Recursive-descent parser for the onesh (bash) language.

The parser scans characters directly: bash's lexical structure depends on the
grammatical context (a `(` after `NAME=` starts an array, `}` is a word unless
it ends a brace group, `#` starts a comment only at a word start), so one
cursor over the text with context-aware word reading is simpler and faster
than a separate token stream.  Here-document bodies are read when the parser
consumes the newline that follows their operator, as in bash.

onesh's only syntax extension is the placement pin: when the LAST word of a
simple command is a plain unquoted literal starting with `@` (`@node` or
`@tag=value`), it becomes `SimpleCommand.pin` instead of an argument.  Write
`\\@x` or `'@x'` to pass such a word as an argument.
"""

from __future__ import annotations

from onesh.errors import ParseError, Source, Span
from onesh.parser import ast as A
from onesh.parser.wordparse import MAX_DEPTH, WordParser, _find_bracket_end
from onesh.parser.words import (
    LIST_TERMINATORS,
    METACHARS,
    OPERATORS,
    REDIR_OPS,
    RESERVED,
    is_name,
    is_name_char,
    is_name_start,
)
from onesh.record import Record, replace

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Literal


class _PendingHereDoc(Record):
    heredoc: A.HereDoc
    span: Span


class Parser(WordParser):
    def __init__(self, text: str, name: str = "<stdin>", *,
                 aliases: Mapping[str, str] | None = None, base: int = 0,
                 source: Source | None = None, outer: Callable[[int], int] | None = None) -> None:
        self.text = text
        self.n = len(text)
        self.i = 0
        self.base = base  # offset of text[0] in the original source (backticks)
        self.source = source or Source(text, name)
        self.aliases = aliases or {}
        self.pending: list[_PendingHereDoc] = []
        self.depth = 0
        self.last_sep = False
        self.splices: list[tuple[int, int, int]] = []
        self.outer = outer
        # Aliases being expanded, with the end of their text: a name is not
        # expanded again inside its own expansion (bash's recursion guard).
        self._alias_active: list[tuple[str, int]] = []
        # Offset from which the next word may be an alias because the last
        # alias value ended in a blank; -1 when no such word is pending.
        self._alias_next = -1

    # ------------------------------------------------------------ helpers
    def startswith(self, s: str) -> bool:
        return self.text.startswith(s, self.i)

    def skip_blanks(self) -> None:
        """Skip spaces, tabs, line continuations and comments (not newlines)."""
        t, n = self.text, self.n
        while self.i < n:
            ch = t[self.i]
            if ch in " \t":
                self.i += 1
            elif ch == "\\" and self.i + 1 < n and t[self.i + 1] == "\n":
                self.i += 2
            elif ch == "#":
                while self.i < n and t[self.i] != "\n":
                    self.i += 1
            else:
                break

    def peek_op(self) -> str | None:
        ch = self.peek()
        if not ch or ch not in "&|;<>()":
            return None
        for op in OPERATORS:
            if self.text.startswith(op, self.i):
                return op
        return None

    def newline(self) -> bool:
        """Consume one newline (and then read pending here-doc bodies)."""
        if self.peek() == "\n":
            self.i += 1
            if self.pending:
                self.read_heredocs()
            return True
        return False

    def linebreak(self) -> None:
        """Skip any number of newlines (with comments/blanks between)."""
        while True:
            self.skip_blanks()
            if not self.newline():
                return

    # ---------------------------------------------------------- reserved
    def peek_word_text(self) -> str | None:
        """If the next token is a plain unquoted word, return its text."""
        j = self.i
        t = self.text
        while j < self.n and t[j] not in METACHARS and t[j] not in "\"'`$\\":
            j += 1
        if j == self.i:
            return None
        if j < self.n and t[j] in "\"'`$\\":
            return None
        return t[self.i:j]

    def peek_reserved(self) -> str | None:
        self.skip_blanks()
        w = self.peek_word_text()
        if w in RESERVED:
            return w
        return None

    def expect_reserved(self, word: str, opener: str, opener_start: int) -> int:
        self.linebreak_or_sep()
        got = self.peek_reserved()
        if got != word:
            if self.at_eof():
                raise self.eof_error(f"expected `{word}' to close `{opener}'", opener_start, opener_start + len(opener))
            raise self.unexpected()
        start = self.i
        self.i += len(word)
        return start

    def linebreak_or_sep(self) -> None:
        self.linebreak()

    def at_procsub(self) -> bool:
        return self.text.startswith(("<(", ">("), self.i)

    def unexpected(self) -> ParseError:
        self.skip_blanks()
        if self.at_eof():
            return self.eof_error("unexpected end of input", self.i)
        op = self.peek_op()
        if op:
            return self.error(f"unexpected token `{op}'", self.i, self.i + len(op))
        if self.peek() == "\n":
            return self.error("unexpected newline", self.i)
        w = self.peek_word_text() or self.peek()
        return self.error(f"unexpected token `{w}'", self.i, self.i + len(w))

    # ------------------------------------------------------------- lists
    def parse_program(self) -> A.Program:
        start = self.i
        items: list[A.ListItem] = []
        self.linebreak()
        while not self.at_eof():
            cl = self.parse_complete_command()
            items.extend(cl.items)
            self.linebreak()
        body = A.CommandList(tuple(items), self.span(start))
        return A.Program(body, self.span(start), self.source.name)

    def parse_complete_command(self) -> A.CommandList:
        """One line's worth: and-or lists separated by ; or &, up to newline."""
        start = self.i
        items: list[A.ListItem] = []
        while True:
            self.skip_blanks()
            if self.at_eof() or self.peek() == "\n":
                break
            item = self.parse_list_item(top=True)
            items.append(item)
            self.skip_blanks()
            if self.last_sep:
                continue
            if self.at_eof() or self.peek() == "\n":
                break
            raise self.unexpected()
        if not items:
            raise self.unexpected()
        self.skip_blanks()
        if not self.newline() and self.pending:
            self.read_heredocs()  # at end of input: raises "not closed"
        return A.CommandList(tuple(items), self.span(start))

    def parse_list_item(self, top: bool = False) -> A.ListItem:
        start = self.i
        ao = self.parse_and_or()
        self.skip_blanks()
        op = self.peek_op()
        bg = False
        self.last_sep = op in ("&", ";")
        if op == "&":
            self.i += 1
            bg = True
        elif op == ";":
            self.i += 1
        return A.ListItem(ao, Span(self.src(start), ao.span.end), bg)

    def parse_list(self, terms: frozenset[str], closer_ops: tuple[str, ...] = ()) -> A.CommandList:
        """A compound list: items separated by ; & newline, until a reserved
        word in `terms` (in command position) or one of `closer_ops`."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("nesting too deep", self.i)
        start = self.i
        items: list[A.ListItem] = []
        self.linebreak()
        while True:
            self.skip_blanks()
            if self.at_eof():
                break
            if self.peek() == "\n":
                self.linebreak()
                continue
            rw = self.peek_reserved()
            if rw in terms:
                break
            op = self.peek_op()
            if op and any(op.startswith(c) or c.startswith(op) for c in closer_ops if c):
                if op in closer_ops or op in (";;", ";&", ";;&", ")"):
                    break
            items.append(self.parse_list_item())
            if not self.last_sep:
                self.skip_blanks()
                if not (self.at_eof() or self.peek() == "\n" or self.peek_reserved() in terms
                        or self.peek_op() in (*closer_ops, ")", ";;", ";&", ";;&")):
                    raise self.unexpected()
        self.depth -= 1
        return A.CommandList(tuple(items), self.span(start))

    def parse_and_or(self) -> A.AndOr:
        start = self.i
        first = self.parse_pipeline()
        rest: list[tuple[Literal["&&", "||"], A.Pipeline]] = []
        while True:
            self.skip_blanks()
            op = self.peek_op()
            if op != "&&" and op != "||":
                break
            self.i += 2
            self.linebreak()
            if self.at_eof():
                raise self.eof_error(f"expected a command after `{op}'", self.i - 2, self.i)
            rest.append(("&&" if op == "&&" else "||", self.parse_pipeline()))
        end = rest[-1][1].span.end if rest else first.span.end
        return A.AndOr(first, tuple(rest), Span(self.src(start), end))

    def parse_pipeline(self) -> A.Pipeline:
        self.skip_blanks()
        start = self.i
        negated = timed = False
        while True:
            rw = self.peek_reserved()
            if rw == "!":
                self.i += 1
                negated = not negated
            elif rw == "time":
                self.i += 4
                timed = True
            else:
                break
        cmds: list[A.Command] = []
        stderr_too: list[bool] = []
        cmds.append(self.parse_command())
        while True:
            self.skip_blanks()
            op = self.peek_op()
            if op not in ("|", "|&"):
                break
            op_start = self.i
            self.i += len(op)
            stderr_too.append(op == "|&")
            self.linebreak()
            if self.at_eof():
                raise self.eof_error(f"expected a command after `{op}'", op_start, op_start + len(op))
            cmds.append(self.parse_command())
        end = cmds[-1].span.end
        return A.Pipeline(tuple(cmds), Span(self.src(start), end), negated, tuple(stderr_too), timed)

    # ----------------------------------------------------------- commands
    def parse_command(self) -> A.Command:
        self.skip_blanks()
        if self.at_eof():
            raise self.eof_error("expected a command", self.i)
        rw = self.peek_reserved()
        start = self.i
        cmd: A.Command
        if rw is not None and rw not in ("!", "time", "in", "]]"):
            if rw in LIST_TERMINATORS or rw == "then":
                raise self.unexpected()
            cmd = self.parse_compound(rw)
            if isinstance(cmd, A.FunctionDef):
                return cmd
            return self.with_redirs(cmd)
        op = self.peek_op()
        if op == "(":
            cmd = self.parse_dparen() if self.startswith("((") else self.parse_subshell()
            return self.with_redirs(cmd)
        if op is not None and op not in REDIR_OPS:
            raise self.unexpected()
        # function definition: NAME ( )
        w = self.peek_word_text()
        # `a=()` / `a+=()` is an empty array, not a function named `a=`
        if w is not None and w not in RESERVED and not (w.endswith("=") and self.startswith(w + "(")):
            save = self.i
            self.i += len(w)
            self.skip_blanks()
            if self.peek() == "(":
                j = self.i + 1
                while j < self.n and self.text[j] in " \t":
                    j += 1
                if j < self.n and self.text[j] == ")":
                    self.i = j + 1
                    if not _valid_func_name(w):
                        raise self.error(f"`{w}': not a valid function name", save, save + len(w))
                    return self.parse_function_body(w, start)
            self.i = save
        return self.parse_simple(start)

    def with_redirs(self, cmd: A.Command) -> A.Command:
        redirs: list[A.Redir] = []
        while True:
            self.skip_blanks()
            r = self.try_redir()
            if r is None:
                break
            redirs.append(r)
        if not redirs:
            return cmd
        return _replace_redirs(cmd, tuple(redirs), Span(cmd.span.start, redirs[-1].span.end))

    def parse_compound(self, rw: str) -> A.Command:
        start = self.i
        if rw == "{":
            self.i += 1
            body = self.parse_list(frozenset({"}"}))
            self.expect_reserved("}", "{", start)
            return A.BraceGroup(body, self.span(start))
        if rw == "if":
            return self.parse_if(start)
        if rw in ("while", "until"):
            self.i += len(rw)
            cond = self.parse_list(frozenset({"do"}))
            self.expect_reserved("do", rw, start)
            body = self.parse_list(frozenset({"done"}))
            self.expect_reserved("done", rw, start)
            return A.While(cond, body, self.span(start), until=(rw == "until"))
        if rw == "for":
            return self.parse_for(start)
        if rw == "select":
            return self.parse_for(start, "select")
        if rw == "case":
            return self.parse_case(start)
        if rw == "function":
            self.i += len("function")
            self.skip_blanks()
            w = self.peek_word_text()
            if w is None:
                raise self.unexpected() if not self.at_eof() else self.eof_error("expected a function name", start)
            if not _valid_func_name(w):
                raise self.error(f"`{w}': not a valid function name", self.i, self.i + len(w))
            self.i += len(w)
            self.skip_blanks()
            if self.startswith("("):
                j = self.i + 1
                while j < self.n and self.text[j] in " \t":
                    j += 1
                if j < self.n and self.text[j] == ")":
                    self.i = j + 1
            return self.parse_function_body(w, start)
        if rw == "[[":
            return self.parse_cond(start)
        raise self.unexpected()

    def parse_function_body(self, name: str, start: int) -> A.FunctionDef:
        self.linebreak()
        if self.at_eof():
            raise self.eof_error(f"expected a body for function `{name}'", start)
        rw = self.peek_reserved()
        body: A.Command
        if rw in ("{", "if", "while", "until", "for", "select", "case", "[["):
            body = self.with_redirs(self.parse_compound(rw or ""))
        elif self.startswith("(("):
            body = self.with_redirs(self.parse_dparen())
        elif self.startswith("("):
            body = self.with_redirs(self.parse_subshell())
        else:
            raise self.error("expected a compound command ({ ... }) as the function body", self.i)
        return A.FunctionDef(name, body, self.span(start))

    def parse_subshell(self) -> A.Subshell:
        start = self.i
        self.i += 1
        body = self.parse_list(frozenset(), (")",))
        self.skip_blanks()
        if self.peek() != ")":
            if self.at_eof():
                raise self.eof_error("expected `)' to close `('", start)
            raise self.unexpected()
        self.i += 1
        if not body.items:
            raise self.error("empty subshell", start, self.i)
        return A.Subshell(body, self.span(start))

    def parse_if(self, start: int) -> A.If:
        self.i += 2
        clauses: list[A.IfClause] = []
        else_body: A.CommandList | None = None
        kw_start = start
        kw = "if"
        while True:
            cond = self.parse_list(frozenset({"then"}))
            self.expect_reserved("then", kw, kw_start)
            if not cond.items:
                raise self.error(f"empty condition after `{kw}'", kw_start, kw_start + len(kw))
            body = self.parse_list(frozenset({"elif", "else", "fi"}))
            clauses.append(A.IfClause(cond, body))
            rw = self.peek_reserved()
            if rw == "elif":
                kw_start = self.i
                kw = "elif"
                self.i += 4
                continue
            if rw == "else":
                self.i += 4
                else_body = self.parse_list(frozenset({"fi"}))
            self.expect_reserved("fi", "if", start)
            return A.If(tuple(clauses), else_body, self.span(start))

    def parse_for(self, start: int, kw: str = "for") -> A.Command:
        """for NAME [in WORDS]; do ...; done (and `select`, the same shape)."""
        self.i += len(kw)
        self.skip_blanks()
        if kw == "for" and self.startswith("(("):
            return self.parse_arith_for(start)
        w = self.peek_word_text()
        if w is None or not is_name(w):
            if self.at_eof():
                raise self.eof_error(f"expected a variable name after `{kw}'", start, start + len(kw))
            raise self.error(f"expected a variable name after `{kw}'", self.i, self.i + max(1, len(w or "")))
        self.i += len(w)
        words: tuple[A.Word, ...] | None = None
        self.skip_blanks()
        save = self.i
        self.linebreak()
        if self.peek_reserved() == "in":
            self.i += 2
            ws: list[A.Word] = []
            while True:
                self.skip_blanks()
                if self.at_eof():
                    raise self.eof_error(f"expected `do' to close `{kw}'", start, start + len(kw))
                op = self.peek_op()
                if op == ";" or self.peek() == "\n":
                    self.i += 1
                    if self.peek() == "" and self.pending:
                        pass
                    if self.text[self.i - 1] == "\n" and self.pending:
                        self.read_heredocs()
                    break
                word = self.read_word()
                if word is None:
                    raise self.unexpected()
                ws.append(word)
            words = tuple(ws)
        else:
            self.i = save
            self.skip_blanks()
            if self.peek_op() == ";":
                self.i += 1
        self.expect_reserved("do", kw, start)
        body = self.parse_list(frozenset({"done"}))
        self.expect_reserved("done", kw, start)
        if kw == "select":
            return A.Select(w, words, body, self.span(start))
        return A.For(w, words, body, self.span(start))

    def parse_arith_for(self, start: int) -> A.ArithFor:
        open_ = self.i
        self.i += 2
        inner_start = self.i
        end = self.find_arith_end(open_)
        inner = self.text[inner_start:end]
        # Split on top-level ';' (parens may nest inside).
        parts: list[tuple[int, int]] = []
        depth, seg = 0, inner_start
        for k in range(inner_start, end):
            c = self.text[k]
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            elif c == ";" and depth == 0:
                parts.append((seg, k))
                seg = k + 1
        parts.append((seg, end))
        if len(parts) != 3:
            raise self.error("expected `for ((init; cond; step))'", open_, end + 2)
        del inner
        exprs: list[A.Word | None] = []
        for a, b in parts:
            if self.text[a:b].strip():
                exprs.append(self.parse_arith_text(a, b))
            else:
                exprs.append(None)
        self.i = end + 2
        self.skip_blanks()
        if self.peek_op() == ";":
            self.i += 1
        self.linebreak()
        rw = self.peek_reserved()
        if rw == "{":
            b0 = self.i
            self.i += 1
            body = self.parse_list(frozenset({"}"}))
            self.expect_reserved("}", "{", b0)
        else:
            self.expect_reserved("do", "for", start)
            body = self.parse_list(frozenset({"done"}))
            self.expect_reserved("done", "for", start)
        return A.ArithFor(exprs[0], exprs[1], exprs[2], body, self.span(start))

    def parse_case(self, start: int) -> A.Case:
        self.i += 4
        self.skip_blanks()
        word = self.read_word()
        if word is None:
            if self.at_eof():
                raise self.eof_error("expected a word after `case'", start, start + 4)
            raise self.unexpected()
        self.linebreak()
        if self.peek_reserved() != "in":
            if self.at_eof():
                raise self.eof_error("expected `in' after `case WORD'", start, start + 4)
            raise self.unexpected()
        self.i += 2
        arms: list[A.CaseArm] = []
        while True:
            self.linebreak()
            if self.peek_reserved() == "esac":
                self.i += 4
                break
            if self.at_eof():
                raise self.eof_error("expected `esac' to close `case'", start, start + 4)
            arm_start = self.i
            if self.peek() == "(":
                self.i += 1
            pats: list[A.Word] = []
            while True:
                self.skip_blanks()
                p = self.read_word(case_pattern=True)
                if p is None:
                    if self.at_eof():
                        raise self.eof_error("expected `)' after a case pattern", arm_start)
                    raise self.unexpected()
                pats.append(p)
                self.skip_blanks()
                if self.peek() == "|":
                    self.i += 1
                    continue
                if self.peek() == ")":
                    self.i += 1
                    break
                if self.at_eof():
                    raise self.eof_error("expected `)' after a case pattern", arm_start)
                raise self.unexpected()
            body = self.parse_list(frozenset({"esac"}), (";;", ";&", ";;&"))
            self.skip_blanks()
            op = self.peek_op()
            term = ";;"
            if op in (";;", ";&", ";;&"):
                self.i += len(op)
                term = op
            elif self.peek_reserved() != "esac":
                if self.at_eof():
                    raise self.eof_error("expected `esac' to close `case'", start, start + 4)
                raise self.unexpected()
            arms.append(A.CaseArm(tuple(pats), body, self.span(arm_start), term))  # type: ignore[arg-type]
        return A.Case(word, tuple(arms), self.span(start))

    def parse_cond(self, start: int) -> A.CondCommand:
        self.i += 2
        words: list[A.Word] = []
        while True:
            self.skip_blanks()
            while self.peek() == "\n":
                self.newline()
                self.skip_blanks()
            if self.at_eof():
                raise self.eof_error("expected `]]' to close `[['", start, start + 2)
            if self.peek_word_text() == "]]":
                self.i += 2
                break
            op = self.peek_op()
            if op in ("&&", "||", "(", ")", "<", ">"):
                words.append(A.Word((A.Lit(op, self.span(self.i, self.i + len(op))),), self.span(self.i, self.i + len(op))))
                self.i += len(op)
                continue
            if op is not None:
                raise self.unexpected()
            w = self.read_word(cond=True)
            if w is None:
                raise self.unexpected()
            words.append(w)
        if not words:
            raise self.error("empty `[[ ]]'", start, self.i)
        return A.CondCommand(tuple(words), self.span(start))

    def find_arith_end(self, open_: int) -> int:
        """Given `((` at open_, return the index of the matching `))`."""
        depth = 0
        k = open_ + 2
        t = self.text
        while k < self.n:
            c = t[k]
            if c == "\\":
                k += 2
                continue
            if c in "'\"":
                q = t.find(c, k + 1)
                if q < 0:
                    break
                k = q + 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    if k + 1 < self.n and t[k + 1] == ")":
                        return k
                    raise self.error("expected `))' to close `(('", open_, open_ + 2)
                depth -= 1
            k += 1
        raise self.eof_error("expected `))' to close `(('", open_, open_ + 2)

    def parse_arith_text(self, a: int, b: int) -> A.Word:
        sub = Parser(self.text[:b], self.source.name, base=self.base, source=self.source,
                     outer=self.child_outer())
        sub.i = a
        parts = sub.read_dquoted_parts(end_char=None, arith=True)
        return A.Word(tuple(parts), self.span(a, b))

    def parse_nested(self, text: str, base: int) -> A.Program:
        return Parser(text, self.source.name, base=base, source=self.source, aliases=self.aliases,
                      outer=self.child_outer()).parse_program()

    def parse_dparen(self) -> A.Command:
        """`((`: an arithmetic command when it closes with `))`, else two
        nested subshells, as bash decides (`((gzip x; echo $?) | cat)`)."""
        try:
            self.find_arith_end(self.i)
        except ParseError as e:
            if e.incomplete:
                raise
            return self.parse_subshell()
        return self.parse_arith_command()

    def parse_arith_command(self) -> A.ArithCommand:
        start = self.i
        end = self.find_arith_end(start)
        expr = self.parse_arith_text(start + 2, end)
        self.i = end + 2
        return A.ArithCommand(expr, self.span(start))

    # ------------------------------------------------------ simple command
    def parse_simple(self, start: int) -> A.Command:
        assigns: list[A.Assign] = []
        words: list[A.Word] = []
        redirs: list[A.Redir] = []
        while True:
            self.skip_blanks()
            if self.at_eof() or self.peek() == "\n":
                break
            r = self.try_redir()
            if r is not None:
                redirs.append(r)
                continue
            op = self.peek_op()
            if op is not None and not self.at_procsub():
                break
            if not words:
                a = self.try_assignment()
                if a is not None:
                    assigns.append(a)
                    continue
                # Alias expansion in command position.
                if self.aliases and self.try_alias():
                    continue
            elif 0 <= self._alias_next <= self.i and self.aliases and self.try_alias():
                continue
            if words and _is_decl(words[0]):
                a = self.try_assignment()
                if a is not None:
                    words.append(_assign_as_word(a))
                    continue
            word = self.read_word()
            if word is None:
                raise self.unexpected()
            if 0 <= self._alias_next < self.i:
                self._alias_next = -1
            words.append(word)
        if not (assigns or words or redirs):
            raise self.unexpected()
        pin: str | None = None
        if len(words) > 1:
            last = words[-1]
            if len(last.parts) == 1 and isinstance(last.parts[0], A.Lit) and last.parts[0].text.startswith("@") and len(last.parts[0].text) > 1:
                pin = last.parts[0].text[1:]
                words.pop()
        end_candidates = [x.span.end for x in assigns] + [x.span.end for x in words] + [x.span.end for x in redirs]
        if pin is not None:
            end_candidates.append(self.src(self.i))
        return A.SimpleCommand(tuple(assigns), tuple(words), tuple(redirs),
                               Span(self.src(start), max(end_candidates)), pin)

    def try_alias(self) -> bool:
        """Expand the next word if it is an alias not already being expanded."""
        w = self.peek_word_text()
        if w is None or w not in self.aliases:
            return False
        self._alias_active = [(n, end) for n, end in self._alias_active if end > self.i]
        if any(n == w for n, _ in self._alias_active):
            return False
        self.expand_alias(w)
        return True

    def expand_alias(self, name: str) -> None:
        """Splice the alias text into the input in place of the word; `src`
        maps offsets in the spliced text back onto the source."""
        value = self.aliases[name]
        at, old, new = self.i, len(name), len(value)
        self.text = self.text[:at] + value + self.text[at + old:]
        self.n = len(self.text)
        self.splices.append((at, old, new))
        delta = new - old
        self._alias_active = [(n, end + delta if end > at else end) for n, end in self._alias_active]
        self._alias_active.append((name, at + new))
        if self._alias_next > at:
            self._alias_next += delta
        if value[-1:] in (" ", "\t"):
            self._alias_next = at + new
        elif self._alias_next == at:
            self._alias_next = -1

    def try_assignment(self) -> A.Assign | None:
        t = self.text
        j = self.i
        if j >= self.n or not is_name_start(t[j]):
            return None
        while j < self.n and is_name_char(t[j]):
            j += 1
        name = t[self.i:j]
        index: A.Word | None = None
        if j < self.n and t[j] == "[":
            close = _find_bracket_end(t, j)
            if close < 0:
                return None
            idx_start = j + 1
            k = close + 1
            if not (t.startswith("=", k) or t.startswith("+=", k)):
                return None
            index = self.parse_arith_text(idx_start, close) if close > idx_start else A.Word((), self.span(idx_start, idx_start))
            j = close + 1
        append = False
        if t.startswith("+=", j):
            append = True
            j += 2
        elif t.startswith("=", j):
            j += 1
        else:
            return None
        start = self.i
        self.i = j
        if self.peek() == "(" and index is None:
            self.i += 1
            elems: list[A.Word] = []
            while True:
                self.skip_blanks()
                while self.peek() == "\n":
                    self.newline()
                    self.skip_blanks()
                if self.peek() == ")":
                    self.i += 1
                    break
                if self.at_eof():
                    raise self.eof_error("expected `)' to close the array", j)
                w = self.read_word()
                if w is None:
                    raise self.unexpected()
                elems.append(w)
            return A.Assign(name, None, self.span(start), append, None, tuple(elems))
        value = self.read_word(assignment=True)
        if value is None:
            value = A.Word((), self.span(self.i, self.i))
        return A.Assign(name, value, self.span(start), append, index, None)

    def try_redir(self) -> A.Redir | None:
        t = self.text
        start = self.i
        j = self.i
        fd: int | None = None
        while j < self.n and "0" <= t[j] <= "9":  # (ASCII: `¹<` is a word)
            j += 1
        if j > self.i and j < self.n and t[j] in "<>":
            fd = int(t[self.i:j])
        else:
            j = self.i
        if j >= self.n or t[j] not in "<>&":
            return None
        op = None
        for cand in OPERATORS:
            if cand in REDIR_OPS and t.startswith(cand, j):
                op = cand
                break
        if op is None:
            return None
        if op.startswith("&") and fd is not None:
            return None
        if op in ("<", ">") and t.startswith("(", j + 1):
            return None  # <(...) / >(...): a word (`2>(x)` too, as in bash), not a redirection
        self.i = j + len(op)
        self.skip_blanks()
        if op in ("<<", "<<-"):
            return self.read_heredoc_op(op, fd, start)
        if self.at_eof() or self.peek() == "\n" or (self.peek_op() is not None and not self.at_procsub()):
            if self.at_eof():
                # Not "incomplete": bash rejects `echo >` at the end of a line
                # rather than reading the file name from the next one.
                raise self.error(f"expected a file name after `{op}'", j, j + len(op))
            raise self.unexpected()
        target = self.read_word()
        if target is None:
            raise self.unexpected()
        return A.Redir(op, target, self.span(start), fd)  # type: ignore[arg-type]

    def read_heredoc_op(self, op: str, fd: int | None, start: int) -> A.Redir:
        dstart = self.i
        target = self.read_word()
        if target is None:
            raise self.error(f"expected a delimiter after `{op}'", start, self.i) if self.at_eof() else self.unexpected()
        # The delimiter is the word as written, quotes removed, never
        # expanded (`<<$x` ends at a line `$x`); any quoting makes the body
        # literal.
        raw = self.text[dstart:self.i]
        quoted = any(c in raw for c in "'\"\\")
        delim = _quote_removed(raw)
        hd = A.HereDoc(A.Word((), self.span(dstart, dstart)), delim, quoted, op == "<<-")
        self.pending.append(_PendingHereDoc(hd, self.span(start)))
        return A.Redir(op, target, self.span(start), fd, hd)  # type: ignore[arg-type]

    def read_heredocs(self) -> None:
        pending, self.pending = self.pending, []
        for p in pending:
            hd = p.heredoc
            body_start = self.i
            lines_end = -1
            k = self.i
            while k <= self.n:
                nl = self.text.find("\n", k)
                line_end = self.n if nl < 0 else nl
                line = self.text[k:line_end]
                check = line.lstrip("\t") if hd.strip_tabs else line
                if check == hd.delimiter:
                    lines_end = k
                    self.i = line_end + 1 if nl >= 0 else self.n
                    break
                if nl < 0:
                    break
                k = nl + 1
            if lines_end < 0:
                err = ParseError(f"here-document delimited by `{hd.delimiter}' is not closed",
                                 p.span, self.source, incomplete=True)
                raise err
            raw = self.text[body_start:lines_end]
            if hd.quoted:
                text = _strip_tabs(raw) if hd.strip_tabs else raw
                body = A.Word((A.Lit(text, self.span(body_start, lines_end)),) if text else (),
                              self.span(body_start, lines_end))
            else:
                if hd.strip_tabs:
                    raw = _strip_tabs(raw)
                    sub = Parser(raw, self.source.name, base=self.base + body_start, source=self.source,
                                 outer=self.child_outer())
                else:
                    sub = Parser(self.text[:lines_end], self.source.name, base=self.base, source=self.source,
                                 outer=self.child_outer())
                    sub.i = body_start
                parts = sub.read_dquoted_parts(end_char=None, heredoc=True)
                body = A.Word(tuple(parts), self.span(body_start, lines_end))
            # The Redir node was built before its body could be read (bash reads
            # bodies after the line); fill it in before anyone sees the tree.
            object.__setattr__(hd, "body", body)

# ---------------------------------------------------------------- helpers


_DECL_BUILTINS = frozenset({"declare", "typeset", "local", "export", "readonly"})


def _is_decl(w: A.Word) -> bool:
    return len(w.parts) == 1 and isinstance(w.parts[0], A.Lit) and w.parts[0].text in _DECL_BUILTINS


def _assign_as_word(a: A.Assign) -> A.Word:
    """`declare x=(a b)` arrives at the builtin as one argument; see
    A.ArrayWords for how the elements travel."""
    head = a.name + ("+=" if a.append else "=")
    if a.array is None:
        parts: list[A.WordPart] = [A.Lit(head, a.span)]
        if a.value is not None and a.value.parts:
            # like bash, assignment arguments are not split or globbed
            parts.append(A.DQuoted(a.value.parts, a.value.span))
        return A.Word(tuple(parts), a.span)
    return A.Word((A.Lit(head, a.span), A.ArrayWords(a.array, a.span)), a.span)


def _valid_func_name(w: str) -> bool:
    return bool(w) and not (w.isascii() and w.isdigit()) and all(c not in "$`'\"\\=" for c in w)


def _literal_text(p: A.WordPart) -> str:
    if isinstance(p, (A.Lit, A.SQuoted, A.Escaped, A.AnsiCQuoted)):
        return p.text
    if isinstance(p, A.DQuoted):
        return "".join(_literal_text(x) for x in p.parts)
    if isinstance(p, A.Tilde):
        return "~" + p.user
    if isinstance(p, A.Param):
        return "$" + p.name
    return ""


def _quote_removed(raw: str) -> str:
    out: list[str] = []
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c == "\\" and i + 1 < n:
            out.append(raw[i + 1])
            i += 2
        elif c == "'":
            q = raw.find("'", i + 1)
            q = n if q < 0 else q
            out.append(raw[i + 1:q])
            i = q + 1
        elif c == '"':
            i += 1
            while i < n and raw[i] != '"':
                if raw[i] == "\\" and i + 1 < n and raw[i + 1] in '$`"\\':
                    i += 1
                out.append(raw[i])
                i += 1
            i += 1
        elif c == "$" and raw[i + 1:i + 2] in ("'", '"'):
            i += 1  # $'..' and $".." delimiters: the quotes are removed
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _strip_tabs(raw: str) -> str:
    return "".join(line.lstrip("\t") for line in raw.splitlines(keepends=True))


def _replace_redirs(cmd: A.Command, redirs: tuple[A.Redir, ...], span: Span) -> A.Command:
    if isinstance(cmd, A.SimpleCommand | A.FunctionDef):
        return cmd
    merged = (*cmd.redirs, *redirs)
    return replace(cmd, redirs=merged, span=span)
