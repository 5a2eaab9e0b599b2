"""`[[ ... ]]`: test operators on unsplit words, pattern `==`, regex `=~`."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from onesh.builtins.test import BINARY_OPS, UNARY_OPS, binary_test, unary_test
from onesh.engine import pattern
from onesh.errors import OneshError
from onesh.parser import ast as A

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter


def _op(w: A.Word) -> str | None:
    if len(w.parts) == 1 and isinstance(w.parts[0], A.Lit):
        return w.parts[0].text
    return None


class _Cond:
    def __init__(self, interp: Interpreter, words: tuple[A.Word, ...], cmd: A.CondCommand) -> None:
        self.interp = interp
        self.words = words
        self.pos = 0
        self.cmd = cmd

    def peek(self) -> str | None:
        return _op(self.words[self.pos]) if self.pos < len(self.words) else None

    def error(self, msg: str) -> OneshError:
        return OneshError(f"conditional expression: {msg}", self.cmd.span, status=2)

    def or_(self) -> bool:
        v = self.and_()
        while self.peek() == "||":
            self.pos += 1
            rhs = self.and_()
            v = v or rhs
        return v

    def and_(self) -> bool:
        v = self.not_()
        while self.peek() == "&&":
            self.pos += 1
            rhs = self.not_()
            v = v and rhs
        return v

    def not_(self) -> bool:
        if self.peek() == "!":
            self.pos += 1
            return not self.not_()
        return self.primary()

    def primary(self) -> bool:
        if self.pos >= len(self.words):
            raise self.error("unexpected end of expression")
        t = self.peek()
        if t == "(":
            self.pos += 1
            v = self.or_()
            if self.peek() != ")":
                raise self.error("expected `)'")
            self.pos += 1
            return v
        ex = self.interp.expander
        # binary?
        if self.pos + 2 <= len(self.words) - 1 or self.pos + 2 < len(self.words):
            op = _op(self.words[self.pos + 1]) if self.pos + 1 < len(self.words) else None
            if op in ("==", "=", "!=", "=~", "<", ">") or (op in BINARY_OPS):
                left = ex.single(self.words[self.pos])
                right_w = self.words[self.pos + 2]
                self.pos += 3
                if op in ("==", "=", "!="):
                    m = pattern.match(ex.pattern(right_w), left)
                    return m if op != "!=" else not m
                if op == "=~":
                    rx = ex.regex(right_w)
                    try:
                        mo = re.search(rx, left)
                    except re.error:
                        raise OneshError(f"invalid regular expression `{rx}'", right_w.span, status=2) from None
                    if mo is None:
                        self.interp.state.set("BASH_REMATCH", {})
                        return False
                    groups = [mo.group(0)] + [g or "" for g in mo.groups()]
                    self.interp.state.set("BASH_REMATCH", dict(enumerate(groups)))
                    return True
                if op == "<":
                    return left < ex.single(right_w)
                if op == ">":
                    return left > ex.single(right_w)
                assert op is not None
                right = ex.single(right_w)
                if op in ("-eq", "-ne", "-lt", "-le", "-gt", "-ge"):
                    a = ex.arith(A.Word((A.Lit(left, right_w.span),), right_w.span))
                    b = ex.arith(A.Word((A.Lit(right, right_w.span),), right_w.span))
                    return binary_test(str(a), op, str(b))
                return binary_test(left, op, right)
        if t in UNARY_OPS and self.pos + 1 < len(self.words):
            self.pos += 1
            arg = ex.single(self.words[self.pos])
            self.pos += 1
            return unary_test(t, arg, self.interp.state)
        word = ex.single(self.words[self.pos])
        self.pos += 1
        return word != ""


def evaluate_cond(interp: Interpreter, cmd: A.CondCommand) -> int:
    c = _Cond(interp, cmd.words, cmd)
    v = c.or_()
    if c.pos != len(cmd.words):
        raise c.error(f"unexpected `{interp.expander.single(cmd.words[c.pos])}'")
    return 0 if v else 1
