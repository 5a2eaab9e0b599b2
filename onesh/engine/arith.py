"""Shell arithmetic: `$((..))`, `((..))`, `let`-style evaluation.

The expression text arrives already parameter-expanded (bash expands `$x`
inside `$((..))` first); bare names are looked up here and evaluated
recursively, like bash.  Integers are 64-bit and wrap.
"""

from __future__ import annotations

import functools

from onesh.errors import ExpansionError

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable

_MASK = (1 << 64) - 1


def _wrap(v: int) -> int:
    v &= _MASK
    return v - (1 << 64) if v >> 63 else v


class ArithError(ExpansionError):
    pass


_OPS3 = ("<<=", ">>=", "**=")
_OPS2 = ("**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "++", "--",
         "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=")
_OPS1 = "+-*/%<>&|^!~?:=(),[]"

# binary operator precedence (higher binds tighter)
_BINARY: dict[str, int] = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, ">": 7, "<=": 7, ">=": 7, "<<": 8, ">>": 8,
    "+": 9, "-": 9, "*": 10, "/": 10, "%": 10, "**": 11,
}
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^=", "**="})


@functools.lru_cache(maxsize=1024)
def _tokenize(text: str) -> tuple[str, ...]:
    """Tokens of an expression; cached, since a loop evaluates the same
    texts again and again."""
    toks: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n\r":
            i += 1
            continue
        if c.isdigit():
            j = i
            while j < n and (text[j].isalnum() or text[j] in "#@_"):
                j += 1
            toks.append(text[i:j])
            i = j
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            toks.append(text[i:j])
            i = j
            continue
        for op in (*_OPS3, *_OPS2):
            if text.startswith(op, i):
                toks.append(op)
                i += len(op)
                break
        else:
            if c in _OPS1:
                toks.append(c)
                i += 1
            else:
                raise ArithError(f"{text}: syntax error: invalid arithmetic operator (error token is \"{text[i:]}\")")
    return tuple(toks)


def parse_int(tok: str, expr: str) -> int:
    try:
        if "#" in tok:
            base_s, digits = tok.split("#", 1)
            base = int(base_s)
            if not 2 <= base <= 64:
                raise ArithError(f"{expr}: invalid arithmetic base (error token is \"{tok}\")")
            val = 0
            for ch in digits:
                if ch.isdigit():
                    d = ord(ch) - 48
                elif "a" <= ch <= "z":
                    d = ord(ch) - 87
                elif "A" <= ch <= "Z":
                    d = ord(ch) - 29 if base > 36 else ord(ch) - 55
                elif ch == "@":
                    d = 62
                elif ch == "_":
                    d = 63
                else:
                    d = 99
                if d >= base:
                    raise ValueError
                val = val * base + d
            return _wrap(val)
        if tok.startswith(("0x", "0X")):
            return _wrap(int(tok[2:], 16))
        if len(tok) > 1 and tok.startswith("0"):
            return _wrap(int(tok, 8))
        return _wrap(int(tok, 10))
    except ValueError:
        raise ArithError(f"{expr}: value too great for base (error token is \"{tok}\")") from None


class Evaluator:
    """Pratt parser + evaluator in one pass; `skip` evaluates without side
    effects for the untaken side of && || ?:."""

    def __init__(self, expr: str, get: Callable[[str], str | None], set_: Callable[[str, int], None],
                 depth: int = 0) -> None:
        self.expr = expr
        self.toks = _tokenize(expr)
        self.pos = 0
        self.get = get
        self.set = set_
        self.depth = depth
        self.skip = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        t = self.peek()
        if t is None:
            raise self.syntax("")
        self.pos += 1
        return t

    def syntax(self, tok: str) -> ArithError:
        rest = " ".join(self.toks[self.pos:]) if tok else ""
        return ArithError(f"{self.expr.strip()}: syntax error: operand expected (error token is \"{rest or tok}\")"
                          if not tok else f"{self.expr.strip()}: syntax error in expression (error token is \"{tok}\")")

    def run(self) -> int:
        if not self.toks:
            return 0
        v = self.comma()
        if self.peek() is not None:
            raise ArithError(f"{self.expr.strip()}: syntax error in expression (error token is \"{' '.join(self.toks[self.pos:])}\")")
        return v

    def comma(self) -> int:
        v = self.assign()
        while self.peek() == ",":
            self.pos += 1
            v = self.assign()
        return v

    def var_value(self, name: str) -> int:
        if self.skip:
            return 0
        raw = self.get(name)
        if raw is None or raw.strip() == "":
            return 0
        raw = raw.strip()
        try:
            return parse_int(raw, raw) if raw.lstrip("-").isdigit() or "#" in raw or raw.startswith("0x") else self._recurse(raw)
        except ArithError:
            return self._recurse(raw)

    def _recurse(self, text: str) -> int:
        if self.depth > 64:
            raise ArithError(f"{text}: expression recursion level exceeded")
        return Evaluator(text, self.get, self.set, self.depth + 1).run()

    def assign(self) -> int:
        t = self.peek()
        nxt = self.toks[self.pos + 1] if self.pos + 1 < len(self.toks) else None
        target: str | None = None
        if t is not None and (t[0].isalpha() or t[0] == "_"):
            if nxt == "[":
                close = self._bracket_end(self.pos + 1)
                if close + 1 < len(self.toks) and self.toks[close + 1] in _ASSIGN_OPS:
                    self.pos += 1
                    target = self.element(t)
                    nxt = self.take()
            elif nxt in _ASSIGN_OPS:
                self.pos += 2
                target = t
        if target is None or nxt is None:
            return self.ternary()
        rhs = self.assign()
        val = rhs if nxt == "=" else self.binop(nxt[:-1], self.var_value(target), rhs)
        if not self.skip:
            self.set(target, val)
        return val

    def _bracket_end(self, at: int) -> int:
        """Index of the `]` closing the `[` at token `at` (or len(toks))."""
        depth = 0
        for k in range(at, len(self.toks)):
            if self.toks[k] == "[":
                depth += 1
            elif self.toks[k] == "]":
                depth -= 1
                if depth == 0:
                    return k
        return len(self.toks)

    def element(self, name: str) -> str:
        """At `[` after an array name: evaluate the subscript, return the
        element as `name[index]` for the get/set callbacks."""
        self.pos += 1  # the [
        index = self.comma()
        if self.peek() != "]":
            raise ArithError(f"{self.expr.strip()}: syntax error: missing `]' (error token is \"{self.peek() or ''}\")")
        self.pos += 1
        return f"{name}[{index}]"

    def ternary(self) -> int:
        cond = self.binary(1)
        if self.peek() != "?":
            return cond
        self.pos += 1
        if not cond:
            self.skip += 1
        a = self.assign()
        if not cond:
            self.skip -= 1
        if self.take() != ":":
            raise ArithError(f"{self.expr.strip()}: expected `:' for conditional expression")
        if cond:
            self.skip += 1
        b = self.assign()
        if cond:
            self.skip -= 1
        return a if cond else b

    def binary(self, min_prec: int) -> int:
        left = self.unary()
        while True:
            op = self.peek()
            if op is None or op not in _BINARY or _BINARY[op] < min_prec:
                return left
            prec = _BINARY[op]
            self.pos += 1
            if op in ("&&", "||"):
                short = (op == "&&" and not left) or (op == "||" and left)
                if short:
                    self.skip += 1
                right = self.binary(prec + 1)
                if short:
                    self.skip -= 1
                left = int(bool(left) and bool(right)) if op == "&&" else int(bool(left) or bool(right))
                continue
            right = self.binary(prec if op == "**" else prec + 1)
            left = self.binop(op, left, right)

    def binop(self, op: str, a: int, b: int) -> int:
        if op in ("/", "%") and b == 0:
            if self.skip:
                return 0
            raise ArithError(f"{self.expr.strip()}: division by 0 (error token is \"{b}\")")
        if op == "+":
            return _wrap(a + b)
        if op == "-":
            return _wrap(a - b)
        if op == "*":
            return _wrap(a * b)
        if op == "/":
            q = abs(a) // abs(b)
            return _wrap(q if (a >= 0) == (b >= 0) else -q)
        if op == "%":
            r = abs(a) % abs(b)
            return _wrap(r if a >= 0 else -r)
        if op == "**":
            if b < 0:
                if self.skip:
                    return 0
                raise ArithError(f"{self.expr.strip()}: exponent less than 0")
            return _wrap(pow(a, b, 1 << 64))
        if op == "<<":
            return _wrap(a << (b & 63))
        if op == ">>":
            return _wrap(a >> (b & 63))
        if op == "&":
            return _wrap(a & b)
        if op == "|":
            return _wrap(a | b)
        if op == "^":
            return _wrap(a ^ b)
        return int({"==": a == b, "!=": a != b, "<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op])

    def unary(self) -> int:
        t = self.peek()
        if t in ("+", "-", "!", "~"):
            self.pos += 1
            v = self.unary()
            return {"+": v, "-": _wrap(-v), "!": int(not v), "~": _wrap(~v)}[t]
        if t in ("++", "--"):
            self.pos += 1
            name = self.take()
            if not (name[0].isalpha() or name[0] == "_"):
                raise ArithError(f"{self.expr.strip()}: syntax error: operand expected (error token is \"{name}\")")
            if self.peek() == "[":
                name = self.element(name)
            v = _wrap(self.var_value(name) + (1 if t == "++" else -1))
            if not self.skip:
                self.set(name, v)
            return v
        return self.postfix()

    def postfix(self) -> int:
        t = self.take()
        if t == "(":
            v = self.comma()
            if self.take() != ")":
                raise ArithError(f"{self.expr.strip()}: missing `)'")
            return v
        if t[0].isdigit():
            return parse_int(t, self.expr.strip())
        if t[0].isalpha() or t[0] == "_":
            nxt = self.peek()
            if nxt == "[":
                t = self.element(t)
                nxt = self.peek()
            if nxt in ("++", "--"):
                self.pos += 1
                v = self.var_value(t)
                if not self.skip:
                    self.set(t, _wrap(v + (1 if nxt == "++" else -1)))
                return v
            return self.var_value(t)
        self.pos -= 1
        raise ArithError(f"{self.expr.strip()}: syntax error: operand expected (error token is \"{' '.join(self.toks[self.pos:])}\")")


def evaluate(expr: str, get: Callable[[str], str | None], set_: Callable[[str, int], None]) -> int:
    return Evaluator(expr, get, set_).run()
