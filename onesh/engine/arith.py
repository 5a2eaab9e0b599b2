"""Shell arithmetic: `$((..))`, `((..))`, `let`-style evaluation.

The expression text arrives already parameter-expanded (bash expands `$x`
inside `$((..))` first); bare names are looked up here and evaluated
recursively, like bash.  Integers are 64-bit and wrap.

An expression is compiled once into nested closures (`compile_expr`, cached
by its text) and run many times: a loop's `i < n`, `i++` and `x + i` cost a
few closure calls, not a parse.  Closures of the common shapes (a variable
against a constant or another variable, `name++`, `name = ...`) read the
variable themselves; a variable holding a plain integer is converted
through a memo of decimal texts (`Env.ints`) instead of being re-parsed.

bash parses and evaluates in one pass, so what an expression with a syntax
error did before the error still happens (`x=5, )` assigns x, then fails).
The compiler keeps that: a syntax error compiles into code that runs what
came before it, in order and with the same short-circuits, then raises.
"""

from __future__ import annotations

import functools
import operator

from onesh.errors import ExpansionError

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable

    Code = Callable[["Env"], int]

_MASK = (1 << 64) - 1
_MIN, _MAX = -(1 << 63), (1 << 63) - 1
# How many decimal texts Env.ints remembers before it starts again.
_MEMO_SIZE = 4096
# Nesting of variables whose values are expressions (`a=b`, `b=a`).
_MAX_DEPTH = 64


def _wrap(v: int) -> int:
    if _MIN <= v <= _MAX:
        return v
    v &= _MASK
    return v - (1 << 64) if v >> 63 else v


class ArithError(ExpansionError):
    pass


class Env:
    """What arithmetic reads and writes: `get(name)` is a variable's text
    (None when unset), `put(name, text)` assigns it; a name may be an
    element, `a[3]` (the index already evaluated).  `ints` remembers which
    integer a decimal text is, so a loop counter is not parsed on every
    read."""

    __slots__ = ("depth", "get", "ints", "put")

    def __init__(self, get: Callable[[str], str | None], put: Callable[[str, str], None]) -> None:
        self.get = get
        self.put = put
        self.depth = 0
        self.ints: dict[str, int] = {}


def run(text: str, env: Env) -> int:
    """Evaluate an expression's text."""
    return compile_expr(text)(env)


def evaluate(text: str, get: Callable[[str], str | None], set_: Callable[[str, int], None]) -> int:
    """Evaluate with plain callbacks (a fresh Env, so no memo to share)."""
    return run(text, Env(get, lambda name, value: set_(name, int(value))))


# ------------------------------------------------------------------ tokens
_OPS3 = ("<<=", ">>=")  # no `**=`: bash has none (`x **= 2` is a syntax error there)
_OPS2 = ("**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "++", "--",
         "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=")
_OPS1 = "+-*/%<>&|^!~?:=(),[]"

# binary operator precedence (higher binds tighter)
_BINARY: dict[str, int] = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6,
    "<": 7, ">": 7, "<=": 7, ">=": 7, "<<": 8, ">>": 8,
    "+": 9, "-": 9, "*": 10, "/": 10, "%": 10, "**": 11,
}
_ASSIGN_OPS = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "<<=", ">>=", "&=", "|=", "^="})


# The token standing for a character that is no operator (`@`): the last one.
_BAD = "\0"


def _is_name(tok: str) -> bool:
    return tok[0].isalpha() or tok[0] == "_"


def _tokenize(text: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Tokens of an expression and where each starts in `text` (error
    messages quote the text from a token on, as bash does)."""
    toks: list[str] = []
    starts: list[int] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in " \t\n\r":
            i += 1
            continue
        starts.append(i)
        if "0" <= c <= "9":
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
                if op in ("++", "--") and not _step_op(toks, text, i + 2):
                    op = c  # `5--3`, `--5`: two signs, as bash reads them
                toks.append(op)
                i += len(op)
                break
        else:
            if c not in _OPS1:
                # bash reads as it goes: what comes before still runs
                toks.append(_BAD)
                break
            toks.append(c)
            i += 1
    return tuple(toks), tuple(starts)


def _step_op(toks: list[str], text: str, after: int) -> bool:
    """Whether `++`/`--` is an increment (bash's rule): after a variable or
    element it is `x++`; otherwise only when a name follows (`++x`)."""
    if toks and (_is_name(toks[-1]) or toks[-1] == "]"):
        return True
    if toks and "0" <= toks[-1][0] <= "9":
        return False
    rest = text[after:].lstrip()
    return bool(rest) and _is_name(rest)


def parse_int(tok: str, expr: str) -> int:
    try:
        if "#" in tok:
            base_s, digits = tok.split("#", 1)
            base = int(base_s)
            if not 2 <= base <= 64:
                raise ArithError(f"{expr}: invalid arithmetic base (error token is \"{tok}\")")
            val = 0
            for ch in digits:
                if "0" <= ch <= "9":
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
        if not tok.isascii() or "_" in tok:
            raise ValueError  # Python's int() takes `1_000` and other scripts' digits; bash does not
        if tok.startswith(("0x", "0X")):
            return _wrap(int(tok[2:], 16))
        if len(tok) > 1 and tok.startswith("0"):
            return _wrap(int(tok, 8))
        return _wrap(int(tok, 10))
    except ValueError:
        raise ArithError(f"{expr}: value too great for base (error token is \"{tok}\")") from None


# ------------------------------------------------------- variables at run time
def _value(raw: str | None, env: Env) -> int:
    """A variable's text as a number: empty is 0, an integer literal is
    itself, anything else is evaluated as an expression (bash)."""
    if raw is None:
        return 0
    text = raw.strip()
    if not text:
        return 0
    if (text.isascii() and text.isdigit()) or "#" in text or text.startswith("0x"):
        try:
            v = parse_int(text, text)
        except ArithError:
            pass  # `08`, `2#9`: the expression's own error says why
        else:
            _remember(env.ints, raw, v)  # a literal's value depends on nothing else
            return v
    if env.depth > _MAX_DEPTH:
        raise ArithError(f"{text}: expression recursion level exceeded (error token is \"{text}\")")
    env.depth += 1
    try:
        return compile_expr(text)(env)
    finally:
        env.depth -= 1


def _remember(ints: dict[str, int], text: str, v: int) -> None:
    if len(ints) >= _MEMO_SIZE:
        ints.clear()
    ints[text] = v


def _read(env: Env, name: str) -> int:
    raw = env.get(name)
    v = env.ints.get(raw or "")
    return _value(raw, env) if v is None else v


def _store(env: Env, name: str, v: int) -> None:
    text = str(v)
    _remember(env.ints, text, v)
    env.put(name, text)


# ----------------------------------------------------------- operators
# These never fail and stay within 64 bits apart from + - *, which wrap.
_COMPARE: dict[str, Callable[[int, int], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
_PLAIN: dict[str, Callable[[int, int], int]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul,
    "&": operator.and_, "|": operator.or_, "^": operator.xor,
}


def _binop(op: str, a: int, b: int, expr: str, token: str) -> int:
    """Any binary operator but && and || (which short-circuit); `token` is
    the text bash quotes when it fails: from the right operand's last token."""
    f = _PLAIN.get(op)
    if f is not None:
        return _wrap(f(a, b))
    cmp = _COMPARE.get(op)
    if cmp is not None:
        return 1 if cmp(a, b) else 0
    if op in ("/", "%"):
        if b == 0:
            raise ArithError(f"{expr}: division by 0 (error token is \"{token}\")")
        if op == "/":
            q = abs(a) // abs(b)
            return _wrap(q if (a >= 0) == (b >= 0) else -q)
        r = abs(a) % abs(b)
        return _wrap(r if a >= 0 else -r)
    if op == "**":
        if b < 0:
            raise ArithError(f"{expr}: exponent less than 0 (error token is \"{token}\")")
        return _wrap(pow(a, b, 1 << 64))
    if op == "<<":
        return _wrap(a << (b & 63))
    assert op == ">>"
    return _wrap(a >> (b & 63))


def _unop(op: str, v: int) -> int:
    if op == "-":
        return _wrap(-v)
    if op == "!":
        return 0 if v else 1
    if op == "~":
        return ~v
    return v


# --------------------------------------------------------------- compiling
class _Node:
    """A compiled subexpression; `const` / `var` say what it is when it is
    a constant or a plain variable, so the operator around it can read it
    itself."""

    __slots__ = ("const", "run", "var")

    def __init__(self, run: Code, const: int | None = None, var: str | None = None) -> None:
        self.run = run
        self.const = const
        self.var = var


class _Broken(Exception):
    """A syntax error met while compiling: `before` runs what one-pass
    evaluation would have run before reaching it."""

    def __init__(self, before: Code | None, message: str) -> None:
        self.before = before
        self.message = message


def _then(first: Code, after: Code | None, when: Callable[[int], bool] | None = None) -> Code:
    """`first`, then `after` (when `when` allows it, given first's value)."""
    def both(env: Env) -> int:
        v = first(env)
        if after is not None and (when is None or when(v)):
            after(env)
        return v

    return both


def _sequence(first: Code, second: Code) -> Code:
    def seq(env: Env) -> int:
        first(env)
        return second(env)

    return seq


def _failing(before: Code | None, message: str) -> Code:
    def fail(env: Env) -> int:
        if before is not None:
            before(env)
        raise ArithError(message)  # a new one each time: callers add a span

    return fail


def _const(v: int) -> _Node:
    return _Node(lambda env: v, const=v)


def _var(name: str) -> _Node:
    def read(env: Env) -> int:
        raw = env.get(name)
        v = env.ints.get(raw or "")
        return _value(raw, env) if v is None else v

    return _Node(read, var=name)


def _truthy(v: int) -> bool:
    return v != 0


def _falsy(v: int) -> bool:
    return v == 0


@functools.lru_cache(maxsize=1024)
def compile_expr(text: str) -> Code:
    """The expression as one closure over an Env (cached by text)."""
    toks, starts = _tokenize(text)
    if not toks:
        return lambda env: 0
    p = _Compiler(text, toks, starts)
    try:
        node = p.comma()
        if p.pos < len(toks):
            raise _Broken(node.run, p.unexpected())
    except _Broken as b:
        return _failing(b.before, b.message)
    return node.run


class _Compiler:
    """Pratt parser producing closures; the grammar, the order of side
    effects and the error messages follow bash's one-pass evaluator."""

    def __init__(self, text: str, toks: tuple[str, ...], starts: tuple[int, ...]) -> None:
        self.text = text
        self.expr = text.strip()
        self.toks = toks
        self.starts = starts
        self.pos = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    # ------------------------------------------------------------ errors
    def quote(self, at: int) -> str:
        """The text from token `at` on: what bash quotes as the error token."""
        return self.text[self.starts[at]:].rstrip() if 0 <= at < len(self.toks) else ""

    def error(self, what: str, token: str | None = None) -> str:
        """A message quoting, as bash does, the text from the current token
        on, or from the last token when the expression has ended."""
        if token is None:
            token = self.quote(self.pos if self.pos < len(self.toks) else self.pos - 1)
        return f"{self.expr}: {what} (error token is \"{token}\")"

    def unexpected(self) -> str:
        """A token where an operator or the end should be."""
        t = self.toks[self.pos]
        if t == _BAD:
            return self.error("syntax error: invalid arithmetic operator")
        if t in _ASSIGN_OPS:
            return self.error("attempted assignment to non-variable")
        return self.error("syntax error in expression")

    # ------------------------------------------------------------ grammar
    def comma(self) -> _Node:
        node = self.assign()
        while self.peek() == ",":
            self.pos += 1
            try:
                nxt = self.assign()
            except _Broken as b:
                raise _Broken(_then(node.run, b.before), b.message) from None
            node = _Node(_sequence(node.run, nxt.run))
        return node

    def assign(self) -> _Node:
        t = self.peek()
        if t is not None and _is_name(t):
            nxt = self.toks[self.pos + 1] if self.pos + 1 < len(self.toks) else None
            if nxt in _ASSIGN_OPS:
                assert nxt is not None
                self.pos += 2
                return self._assign_var(t, nxt)
            if nxt == "[":
                close = self._bracket_end(self.pos + 1)
                if close + 1 < len(self.toks) and self.toks[close + 1] in _ASSIGN_OPS:
                    self.pos += 1
                    return self._assign_element(t)
        node = self.ternary()
        if self.peek() in _ASSIGN_OPS:  # `3 = 4`, `0 && y = 5`
            raise _Broken(node.run, self.error("attempted assignment to non-variable"))
        return node

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

    def element(self) -> _Node:
        """At `[` after an array name: the subscript, up to its `]`."""
        if self._bracket_end(self.pos) == len(self.toks):
            # bash looks for the `]` before it evaluates the subscript
            raise _Broken(None, self.error("bad array subscript", self.quote(self.pos - 1)))
        self.pos += 1  # the [
        first = self.pos
        index = self.comma()
        if self.peek() != "]":
            # bash evaluates the subscript as an expression of its own
            close = self.starts[self._bracket_end(first - 1)]
            sub, rest = (self.text[self.starts[k]:close].strip() for k in (first, self.pos))
            raise _Broken(index.run, f"{sub}: syntax error in expression (error token is \"{rest}\")")
        self.pos += 1
        return index

    def ternary(self) -> _Node:
        cond = self.binary(1)
        if self.peek() != "?":
            return cond
        self.pos += 1
        c = cond.run
        if self.peek() in (None, ":"):
            raise _Broken(c, self.error("expression expected"))
        try:
            yes = self.comma()  # bash: any expression up to the `:`
        except _Broken as b:
            raise _Broken(_then(c, b.before, _truthy), b.message) from None
        a = yes.run

        def cond_then_yes(env: Env) -> int:
            return a(env) if c(env) else 0

        if self.peek() != ":":
            raise _Broken(cond_then_yes, self.error("`:' expected for conditional expression"))
        self.pos += 1
        if self.peek() is None:
            raise _Broken(cond_then_yes, self.error("expression expected"))
        try:
            no = self.ternary()  # bash: no assignment here (`0 ? 1 : x = 2` fails)
        except _Broken as b:
            after = b.before

            def before(env: Env) -> int:
                if c(env):
                    a(env)
                elif after is not None:
                    after(env)
                return 0

            raise _Broken(before, b.message) from None
        n = no.run

        def choose(env: Env) -> int:
            return a(env) if c(env) else n(env)

        return _Node(choose)

    def binary(self, min_prec: int) -> _Node:
        left = self.unary()
        while True:
            op = self.peek()
            if op is None or op not in _BINARY or _BINARY[op] < min_prec:
                return left
            prec = _BINARY[op]
            self.pos += 1
            try:
                right = self.binary(prec if op == "**" else prec + 1)
            except _Broken as b:
                when = _truthy if op == "&&" else _falsy if op == "||" else None
                raise _Broken(_then(left.run, b.before, when), b.message) from None
            token = self.quote(self.pos - 1)
            if op == "**" and right.const is not None and right.const < 0:
                # bash fails here even where it is not evaluating (`0 && 2 ** -1`)
                raise _Broken(left.run, f"{self.expr}: exponent less than 0 (error token is \"{token}\")")
            left = self._binary_node(op, left, right, token)

    def unary(self) -> _Node:
        t = self.peek()
        if t in ("+", "-", "!", "~"):
            assert t is not None
            self.pos += 1
            operand = self.unary()
            if operand.const is not None:
                return _const(_unop(t, operand.const))
            f = operand.run
            if t == "-":
                return _Node(lambda env: _wrap(-f(env)))
            if t == "!":
                return _Node(lambda env: 0 if f(env) else 1)
            if t == "~":
                return _Node(lambda env: ~f(env))
            return operand
        if t in ("++", "--"):
            self.pos += 1
            name = self.peek()
            if name is None or not _is_name(name):  # the tokenizer makes these signs
                raise _Broken(None, self.error("syntax error: operand expected"))
            self.pos += 1
            index = self.element() if self.peek() == "[" else None
            return self._step(name, index, 1 if t == "++" else -1, prefix=True)
        return self.postfix()

    def postfix(self) -> _Node:
        t = self.peek()
        if t == "(":
            self.pos += 1
            inner = self.comma()
            if self.peek() != ")":
                raise _Broken(inner.run, self.error("missing `)'"))
            self.pos += 1
            return inner
        if t is not None and "0" <= t[0] <= "9":
            self.pos += 1
            try:
                return _const(parse_int(t, self.expr))
            except ArithError as e:
                raise _Broken(None, e.message) from None
        if t is not None and _is_name(t):
            self.pos += 1
            index = self.element() if self.peek() == "[" else None
            nxt = self.peek()
            if nxt in ("++", "--"):
                self.pos += 1
                return self._step(t, index, 1 if nxt == "++" else -1, prefix=False)
            if index is None:
                return _var(t)
            name, at = t, index.run

            def read_element(env: Env) -> int:
                return _read(env, f"{name}[{at(env)}]")

            return _Node(read_element)
        raise _Broken(None, self.error("syntax error: operand expected"))

    # ------------------------------------------------------------- nodes
    def _binary_node(self, op: str, left: _Node, right: _Node, token: str) -> _Node:
        lf, rf, expr = left.run, right.run, self.expr
        if op == "&&":
            return _Node(lambda env: 1 if lf(env) and rf(env) else 0)
        if op == "||":
            return _Node(lambda env: 1 if lf(env) or rf(env) else 0)
        if left.const is not None and right.const is not None:
            try:
                return _const(_binop(op, left.const, right.const, expr, token))
            except ArithError:
                pass  # `1/0` fails when (if ever) it is evaluated
        cmp, plain = _COMPARE.get(op), _PLAIN.get(op)
        if cmp is not None:
            return _Node(_compare(cmp, left, right))
        if plain is not None:
            return _Node(_plain(plain, left, right))

        def other(env: Env) -> int:
            a = lf(env)
            return _binop(op, a, rf(env), expr, token)

        return _Node(other)

    def _assign_var(self, name: str, op: str) -> _Node:
        """After `name op`: the right side, then the assignment."""
        expr = self.expr
        if op == "=":
            value = self.assign().run  # a syntax error there: nothing assigned

            def assign(env: Env) -> int:
                v = value(env)
                _store(env, name, v)
                return v

            return _Node(assign)

        def read(env: Env) -> int:
            return _read(env, name)

        try:
            rhs = self.assign()
        except _Broken as b:
            raise _Broken(_then(read, b.before), b.message) from None
        value, binop, token = rhs.run, op[:-1], self.quote(self.pos - 1)
        plain = _PLAIN.get(binop)
        if plain is not None:
            def update_plain(env: Env) -> int:
                raw = env.get(name)  # bash reads the variable before the right side
                old = env.ints.get(raw or "")
                if old is None:
                    old = _value(raw, env)
                v = plain(old, value(env))
                if not _MIN <= v <= _MAX:
                    v = _wrap(v)
                _store(env, name, v)
                return v

            return _Node(update_plain)

        def update(env: Env) -> int:
            old = _read(env, name)
            v = _binop(binop, old, value(env), expr, token)
            _store(env, name, v)
            return v

        return _Node(update)

    def _assign_element(self, base: str) -> _Node:
        """At the `[` of `base[index] op value`."""
        index = self.element()
        op = self.toks[self.pos]  # assign() saw an assignment operator after the `]`
        self.pos += 1
        at, expr = index.run, self.expr
        if op == "=":
            value = self.assign().run  # a syntax error there: the subscript is not evaluated

            def assign(env: Env) -> int:
                v = value(env)  # bash evaluates the value first, then the subscript
                _store(env, f"{base}[{at(env)}]", v)
                return v

            return _Node(assign)

        def read(env: Env) -> int:
            return _read(env, f"{base}[{at(env)}]")

        try:
            rhs = self.assign()
        except _Broken as b:
            raise _Broken(_then(read, b.before), b.message) from None
        value, binop, token = rhs.run, op[:-1], self.quote(self.pos - 1)

        def update(env: Env) -> int:
            name = f"{base}[{at(env)}]"  # the subscript, then the old value, then the right side
            old = _read(env, name)
            v = _binop(binop, old, value(env), expr, token)
            _store(env, name, v)
            return v

        return _Node(update)

    def _step(self, base: str, index: _Node | None, by: int, *, prefix: bool) -> _Node:
        """`++name`, `name--`, `a[i]++` ..."""
        if index is None and not prefix:
            def post_var(env: Env) -> int:
                raw = env.get(base)
                v = env.ints.get(raw or "")
                if v is None:
                    v = _value(raw, env)
                _store(env, base, _wrap(v + by))
                return v

            return _Node(post_var)
        at = index.run if index is not None else None

        def step(env: Env) -> int:
            name = base if at is None else f"{base}[{at(env)}]"
            old = _read(env, name)
            new = _wrap(old + by)
            _store(env, name, new)
            return new if prefix else old

        return _Node(step)


def _compare(f: Callable[[int, int], bool], left: _Node, right: _Node) -> Code:
    """A comparison, reading a plain variable operand itself."""
    if left.var is not None and right.const is not None:
        name, c = left.var, right.const

        def var_const(env: Env) -> int:
            raw = env.get(name)
            a = env.ints.get(raw or "")
            if a is None:
                a = _value(raw, env)
            return 1 if f(a, c) else 0

        return var_const
    if left.var is not None and right.var is not None:
        lname, rname = left.var, right.var

        def var_var(env: Env) -> int:
            raw = env.get(lname)
            a = env.ints.get(raw or "")
            if a is None:
                a = _value(raw, env)
            return 1 if f(a, _read(env, rname)) else 0

        return var_var
    lf, rf = left.run, right.run

    def general(env: Env) -> int:
        a = lf(env)
        return 1 if f(a, rf(env)) else 0

    return general


def _plain(f: Callable[[int, int], int], left: _Node, right: _Node) -> Code:
    """+ - * & | ^, reading a plain variable operand itself."""
    if left.var is not None and right.const is not None:
        name, c = left.var, right.const

        def var_const(env: Env) -> int:
            raw = env.get(name)
            a = env.ints.get(raw or "")
            if a is None:
                a = _value(raw, env)
            v = f(a, c)
            return v if _MIN <= v <= _MAX else _wrap(v)

        return var_const
    if left.var is not None and right.var is not None:
        lname, rname = left.var, right.var

        def var_var(env: Env) -> int:
            raw = env.get(lname)
            a = env.ints.get(raw or "")
            if a is None:
                a = _value(raw, env)
            v = f(a, _read(env, rname))
            return v if _MIN <= v <= _MAX else _wrap(v)

        return var_var
    lf, rf = left.run, right.run

    def general(env: Env) -> int:
        a = lf(env)
        v = f(a, rf(env))
        return v if _MIN <= v <= _MAX else _wrap(v)

    return general
