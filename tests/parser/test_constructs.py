"""Parser: table-driven tree checks for the constructs test_parser.py does
not pin down (ANSI-C decoding, tildes, special parameters, case terminators,
pipeline flags, aliases through iter_commands, here-doc bodies)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onesh.errors import ParseError, Span, format_error
from onesh.parser import ast as A
from onesh.parser import check, iter_commands, parse
from onesh.record import Record, values


def cmd(src: str, aliases: dict[str, str] | None = None) -> A.Command:
    return parse(src, aliases=aliases).body.items[0].command.first.commands[0]


def words(src: str, aliases: dict[str, str] | None = None) -> list[A.Word]:
    c = cmd(src, aliases)
    assert isinstance(c, A.SimpleCommand)
    return list(c.words)


def lit(w: A.Word) -> str:
    """The literal text of a word made only of Lit parts."""
    assert all(isinstance(p, A.Lit) for p in w.parts), w
    return "".join(p.text for p in w.parts if isinstance(p, A.Lit))


def part(src: str) -> A.WordPart:
    w = words(src)[1]
    assert len(w.parts) == 1, w
    return w.parts[0]


@pytest.mark.parametrize(("src", "decoded"), [
    (r"$'a\nb'", "a\nb"), (r"$'\t'", "\t"), (r"$'\\'", "\\"), (r"$'\''", "'"),
    (r"$'\"'", '"'), (r"$'\a\b\e\f\r\v'", "\a\b\x1b\f\r\v"), (r"$'\101'", "A"), (r"$'\0101'", "\b1"),
    (r"$'\x41\x4a'", "AJ"), (r"$'\u00e9'", "\u00e9"), (r"$'plain'", "plain"),
])
def test_ansi_c_quotes_are_decoded(src: str, decoded: str) -> None:
    p = part("echo " + src)
    assert isinstance(p, A.AnsiCQuoted) and p.text == decoded


@pytest.mark.parametrize(("src", "name"), [
    ("$@", "@"), ("$*", "*"), ("$#", "#"), ("$?", "?"), ("$-", "-"), ("$$", "$"),
    ("$!", "!"), ("$0", "0"), ("$1", "1"), ("${10}", "10"), ("$10", "1"),
])
def test_special_parameters(src: str, name: str) -> None:
    p = words("echo " + src)[1].parts[0]
    assert isinstance(p, A.Param) and p.name == name


@pytest.mark.parametrize(("src", "op", "arg"), [
    ("${x-d}", "-", "d"), ("${x=d}", "=", "d"), ("${x?m}", "?", "m"), ("${x+a}", "+", "a"),
    ("${x:-d}", ":-", "d"), ("${x:=d}", ":=", "d"), ("${x:?m}", ":?", "m"), ("${x:+a}", ":+", "a"),
    ("${x%p}", "%", "p"), ("${x%%p}", "%%", "p"), ("${x#p}", "#", "p"), ("${x##p}", "##", "p"),
    ("${x/p/r}", "/", "p"), ("${x//p/r}", "//", "p"),
])
def test_parameter_operators_and_arguments(src: str, op: str, arg: str) -> None:
    p = part("echo " + src)
    assert isinstance(p, A.Param) and p.name == "x" and p.op == op and p.braced
    assert p.arg is not None and lit(p.arg) == arg


def test_case_conversion_substring_and_replacement() -> None:
    up = part("echo ${x^^}")
    low = part("echo ${x,,}")
    assert isinstance(up, A.Param) and up.op == "^^"
    assert isinstance(low, A.Param) and low.op == ",,"
    sub = part("echo ${x:1:2}")
    assert isinstance(sub, A.Param) and sub.op == ":"
    assert sub.arg is not None and sub.arg2 is not None
    assert lit(sub.arg) == "1" and lit(sub.arg2) == "2"
    rep = part("echo ${x//a/b}")
    assert isinstance(rep, A.Param) and rep.arg2 is not None and lit(rep.arg2) == "b"


def test_array_length_and_all_elements() -> None:
    n = part("echo ${#a[@]}")
    assert isinstance(n, A.Param) and n.length and n.index is not None and lit(n.index) == "@"
    e = part("echo ${a[i+1]}")
    assert isinstance(e, A.Param) and e.index is not None and lit(e.index) == "i+1"


@pytest.mark.parametrize(("src", "users"), [
    ("echo ~", [""]), ("echo ~bob/x", ["bob"]), ("echo a~", []), ("echo '~'", []),
])
def test_tilde_only_at_word_start(src: str, users: list[str]) -> None:
    w = words(src)[1]
    assert [p.user for p in w.parts if isinstance(p, A.Tilde)] == users


def test_tilde_after_colon_and_equals_in_assignments() -> None:
    c = cmd("PATH=~/bin:~al/x:y true")
    assert isinstance(c, A.SimpleCommand) and c.assigns[0].value is not None
    tildes = [p.user for p in c.assigns[0].value.parts if isinstance(p, A.Tilde)]
    assert tildes == ["", "al"]


def test_assignment_forms() -> None:
    c = cmd("a=(1 'two' 3) b[2]=x c+=y d= true")
    assert isinstance(c, A.SimpleCommand)
    a, b, cc, d = c.assigns
    assert a.array is not None and len(a.array) == 3
    assert b.index is not None and lit(b.index) == "2"
    assert cc.append and not a.append
    assert d.value is None or d.value.parts == ()
    assert lit(c.words[0]) == "true"


def test_assignment_after_command_name_is_a_word() -> None:
    c = cmd("echo a=b")
    assert isinstance(c, A.SimpleCommand) and not c.assigns and len(c.words) == 2


def test_cmdsub_with_case_pattern_parens_and_quotes() -> None:
    w = words("echo $(case x in x) echo ')';; esac; echo \"(\")")[1]
    sub = w.parts[0]
    assert isinstance(sub, A.CmdSub) and not sub.backtick
    assert len(sub.body.body.items) == 2
    assert isinstance(sub.body.body.items[0].command.first.commands[0], A.Case)


def test_backticks_and_nested_cmdsub_spans_point_into_outer_text() -> None:
    src = "echo `echo hi` $(echo $(echo deep))"
    w1, w2 = words(src)[1:]
    bt = w1.parts[0]
    assert isinstance(bt, A.CmdSub) and bt.backtick
    inner = bt.body.body.items[0].command.first.commands[0]
    assert isinstance(inner, A.SimpleCommand)
    assert src[inner.words[1].span.start:inner.words[1].span.end] == "hi"
    outer = w2.parts[0]
    assert isinstance(outer, A.CmdSub)
    assert src[outer.span.start:outer.span.end] == "$(echo $(echo deep))"


def test_arith_sub_and_arith_commands() -> None:
    a = part("echo $((1 + $x * (2+3)))")
    assert isinstance(a, A.ArithSub)
    assert any(isinstance(p, A.Param) and p.name == "x" for p in a.expr.parts)
    assert isinstance(cmd("((x++))"), A.ArithCommand)
    f = cmd("for ((i=0; i<3; i++)); do :; done")
    assert isinstance(f, A.ArithFor) and f.init is not None and f.step is not None


def test_pipeline_flags() -> None:
    p = parse("! time a | b |& c").body.items[0].command.first
    assert p.negated and p.timed and len(p.commands) == 3
    assert list(p.stderr_too) == [False, True]


def test_background_and_and_or() -> None:
    items = parse("a && b || c & d").body.items
    assert items[0].background and not items[1].background
    assert [op for op, _ in items[0].command.rest] == ["&&", "||"]


@pytest.mark.parametrize(("src", "op", "fd", "target"), [
    ("a >| f", ">|", None, "f"), ("a <> f", "<>", None, "f"), ("a &>> f", "&>>", None, "f"),
    ("a <&3", "<&", None, "3"), ("a 3>&-", ">&", 3, "-"), ("a <<< w", "<<<", None, "w"),
    ("a 2>>f", ">>", 2, "f"), ("a >&2", ">&", None, "2"),
])
def test_more_redirections(src: str, op: str, fd: int | None, target: str) -> None:
    c = cmd(src)
    assert isinstance(c, A.SimpleCommand) and len(c.redirs) == 1
    r = c.redirs[0]
    assert (r.op, r.fd, lit(r.target)) == (op, fd, target)


def test_quoted_heredoc_delimiters_keep_body_literal() -> None:
    for delim in ("'E'", '"E"', "\\E"):
        c = cmd(f"cat <<{delim}\n$x `y`\nE\n")
        assert isinstance(c, A.SimpleCommand)
        hd = c.redirs[0].heredoc
        assert hd is not None and hd.quoted and hd.delimiter == "E"
        assert "".join(p.text for p in hd.body.parts if isinstance(p, A.Lit)) == "$x `y`\n"


def test_unquoted_heredoc_expands_and_next_line_follows_body() -> None:
    prog = parse("cat <<E; echo after1\n$x\nE\necho after2\n")
    assert len(prog.body.items) == 3
    c = prog.body.items[0].command.first.commands[0]
    assert isinstance(c, A.SimpleCommand)
    hd = c.redirs[0].heredoc
    assert hd is not None and not hd.quoted
    assert any(isinstance(p, A.Param) for p in hd.body.parts)


def test_case_terminators_and_leading_paren() -> None:
    c = cmd("case $x in (a|b) one;; c) two;& d) three;;& *) four\nesac")
    assert isinstance(c, A.Case)
    assert [len(a.patterns) for a in c.arms] == [2, 1, 1, 1]
    assert [a.terminator for a in c.arms] == [";;", ";&", ";;&", ";;"]


def test_if_elif_else_and_until() -> None:
    c = cmd("if a; then b; elif c; then d; else e; fi")
    assert isinstance(c, A.If) and len(c.clauses) == 2 and c.else_body is not None
    u = cmd("until a; do b; done")
    assert isinstance(u, A.While) and u.until


def test_for_without_in_iterates_positionals() -> None:
    f = cmd("for x; do echo; done")
    assert isinstance(f, A.For) and f.words is None and f.var == "x"
    g = cmd("for x in; do echo; done")
    assert isinstance(g, A.For) and g.words == ()


def test_cond_command_words() -> None:
    c = cmd("[[ -f x && $y == z* ]]")
    assert isinstance(c, A.CondCommand)
    assert len(c.words) == 6


def test_subshell_and_brace_group() -> None:
    items = parse("( a; b ); { c; }").body.items
    assert isinstance(items[0].command.first.commands[0], A.Subshell)
    assert isinstance(items[1].command.first.commands[0], A.BraceGroup)


@pytest.mark.parametrize("src", ["echo a #c", "echo a#b", "echo 'x'#y"])
def test_comment_only_at_word_start(src: str) -> None:
    ws = words(src)
    assert len(ws) == 2
    assert (src.endswith("#c")) == ("#" not in src[ws[1].span.start:ws[1].span.end])


def test_pin_only_as_last_plain_word() -> None:
    c = cmd("grep x @pi f")
    assert isinstance(c, A.SimpleCommand) and c.pin is None and len(c.words) == 4
    c = cmd("grep x > out @arch=arm")
    assert isinstance(c, A.SimpleCommand) and c.pin == "arch=arm" and len(c.words) == 2


def test_alias_recursion_and_trailing_space() -> None:
    ws = words("ls x", {"ls": "ls -F"})
    assert [lit(w) for w in ws] == ["ls", "-F", "x"]
    ws = words("a b", {"a": "b ", "b": "echo B"})
    assert [lit(w) for w in ws] == ["echo", "B", "echo", "B"]  # as bash
    ws = words("a b", {"a": "echo ", "b": "x"})
    assert [lit(w) for w in ws] == ["echo", "x"]
    ws = words("'ls' x", {"ls": "nope"})
    assert len(ws) == 2


def test_alias_can_expand_to_compound_syntax() -> None:
    prog = parse("both\n", aliases={"both": "a; b"})
    assert len(prog.body.items) == 2


def test_iter_commands_reads_aliases_at_each_line() -> None:
    table: dict[str, str] = {}
    seen: list[int] = []
    for cl in iter_commands("alias x=...\nx\n", aliases=lambda: table):
        c = cl.items[0].command.first.commands[0]
        assert isinstance(c, A.SimpleCommand)
        seen.append(len(c.words))
        table["x"] = "echo one two"
    assert seen == [2, 3]


def test_iter_commands_keeps_heredoc_with_its_line() -> None:
    lines = list(iter_commands("cat <<E\nbody\nE\necho next\n"))
    assert len(lines) == 2


@pytest.mark.parametrize(("src", "state"), [
    ("case x in", "incomplete"), ("f() ", "incomplete"), ("echo $((1+", "incomplete"),
    ("echo `a", "incomplete"), ("for x in a; do", "incomplete"), ("a ||", "incomplete"),
    ("done", "error"), ("echo ;;", "error"), ("( )", "error"), ("echo hi", "complete"),
    ("cat <<E\nx\nE", "complete"), ("echo \\\n", "incomplete"), ("", "complete"),
])
def test_more_completeness(src: str, state: str) -> None:
    assert check(src).state == state


def test_error_from_cmdsub_points_into_outer_text() -> None:
    src = "echo $(if a; then b; done)"
    with pytest.raises(ParseError) as info:
        parse(src, "t")
    e = info.value
    assert e.span is not None
    assert src[e.span.start:e.span.end] == "done"
    assert "t:1:" in format_error(e)


def test_unterminated_if_points_at_if_and_says_so() -> None:
    with pytest.raises(ParseError) as info:
        parse("echo a\nif true; then\n  echo\n")
    e = info.value
    assert e.span is not None
    assert e.incomplete and e.span.start == 7 and "`if'" in e.message


def test_parse_is_fast_enough_for_startup() -> None:
    import time
    src = "for i in 1 2 3; do echo \"$i ${x:-d}\" | grep -v x > /dev/null 2>&1; done\n" * 200
    t = time.perf_counter()
    parse(src)
    assert time.perf_counter() - t < 2.0


def test_alias_expands_again_in_later_commands_and_spans_stay_in_source() -> None:
    src = "ls; ls $(ls)"
    prog = parse(src, aliases={"ls": "ls -F"})
    c1 = prog.body.items[1].command.first.commands[0]
    assert isinstance(c1, A.SimpleCommand) and [lit(w) for w in c1.words[:2]] == ["ls", "-F"]
    sub = c1.words[2].parts[0]
    assert isinstance(sub, A.CmdSub)
    inner = sub.body.body.items[0].command.first.commands[0]
    assert isinstance(inner, A.SimpleCommand) and len(inner.words) == 2
    assert src[c1.words[2].span.start:c1.words[2].span.end] == "$(ls)"
    for item in prog.body.items:
        assert 0 <= item.span.start <= item.span.end <= len(src)


@pytest.mark.parametrize(("src", "bad"), [("ll foo; fi", "fi"), ("ll foo; echo $(", "$(")])
def test_errors_after_an_alias_point_at_the_source(src: str, bad: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(src, aliases={"ll": "ls -l -a -h"})
    e = info.value
    assert e.span is not None
    assert src[e.span.start:e.span.end] == bad


def test_backslash_at_very_end_is_literal_but_check_says_incomplete() -> None:
    w = words("echo a\\")[1]
    assert lit(w) == "a\\"
    assert check("echo a\\").state == "incomplete"
    assert check("echo a\\\n").state == "incomplete"
    assert check("echo a\\\\").state == "complete"
    assert check("echo '\\'").state == "complete"


def test_unclosed_arith_sub_names_its_opener() -> None:
    c = check("echo $((1+")
    assert c.state == "incomplete" and c.error is not None
    assert c.error.message == "expected `))' to close `$(('"
    assert c.error.span is not None and (c.error.span.start, c.error.span.end) == (5, 8)


ALIASES = {"a": "echo ", "b": "b x; ", "c": "if true; then", "d": "a b", "e": "{ ( "}
ALIAS_SOUP = st.lists(st.sampled_from([
    "a", "b", "c", "d", "e", " ", ";", "\n", "fi", "|", "$(", ")", "}", "'q'", "x", "&&",
]), max_size=25).map("".join)


@settings(max_examples=300, deadline=None)
@given(ALIAS_SOUP)
def test_alias_soup_keeps_spans_inside_the_source(src: str) -> None:
    try:
        prog = parse(src, aliases=ALIASES)
    except ParseError as e:
        assert e.span is not None and 0 <= e.span.start <= e.span.end <= len(src)
        return
    stack: list[object] = [prog]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):
            stack.extend(node)
            continue
        if not isinstance(node, Record):
            continue
        span = getattr(node, "span", None)
        if isinstance(span, Span):
            assert 0 <= span.start <= span.end <= len(src), (node, src)
        stack.extend(values(node))


@pytest.mark.parametrize("src", ["echo >", "cat <<", "echo 2>&"])
def test_redirection_without_target_is_an_error_not_a_continuation(src: str) -> None:
    c = check(src)
    assert c.state == "error" and c.error is not None and c.error.span is not None
    assert src[c.error.span.start:c.error.span.end] in (">", "<<", ">&")


@pytest.mark.parametrize(("src", "word"), [
    ("echo $(echo \")\") x", '$(echo ")")'), ("echo ${x:-\"}\"} x", '${x:-"}"}'),
    ("echo $'\\'' x", "$'\\''"), ("echo \"a$(echo \"b\")c\" x", '"a$(echo "b")c"'),
])
def test_tokens_keep_quoted_groups_whole(src: str, word: str) -> None:
    from onesh.parser import tokens
    toks = tokens(src)
    assert "".join(t.text for t in toks) == src
    assert [t.text for t in toks if t.kind != "space"] == ["echo", word, "x"]


@pytest.mark.parametrize("src", [
    "cat <<-E\n$(ll)x\nE\n", 'echo "$(ll; la)" $(la)x', "echo a$(ll)b$(la)c",
])
def test_alias_inside_cmdsub_within_a_word(src: str) -> None:
    prog = parse(src, aliases={"ll": "ls -l ", "la": "ll -a"})
    assert prog.span.end <= len(src)
