"""Word-level scanning for the parser: quotes, escapes, `$` expansions,
backticks, here-document bodies and `${...}` operators.

Split from grammar.py to keep both readable; `Parser` inherits
this and supplies the grammar-level methods declared at the bottom.
"""

from __future__ import annotations

from onesh.errors import ParseError, Source, Span
from onesh.parser import ast as A
from onesh.parser.words import (
    METACHARS,
    PARAM_OPS,
    SPECIAL_PARAMS,
    decode_ansi_c,
    is_name_char,
    is_name_start,
)

MAX_DEPTH = 200  # nesting limit: a clear error instead of a RecursionError

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    pass


class WordParser:
    text: str
    n: int
    i: int
    base: int
    source: Source
    aliases: Mapping[str, str]
    depth: int
    # Reading an assignment's value: `~` after `:` expands there, also
    # inside ${x-...} (bash's tilde rule for assignment words).
    in_assignment: bool = False

    # Where text[0] sits in the source (sub-parsers), and the alias splices
    # made so far as (offset, old length, new length) in current-text offsets.
    splices: list[tuple[int, int, int]]
    outer: Callable[[int], int] | None

    def src(self, o: int) -> int:
        """Map an offset in the (possibly alias-spliced) text to the source.
        The map is monotonic, so child spans stay inside their parents; text
        that came from an alias maps onto the alias word the user wrote."""
        for at, old, new in reversed(self.splices):
            if o <= at:
                continue
            o = at + old if o <= at + new else o - new + old
        if self.outer is not None:
            return self.outer(o + self.base)
        return o + self.base

    def child_outer(self) -> Callable[[int], int] | None:
        """The `outer` map for a sub-parser whose offsets are `base`-relative."""
        if not self.splices and self.outer is None:
            return None
        base = self.base
        return lambda a: self.src(a - base)

    def span(self, start: int, end: int | None = None) -> Span:
        if not self.splices and self.outer is None:
            return Span(start + self.base, (self.i if end is None else end) + self.base)
        return Span(self.src(start), self.src(self.i if end is None else end))

    def error(self, msg: str, start: int, end: int | None = None, *, incomplete: bool = False) -> ParseError:
        end = start + 1 if end is None else end
        end = max(end, start)
        start = min(start, self.n)
        end = min(max(end, start), self.n)
        if start == end and start > 0 and start == self.n:
            start -= 1  # point at the last character rather than past the end
        return ParseError(msg, self.span(start, end), self.source, incomplete=incomplete)

    def eof_error(self, msg: str, start: int, end: int | None = None) -> ParseError:
        return self.error(msg, start, end, incomplete=True)

    def peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < self.n else ""

    def at_eof(self) -> bool:
        return self.i >= self.n

    # -------------------------------------------------------------- words
    def read_word(self, *, assignment: bool = False, case_pattern: bool = False,
                  cond: bool = False) -> A.Word | None:
        """Read one shell word in command mode.  None if no word starts here."""
        outer_assignment, self.in_assignment = self.in_assignment, assignment
        try:
            return self._read_word(assignment, case_pattern, cond)
        finally:
            self.in_assignment = outer_assignment

    def _read_word(self, assignment: bool, case_pattern: bool, cond: bool) -> A.Word | None:
        t = self.text
        start = self.i
        parts: list[A.WordPart] = []
        lit: list[str] = []
        lit_start = self.i

        def flush() -> None:
            nonlocal lit_start
            if lit:
                parts.append(A.Lit("".join(lit), self.span(lit_start, self.i)))
                lit.clear()
            lit_start = self.i

        depth = 0  # extglob / case pattern parens
        while self.i < self.n:
            t = self.text  # an alias inside $( ) may have re-spliced the text
            ch = t[self.i]
            if ch in "<>" and t.startswith("(", self.i + 1) and not (cond or case_pattern):
                flush()
                parts.append(self.read_procsub())
                lit_start = self.i
                continue
            if ch in METACHARS:
                if ch == "(" and case_pattern is False and lit and lit[-1] in "?*+@!" and not assignment:
                    # extglob @(a|b): keep the group literally in the word
                    depth += 1
                    lit.append(ch)
                    self.i += 1
                    continue
                if depth and ch in "|)":
                    if ch == ")":
                        depth -= 1
                    lit.append(ch)
                    self.i += 1
                    continue
                if cond and ch in "<>" and not lit and not parts:
                    break
                if cond and ch == "(" and (lit or parts):
                    # [[ x =~ (a|b) ]] — regex groups are part of the word
                    depth += 1
                    lit.append(ch)
                    self.i += 1
                    continue
                break
            if ch == "\\":
                if self.i + 1 < self.n and t[self.i + 1] == "\n":
                    self.i += 2
                    continue
                flush()
                if self.i + 1 >= self.n:
                    # bash keeps a backslash at the very end as a literal
                    # (`bash -c 'echo \'`); check() still calls it incomplete.
                    parts.append(A.Lit("\\", self.span(self.i, self.i + 1)))
                    self.i += 1
                    lit_start = self.i
                    continue
                parts.append(A.Escaped(t[self.i + 1], self.span(self.i, self.i + 2)))
                self.i += 2
                lit_start = self.i
                continue
            if ch == "'":
                flush()
                q = t.find("'", self.i + 1)
                if q < 0:
                    raise self.eof_error("unterminated single quote", self.i)
                parts.append(A.SQuoted(t[self.i + 1:q], self.span(self.i, q + 1)))
                self.i = q + 1
                lit_start = self.i
                continue
            if ch == '"':
                flush()
                parts.append(self.read_dquoted())
                lit_start = self.i
                continue
            if ch == "`":
                flush()
                parts.append(self.read_backtick())
                lit_start = self.i
                continue
            if ch == "$":
                nxt = self.peek(1)
                if nxt == "'":
                    flush()
                    parts.append(self.read_ansi_c())
                    lit_start = self.i
                    continue
                if nxt == '"':
                    flush()
                    self.i += 1
                    dq = self.read_dquoted()
                    parts.append(A.DQuoted(dq.parts, self.span(self.i - (dq.span.end - dq.span.start) - 1)))
                    lit_start = self.i
                    continue
                part = self.read_dollar()
                if part is not None:
                    flush()
                    parts.append(part)
                    lit_start = self.i
                    continue
                lit.append("$")
                self.i += 1
                continue
            if ch == "~" and (self.i == start or (assignment and t[self.i - 1] in ":=")):
                if self.i == start or (assignment and lit and lit[-1] in ":="):
                    k = self.i + 1
                    while k < self.n and t[k] not in METACHARS and t[k] not in "/:\"'`$\\":
                        k += 1
                    if k >= self.n or t[k] in METACHARS or t[k] in "/:" or (assignment and t[k] == ":"):
                        flush()
                        user = t[self.i + 1:k]
                        if all(is_name_char(c) or c in ".-+" for c in user):
                            parts.append(A.Tilde(user, self.span(self.i, k)))
                            self.i = k
                            lit_start = self.i
                            continue
            if ch == "{" and lit and lit[-1] == "$":
                pass
            lit.append(ch)
            self.i += 1
        flush()
        if not parts:
            return None
        return A.Word(tuple(parts), self.span(start))

    def read_dquoted(self) -> A.DQuoted:
        start = self.i
        self.i += 1
        parts = self.read_dquoted_parts(end_char='"', open_at=start)
        self.i += 1  # closing quote
        return A.DQuoted(tuple(parts), self.span(start))

    def read_dquoted_parts(self, end_char: str | None, *, open_at: int = 0, heredoc: bool = False,
                           arith: bool = False) -> list[A.WordPart]:
        """Parts of double-quoted text (also here-doc bodies and arithmetic).
        Stops before `end_char` (or at the end of text when None)."""
        t = self.text
        parts: list[A.WordPart] = []
        lit: list[str] = []
        lit_start = self.i

        def flush() -> None:
            nonlocal lit_start
            if lit:
                parts.append(A.Lit("".join(lit), self.span(lit_start, self.i)))
                lit.clear()
            lit_start = self.i

        while True:
            if self.i >= self.n:
                if end_char is None:
                    break
                raise self.eof_error("unterminated double quote", open_at)
            t = self.text  # an alias inside $( ) may have re-spliced the text
            ch = t[self.i]
            if end_char is not None and ch == end_char:
                break
            if ch == "\\" and self.i + 1 < self.n:
                nxt = t[self.i + 1]
                if nxt == "\n":
                    self.i += 2
                    continue
                specials = "$`\\" if heredoc or arith else '$`"\\'
                if nxt in specials:
                    lit.append(nxt)
                    self.i += 2
                    continue
                lit.append(ch)
                self.i += 1
                continue
            if ch == "`":
                flush()
                parts.append(self.read_backtick())
                lit_start = self.i
                continue
            if ch == "$":
                part = self.read_dollar(in_dquote=True)
                if part is not None:
                    flush()
                    parts.append(part)
                    lit_start = self.i
                    continue
            if arith and ch in "'\"":
                # quotes inside $(( )) are removed, like bash
                flush()
                if ch == "'":
                    # bash keeps single quotes in arithmetic: `'4'` is an error
                    lit.append(ch)
                    self.i += 1
                    continue
                parts.append(self.read_dquoted())
                lit_start = self.i
                continue
            lit.append(ch)
            self.i += 1
        flush()
        return parts

    def read_ansi_c(self) -> A.AnsiCQuoted:
        start = self.i
        k = self.i + 2
        t = self.text
        while k < self.n and t[k] != "'":
            k += 2 if t[k] == "\\" else 1
        if k >= self.n:
            raise self.eof_error("unterminated $'...' quote", start, start + 2)
        self.i = k + 1
        return A.AnsiCQuoted(decode_ansi_c(t[start + 2:k]), self.span(start))

    def read_backtick(self) -> A.CmdSub:
        start = self.i
        k = self.i + 1
        t = self.text
        buf: list[str] = []
        while k < self.n and t[k] != "`":
            if t[k] == "\\" and k + 1 < self.n and t[k + 1] in "$`\\":
                buf.append(t[k + 1])
                k += 2
                continue
            buf.append(t[k])
            k += 1
        if k >= self.n:
            raise self.eof_error("unterminated backquote", start)
        self.i = k + 1
        inner = "".join(buf)
        try:
            prog = self.parse_nested(inner, self.base + start + 1)
        except ParseError as e:
            e.incomplete = False
            raise
        return A.CmdSub(prog, self.span(start), backtick=True)

    def read_procsub(self) -> A.ProcSub:
        """At `<(` or `>(`: the process substitution up to its `)`."""
        start = self.i
        out = self.text[self.i] == ">"
        prog = self.parenthesized_program(start, 2)
        return A.ProcSub(prog, self.span(start), out)

    def parenthesized_program(self, start: int, opener: int) -> A.Program:
        """The commands of `$(...)`, `<(...)` or `>(...)` whose opener (`opener`
        characters) is at `start`, up to and past the closing `)`."""
        self.i = start + opener
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error("nesting too deep", start)
        body_start = self.i
        body = self.parse_list(frozenset(), (")",))
        self.depth -= 1
        self.skip_blanks()
        if self.peek() != ")":
            if self.at_eof():
                raise self.eof_error(f"expected `)' to close `{self.text[start:start + opener]}'", start,
                                     start + opener)
            raise self.unexpected()
        self.i += 1
        return A.Program(body, self.span(body_start, self.i - 1), self.source.name)

    def read_dollar(self, in_dquote: bool = False) -> A.WordPart | None:
        """At a `$`: parse an expansion, or return None for a literal `$`."""
        t = self.text
        start = self.i
        nxt = self.peek(1)
        if nxt == "(":
            if self.peek(2) == "(":
                # $(( ... )) unless it is really $( (subshell) ... )
                try:
                    end = self.find_arith_end(start + 1)
                except ParseError as e:
                    if e.incomplete:
                        raise self.eof_error("expected `))' to close `$(('", start, start + 3) from None
                    end = -1
                if end >= 0:
                    expr = self.parse_arith_text(start + 3, end)
                    self.i = end + 2
                    return A.ArithSub(expr, self.span(start))
            return A.CmdSub(self.parenthesized_program(start, 2), self.span(start))
        if nxt == "{":
            return self.read_braced_param(in_dquote)
        if nxt and is_name_start(nxt):
            k = self.i + 1
            while k < self.n and is_name_char(t[k]):
                k += 1
            self.i = k
            return A.Param(t[start + 1:k], self.span(start))
        if nxt and ("0" <= nxt <= "9" or nxt in SPECIAL_PARAMS):
            self.i += 2
            return A.Param(nxt, self.span(start))
        return None

    def read_braced_param(self, in_dquote: bool = False) -> A.Param:
        t = self.text
        start = self.i
        self.i += 2
        length = False
        if self.peek() == "#" and self.peek(1) not in ("}", "") and not (
                self.peek(1) in "-=?+:%/" and self.peek(2) != "}" and False):
            # ${#x}, ${#@}; but ${#} is $# and ${#-d}... keep it simple
            c1 = self.peek(1)
            if c1 and (is_name_start(c1) or "0" <= c1 <= "9" or c1 in "@*#?-$!"):
                length = True
                self.i += 1
        name_start = self.i
        c = self.peek()
        if not c:
            raise self.eof_error("expected `}' to close `${'", start, start + 2)
        if is_name_start(c):
            while self.i < self.n and is_name_char(t[self.i]):
                self.i += 1
        elif "0" <= c <= "9":
            while self.i < self.n and "0" <= t[self.i] <= "9":
                self.i += 1
        elif c in SPECIAL_PARAMS:
            self.i += 1
        else:
            return self._bad_param(start)
        name = t[name_start:self.i]
        index: A.Word | None = None
        if self.peek() == "[":
            close = _find_bracket_end(t, self.i)
            if close < 0:
                raise self.eof_error("expected `]' in array subscript", self.i)
            inner = t[self.i + 1:close]
            if inner in ("@", "*"):
                index = A.Word((A.Lit(inner, self.span(self.i + 1, close)),), self.span(self.i + 1, close))
            else:
                index = self.parse_arith_text(self.i + 1, close)
            self.i = close + 1
        if self.peek() == "}":
            self.i += 1
            return A.Param(name, self.span(start), length=length, index=index, braced=True)
        if length:
            raise self.error("bad substitution", start, self._brace_end(start))
        op = None
        for cand in PARAM_OPS:
            if t.startswith(cand, self.i):
                op = cand
                break
        if op is None:
            if self.at_eof():
                raise self.eof_error("expected `}' to close `${'", start, start + 2)
            return self._bad_param(start)
        self.i += len(op)
        arg: A.Word | None
        arg2: A.Word | None = None
        if op in ("/", "//", "/#", "/%"):
            arg = self.read_param_word(stop="/}", in_dquote=in_dquote)
            if self.peek() == "/":
                self.i += 1
                arg2 = self.read_param_word(stop="}", in_dquote=in_dquote)
        elif op == ":":
            arg = self.read_param_word(stop=":}", arith_like=True)
            if self.peek() == ":":
                self.i += 1
                arg2 = self.read_param_word(stop="}", arith_like=True)
        else:
            arg = self.read_param_word(stop="}", in_dquote=in_dquote)
        if self.peek() != "}":
            raise self.eof_error("expected `}' to close `${'", start, start + 2)
        self.i += 1
        return A.Param(name, self.span(start), op, arg, arg2, False, index, True)

    def _bad_param(self, start: int) -> A.Param:
        """bash reports a bad ${...} when it is expanded, not when parsed."""
        end = self._brace_end(start)
        if end >= self.n and not self.text.endswith("}"):
            raise self.eof_error("expected `}' to close `${'", start, start + 2)
        self.i = end
        text = self.text[start:end]
        return A.Param("", self.span(start), "bad", A.Word((A.Lit(text, self.span(start)),), self.span(start)),
                       braced=True)

    def _brace_end(self, start: int) -> int:
        k = self.text.find("}", start)
        return self.n if k < 0 else k + 1

    def read_param_word(self, stop: str, arith_like: bool = False, in_dquote: bool = False) -> A.Word:
        """The argument of a ${x op arg}: quotes and expansions are live, the
        word ends at an unnested character in `stop`."""
        t = self.text
        start = self.i
        parts: list[A.WordPart] = []
        lit: list[str] = []
        lit_start = self.i
        depth = 0

        def flush() -> None:
            nonlocal lit_start
            if lit:
                parts.append(A.Lit("".join(lit), self.span(lit_start, self.i)))
                lit.clear()
            lit_start = self.i

        while self.i < self.n:
            t = self.text  # an alias inside $( ) may have re-spliced the text
            ch = t[self.i]
            if ch in stop and depth == 0:
                break
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "\\" and self.i + 1 < self.n:
                flush()
                parts.append(A.Escaped(t[self.i + 1], self.span(self.i, self.i + 2)))
                self.i += 2
                lit_start = self.i
                continue
            if ch == "'":
                flush()
                q = t.find("'", self.i + 1)
                if q < 0:
                    raise self.eof_error("unterminated single quote", self.i)
                parts.append(A.SQuoted(t[self.i + 1:q], self.span(self.i, q + 1)))
                self.i = q + 1
                lit_start = self.i
                continue
            if ch == '"':
                flush()
                parts.append(self.read_dquoted())
                lit_start = self.i
                continue
            if ch == "`":
                flush()
                parts.append(self.read_backtick())
                lit_start = self.i
                continue
            if ch == "$":
                if self.peek(1) == "'":
                    flush()
                    parts.append(self.read_ansi_c())
                    lit_start = self.i
                    continue
                part = self.read_dollar()
                if part is not None:
                    flush()
                    parts.append(part)
                    lit_start = self.i
                    continue
            # `~` starts the word, or (in an assignment) follows a `:`;
            # never inside double quotes ("${x:-~}" is ~)
            if ch == "~" and not arith_like and not in_dquote and (
                    self.i == start or (self.in_assignment and t[self.i - 1] == ":")):
                k = self.i + 1
                while k < self.n and (is_name_char(t[k])):
                    k += 1
                if k >= self.n or t[k] in "/:" + stop:
                    flush()
                    parts.append(A.Tilde(t[self.i + 1:k], self.span(self.i, k)))
                    self.i = k
                    lit_start = self.i
                    continue
            lit.append(ch)
            self.i += 1
        flush()
        return A.Word(tuple(parts), self.span(start))

    # ------------------------------------------- supplied by the grammar
    def skip_blanks(self) -> None:
        raise NotImplementedError

    def unexpected(self) -> ParseError:
        raise NotImplementedError

    def parse_list(self, terms: frozenset[str], closer_ops: tuple[str, ...] = ()) -> A.CommandList:
        raise NotImplementedError

    def find_arith_end(self, open_: int) -> int:
        raise NotImplementedError

    def parse_arith_text(self, a: int, b: int) -> A.Word:
        raise NotImplementedError

    def parse_nested(self, text: str, base: int) -> A.Program:
        """Parse backtick contents (already unescaped) as a program."""
        raise NotImplementedError


def _find_bracket_end(t: str, j: int) -> int:
    depth = 0
    k = j
    while k < len(t):
        c = t[k]
        if c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return k
        elif c in " \t\n;|&<>":
            return -1
        k += 1
    return -1
