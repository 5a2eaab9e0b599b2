"""In-process unit tests of arithmetic, patterns, brace expansion and IFS
splitting — the engine's pure pieces."""

from __future__ import annotations

import pytest

from onesh.engine import arith, pattern
from onesh.engine.braces import brace_expand
from onesh.engine.expand import ifs_split
from onesh.errors import ExpansionError
from onesh.parser import ast as A
from onesh.parser import parse


def ev(expr: str, env: dict[str, str] | None = None) -> int:
    vars_ = dict(env or {})

    def get(n: str) -> str | None:
        return vars_.get(n)

    def set_(n: str, v: int) -> None:
        vars_[n] = str(v)

    return arith.evaluate(expr, get, set_)


@pytest.mark.parametrize(("expr", "want"), [
    ("1+2*3", 7), ("(1+2)*3", 9), ("2**3**2", 512), ("-7/2", -3), ("-7%3", -1), ("7%-3", 1),
    ("1<<62", 1 << 62), ("9223372036854775807+1", -9223372036854775808), ("~0", -1),
    ("0x1F + 010 + 2#11", 31 + 8 + 3), ("5>3 && 2>1", 1), ("0 || 0", 0), ("!0", 1),
    ("1 ? 2 : 3", 2), ("0 ? 2 : 1 ? 4 : 5", 4), ("x=4, x*x", 16), ("y", 7), ("z+1", 1),
    ("64#_", 63), ("3 == 3 != 0", 1), ("", 0),
])
def test_arith(expr: str, want: int) -> None:
    assert ev(expr, {"y": "7"}) == want


def test_arith_increments_and_recursion() -> None:
    env = {"i": "5", "e": "i*2"}
    assert ev("i++ + ++i", env) == 12
    assert ev("e + 1", {"i": "3", "e": "i*2"}) == 7


@pytest.mark.parametrize("expr", ["1/0", "5%0", "1 +", "(1", "2 ** -1", "08", "1 @ 2"])
def test_arith_errors(expr: str) -> None:
    with pytest.raises(ExpansionError):
        ev(expr)


def test_short_circuit_skips_division_by_zero() -> None:
    assert ev("0 && 1/0") == 0
    assert ev("1 || 1/0") == 1


def test_compiled_syntax_error_runs_what_came_before_each_time() -> None:
    """A broken expression is compiled (and cached) once, yet every run
    repeats what one-pass evaluation did before the error."""
    vars_: dict[str, str] = {"x": "1"}
    env = arith.Env(vars_.get, vars_.__setitem__)
    for want in ("2", "3"):
        with pytest.raises(ExpansionError, match="operand expected"):
            arith.run("x++, 3 +", env)
        assert vars_["x"] == want


def test_int_memo_follows_the_variable() -> None:
    vars_: dict[str, str] = {"i": "7", "e": "i*2"}
    env = arith.Env(vars_.get, vars_.__setitem__)
    assert arith.run("i++ < 8", env) == 1
    assert arith.run("i < 8", env) == 0
    vars_["i"] = "010"  # octal: the memo keys the text, not the digits' decimal value
    assert arith.run("i + e", env) == 8 + 16
    vars_["i"] = " 3 "
    assert arith.run("i", env) == 3


@pytest.mark.parametrize(("pat", "text", "ok"), [
    ("*.c", "a.c", True), ("*.c", "a.h", False), ("?", "ab", False), ("[abc]x", "bx", True),
    ("[!abc]x", "bx", False), ("[^a]", "b", True), ("[[:digit:]]*", "9lives", True),
    ("\\*", "*", True), ("\\*", "a", False), ("a[]]b", "a]b", True), ("[a-c]", "d", False),
])
def test_patterns(pat: str, text: str, ok: bool) -> None:
    assert pattern.match(pat, text) is ok


def test_affix_removal_and_substitution() -> None:
    assert pattern.remove_affix("a/b/c", "*/", "#") == "b/c"
    assert pattern.remove_affix("a/b/c", "*/", "##") == "c"
    assert pattern.remove_affix("x.tar.gz", ".*", "%") == "x.tar"
    assert pattern.remove_affix("x.tar.gz", ".*", "%%") == "x"
    assert pattern.substitute("aXbXc", "X", "-", "//") == "a-b-c"
    assert pattern.substitute("aXbXc", "X", "-", "/") == "a-bXc"


def _brace(src: str) -> list[str]:
    w = parse("echo " + src).body.items[0].command.first.commands[0].words[1]  # type: ignore[union-attr]
    out = []
    for bw in brace_expand(w):
        out.append("".join(p.text for p in bw.parts if isinstance(p, A.Lit)))
    return out


@pytest.mark.parametrize(("src", "want"), [
    ("a{b,c}d", ["abd", "acd"]), ("{1..3}", ["1", "2", "3"]), ("{3..1}", ["3", "2", "1"]),
    ("{a..c}", ["a", "b", "c"]), ("{01..03}", ["01", "02", "03"]), ("{1..7..3}", ["1", "4", "7"]),
    ("{a,b{1,2}}", ["a", "b1", "b2"]), ("{x}", ["{x}"]), ("{,y}", ["", "y"]),
])
def test_brace_expansion(src: str, want: list[str]) -> None:
    assert _brace(src) == want


@pytest.mark.parametrize(("value", "ifs", "want"), [
    ("a b  c", " \t\n", (["a", "b", "c"], False, False)),
    ("  a ", " \t\n", (["a"], True, True)),
    ("a:b::c", ":", (["a", "b", "", "c"], False, False)),
    ("a:", ":", (["a"], False, True)),
    (" a : b ", " :", (["a", "b"], True, True)),
    ("abc", "", (["abc"], False, False)),
    ("", " ", ([], False, False)),
])
def test_ifs_split(value: str, ifs: str, want: tuple[list[str], bool, bool]) -> None:
    assert ifs_split(value, ifs) == want
