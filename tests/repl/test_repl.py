"""The REPL driven through prompt_toolkit's pipe input: a real PromptSession,
a real interpreter, keystrokes as a user would type them."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from onesh.engine.interp import Interpreter
from onesh.engine.state import ShellState
from onesh.repl.app import run_repl
from onesh.repl.completer import OneshCompleter
from onesh.repl.history import ReplHistory
from onesh.repl.prompt import render


@pytest.fixture
def interp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Interpreter]:
    monkeypatch.chdir(tmp_path)
    st = ShellState(environ={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PWD": str(tmp_path)})
    yield Interpreter(st, interactive=True)


def drive(interp: Interpreter, keys: str, history: Path | None = None, later: str | list[str] = "") -> int:
    """Type `keys`; each chunk of `later` is typed 0.5 s after the previous
    one (after asynchronous work such as completion has had a chance to run).
    With `history`, the session's history is that file (an interpreter on
    the same state, built with it, as cli.py builds the REPL's)."""
    if history is not None:
        interp = Interpreter(interp.state, interactive=True, history=ReplHistory(str(history)))
    chunks = [later] if isinstance(later, str) else later
    with create_pipe_input() as inp, create_app_session(input=inp, output=DummyOutput()):
        inp.send_text(keys)

        def type_later() -> None:
            for chunk in chunks:
                time.sleep(0.5)
                inp.send_text(chunk)

        typist = threading.Thread(target=type_later) if any(chunks) else None
        if typist:
            typist.start()
        try:
            return run_repl(interp, input=inp, output=DummyOutput())
        finally:
            if typist:
                typist.join()


def test_runs_command_and_exits_with_status(interp: Interpreter, capfd: pytest.CaptureFixture[str]) -> None:
    status = drive(interp, "echo hello-repl\rexit 4\r")
    assert status == 4
    assert "hello-repl" in capfd.readouterr().out


def test_multiline_continuation_runs_once(interp: Interpreter, capfd: pytest.CaptureFixture[str]) -> None:
    drive(interp, "if true; then\recho inside\rfi\rexit\r")
    assert capfd.readouterr().out.count("inside") == 1


def test_trailing_pipe_continues(interp: Interpreter, capfd: pytest.CaptureFixture[str]) -> None:
    drive(interp, "echo abc |\rtr a-z A-Z\rexit\r")
    assert "ABC" in capfd.readouterr().out


def test_ctrl_c_clears_line_without_exiting(interp: Interpreter, capfd: pytest.CaptureFixture[str]) -> None:
    status = drive(interp, "echo never\x03echo after\rexit\r")
    out = capfd.readouterr().out
    assert "never" not in out and "after" in out
    assert status == 0


def test_ctrl_d_exits_with_last_status(interp: Interpreter) -> None:
    assert drive(interp, "false\r\x04") == 1


def test_tab_completes_function_name(interp: Interpreter, capfd: pytest.CaptureFixture[str]) -> None:
    drive(interp, "zzuniquefn() { echo called-it; }\rzzuniq\t", later="\rexit\r")
    assert "called-it" in capfd.readouterr().out


def test_history_file_is_private_and_written(interp: Interpreter, tmp_path: Path) -> None:
    hist = tmp_path / "hist"
    drive(interp, "echo one\recho two\rexit\r", history=hist)
    assert stat.S_IMODE(hist.stat().st_mode) == 0o600
    text = hist.read_text()
    assert "echo one" in text and "echo two" in text


def test_history_builtin_lists_lines(interp: Interpreter, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    drive(interp, "echo first\rhistory\rexit\r", history=tmp_path / "h")
    out = capfd.readouterr().out
    assert "    1  echo first" in out


def test_syntax_error_does_not_exit(interp: Interpreter, capfd: pytest.CaptureFixture[str]) -> None:
    status = drive(interp, "echo )\recho still-here\rexit\r")
    captured = capfd.readouterr()
    assert "still-here" in captured.out
    assert "syntax error" in captured.err and "^" in captured.err
    assert status == 0


def completions(interp: Interpreter, text: str) -> list[str]:
    c = OneshCompleter(interp)
    return [x.text for x in c.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_complete_builtin(interp: Interpreter) -> None:
    assert "help" in completions(interp, "hel")


def test_complete_path_and_directory(interp: Interpreter, tmp_path: Path) -> None:
    (tmp_path / "alpha.txt").write_text("x")
    (tmp_path / "alphadir").mkdir()
    got = completions(interp, "cat alp")
    assert "alpha.txt" in got and "alphadir/" in got
    assert completions(interp, "cd alp") == ["alphadir/"]


def test_complete_path_with_space_is_escaped(interp: Interpreter, tmp_path: Path) -> None:
    (tmp_path / "my file").write_text("x")
    assert completions(interp, "cat my") == ["my\\ file"]


def test_complete_variable(interp: Interpreter) -> None:
    assert "HOME" in completions(interp, "echo $HO")
    assert "HOME}" in completions(interp, "echo ${HO")


def test_complete_set_options_and_builtin_flags(interp: Interpreter) -> None:
    assert "pipefail" in completions(interp, "set -o pi")
    assert set(completions(interp, "echo -")) == {"-n", "-e", "-E"}


def test_complete_command_after_pipe(interp: Interpreter) -> None:
    assert "help" in completions(interp, "echo x | hel")


def test_ps1_escapes() -> None:
    t = time.struct_time((2026, 1, 2, 13, 4, 5, 4, 2, 0))
    assert render(r"\w \W", cwd="/home/u/src/proj", home="/home/u") == "~/src/proj proj"
    assert render(r"\A \t \\ \j", cwd="/", home=None, jobs=2, now=lambda: t) == "13:04 13:04:05 \\ 2"
    assert render(r"\[\e[1m\]x", cwd="/", home=None) == "\x1b[1mx"
    assert render(r"\s-\$", cwd="/", home=None).startswith("onesh-")


def test_pygments_plugin_is_registered() -> None:
    from pygments.lexers import get_lexer_by_name
    from pygments.token import Comment, Keyword, Name, String

    lexer = get_lexer_by_name("onesh")
    toks = [(t, v) for t, v in lexer.get_tokens('for f in *; do echo "$f" @node1; done # hi') if v.strip()]
    assert (Keyword, "for") in toks
    assert (Name.Builtin, "echo") in toks
    assert (Name.Variable, "$f") in toks
    assert (Name.Tag, "@node1") in toks
    assert any(t in Comment for t, _ in toks)
    assert any(t in String for t, _ in toks)


def test_ps1_parameter_and_command_expansion(interp: Interpreter, tmp_path: Path) -> None:
    from onesh.repl.prompt import expand

    interp.run_text("who=alice\n", "<t>")
    assert expand(interp, render(r"$who:$(echo sub):$((6*7))\$ ", cwd="/", home=None, quote=True)).startswith(
        "alice:sub:42")
    # Text produced by an escape (here a directory named `$who`) stays literal.
    odd = tmp_path / "$who"
    odd.mkdir()
    assert expand(interp, render(r"\W", cwd=str(odd), home=None, quote=True)) == "$who"
    # A broken PS1 falls back to the raw text instead of failing.
    assert expand(interp, "x${") == "x${"


def test_prompt_shown_with_expanded_ps1(interp: Interpreter) -> None:
    from onesh.repl.app import Repl

    interp.run_text("PS1='[$((1+2))]\\$ '\n", "<t>")
    with create_pipe_input() as inp:
        repl = Repl(interp, input=inp, output=DummyOutput())
        shown = "".join(text for _, text, *_ in repl.prompt_text().__pt_formatted_text__())
    assert shown.startswith("[3]") and shown.rstrip().endswith(("$", "#"))


def test_oneshrc_is_sourced_and_errors_are_not_fatal(interp: Interpreter, tmp_path: Path,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".oneshrc").write_text("rcvar=from-rc\nalias hi='echo hi-alias'\necho )\n")
    status = drive(interp, "echo $rcvar\rhi\rexit\r")
    captured = capfd.readouterr()
    assert "from-rc" in captured.out and "hi-alias" in captured.out
    assert "syntax error" in captured.err
    assert status == 0


def test_ctrl_r_reverse_search_runs_found_line(interp: Interpreter, tmp_path: Path,
                                               capfd: pytest.CaptureFixture[str]) -> None:
    hist = tmp_path / "h"
    drive(interp, "echo needle-$((2+3))\recho other\rexit\r", history=hist)
    capfd.readouterr()
    # A new session reads the history file; Ctrl-R finds the older line.
    drive(interp, "\x12needle", history=hist, later="\r\rexit\r")
    out = capfd.readouterr().out
    assert "needle-5" in out and "other" not in out


def test_escape_enter_inserts_newline(interp: Interpreter, capfd: pytest.CaptureFixture[str]) -> None:
    # Esc-Enter on complete input continues it: two commands run as one entry.
    drive(interp, "echo one\x1b\recho two\rexit\r")
    out = capfd.readouterr().out
    assert out.index("one") < out.index("two")


def test_tab_in_session_completes_builtin_and_variable(interp: Interpreter,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    drive(interp, "hel\t", later=[" cd\recho $HO\t", "\rexit\r"])
    out = capfd.readouterr().out
    assert "cd" in out  # `help cd` ran, so `hel<TAB>` became `help`
    assert str(interp.state.get("HOME")) in out  # `$HO<TAB>` became `$HOME`


def test_command_word_marked_known_or_unknown(interp: Interpreter) -> None:
    from onesh.repl.completer import CommandLexer

    interp.run_text("myfn() { :; }\n", "<t>")
    lexer = CommandLexer(OneshCompleter(interp))
    get_line = lexer.lex_document(Document("echo a | nosuchcmd-zz b && myfn\nls x=1 y"))

    def style_of(lineno: int, word: str) -> str:
        """The style of the fragment holding the first character of `word`."""
        frags = get_line(lineno)
        i = "".join(f[1] for f in frags).index(word)
        for style, text, *_ in frags:
            if i < len(text):
                return style
            i -= len(text)
        raise AssertionError(word)

    assert "command.known" in style_of(0, "echo")
    assert "command.unknown" in style_of(0, "nosuchcmd")
    assert "command.known" in style_of(0, "myfn")
    assert "command.known" in style_of(1, "ls")
    assert "command" not in style_of(0, " b")
    # Syntax colours (named like pygments' tokens) are kept underneath.
    assert "pygments.name.builtin" in style_of(0, "echo")
    assert "pygments.operator" in style_of(0, "&&")


def test_complete_tilde_path_uses_shell_home(interp: Interpreter, tmp_path: Path) -> None:
    home = tmp_path / "h"
    (home / "docs").mkdir(parents=True)
    (home / "dots.txt").write_text("x")
    interp.run_text(f"HOME={home}\n", "<t>")
    assert completions(interp, "ls ~/do") == ["~/docs/", "~/dots.txt"]
    assert completions(interp, "cd ~/do") == ["~/docs/"]


@pytest.mark.parametrize("keys, expected", [
    ("cat <<END\rbody-$((1+1))\rEND\r", "body-2"),
    ("echo 'open\rquote'\r", "open\nquote"),
    ("echo back\\\rslash\r", "backslash"),
    ("true &&\recho and-ok\r", "and-ok"),
    ("for i in 1 2; do\recho it$i\rdone\r", "it1\nit2"),
])
def test_incomplete_input_continues(interp: Interpreter, capfd: pytest.CaptureFixture[str],
                                    keys: str, expected: str) -> None:
    drive(interp, keys + "exit\r")
    assert expected in capfd.readouterr().out


_SHELL_CHARS = "ab $'\"`\\{}()[]|&;<>#=~/.-*?!@\n\t0"


def test_lexer_and_completer_never_raise_on_partial_input(interp: Interpreter) -> None:
    # Both run on every key press; an exception there would end the prompt.
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from onesh.repl.completer import CommandLexer

    completer = OneshCompleter(interp)
    lexer = CommandLexer(completer)

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet=_SHELL_CHARS, max_size=40))
    def check(text: str) -> None:
        doc = Document(text)
        list(completer.get_completions(doc, CompleteEvent(completion_requested=True)))
        get_line = lexer.lex_document(doc)
        lines = ["".join(f[1] for f in get_line(i)) for i in range(len(doc.lines))]
        assert "\n".join(lines) == text

    check()


def test_autosuggestion_from_history_accepted_with_right_arrow(interp: Interpreter, tmp_path: Path,
                                                               capfd: pytest.CaptureFixture[str]) -> None:
    hist = tmp_path / "h"
    drive(interp, "echo suggested-line\rexit\r", history=hist)
    capfd.readouterr()
    # A new session: typing the start shows the rest of the history line
    # as a suggestion (computed in the background, once the history file is
    # loaded: hence the pause); Right arrow (ESC [ C) takes it, Enter runs it.
    drive(interp, "echo sugg", history=hist, later="\x1b[C\rexit\r")
    assert "suggested-line" in capfd.readouterr().out


def test_no_suggestion_without_right_arrow(interp: Interpreter, tmp_path: Path,
                                           capfd: pytest.CaptureFixture[str]) -> None:
    hist = tmp_path / "h"
    drive(interp, "echo suggested-line\rexit\r", history=hist)
    capfd.readouterr()
    drive(interp, "echo sugg", history=hist, later="\rexit\r")
    out = capfd.readouterr().out
    assert "sugg\n" in out and "suggested-line" not in out


def test_the_prompt_can_show_the_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from onesh import contexts


    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("ONESH_CLUSTER", raising=False)
    assert render(r"[\C]\$ ", cwd="/", home="/") in ("[embedded]$ ", "[embedded]# ")
    contexts.record("lab", str(tmp_path / "lab"))
    contexts.set_current(str(tmp_path / "lab"))
    assert render(r"\C", cwd="/", home="/") == "lab"
    monkeypatch.setenv("ONESH_CLUSTER", "tcp://10.0.0.1:4000")
    assert render(r"\C", cwd="/", home="/") == "tcp://10.0.0.1:4000"
