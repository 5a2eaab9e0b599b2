"""The interactive REPL: a thin prompt_toolkit layer over the interpreter.

Commands run synchronously *between* prompts (prompt_async has returned),
so the engine's fork/exec, process groups and terminal hand-off work as in
any shell.  While the prompt is shown, a small task reaps background jobs
and prints their notices above the input line via patch_stdout.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.filters import is_searching
from prompt_toolkit.formatted_text import ANSI, FormattedText
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.patch_stdout import patch_stdout
from prompt_toolkit.styles import Style

from onesh.engine.control import ExitShell
from onesh.parser import check
from onesh.repl.completer import CommandLexer, OneshCompleter
from onesh.repl.history import ReplHistory
from onesh.repl.prompt import ps1_text
from onesh.repl.terminal import FirstPrompt, TtyModes, setup_job_control, source_rc

if TYPE_CHECKING:
    from prompt_toolkit.input import Input
    from prompt_toolkit.output import Output

    from onesh.engine.interp import Interpreter

NOTICE_PERIOD = 0.5
# Added after the pygments colours, so a command word's known/unknown
# colour wins over its token colour.
STYLE = Style.from_dict({"command.known": "bold", "command.unknown": "#ff5f5f underline"})


def key_bindings() -> KeyBindings:
    kb = KeyBindings()

    # Not while Ctrl-R searching: there Enter must accept the search match.
    @kb.add("enter", filter=~is_searching)
    def _enter(event: KeyPressEvent) -> None:
        buf = event.current_buffer
        text = buf.document.text
        # Enter on incomplete input (open quote, `if` without `fi`, trailing
        # `|`) continues on the next line; complete input or an error is run.
        if buf.document.is_cursor_at_the_end and text.strip() and check(text).state == "incomplete":
            buf.insert_text("\n")
        else:
            buf.validate_and_handle()

    @kb.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return kb


class Repl:
    def __init__(self, interp: Interpreter, *, input: Input | None = None, output: Output | None = None) -> None:
        self.interp = interp
        self.first_prompt: str | None = None
        self.tty = TtyModes(0 if input is None else None)
        completer = OneshCompleter(interp)
        book = interp.history_book
        # The interpreter was built with the REPL's history (cli.py); a bare
        # interpreter gets a prompt history of its own.
        store = book.store if isinstance(book, ReplHistory) else ReplHistory(None).store
        self.session: PromptSession[str] = PromptSession(
            history=store,
            auto_suggest=AutoSuggestFromHistory(),
            lexer=CommandLexer(completer),
            style=STYLE,
            completer=completer,
            complete_while_typing=False,
            multiline=True,
            key_bindings=key_bindings(),
            prompt_continuation=self.continuation,
            enable_history_search=False,
            input=input,
            output=output,
        )

    def continuation(self, width: int, line_number: int, wrap_count: int) -> FormattedText:
        ps2 = self.interp.state.get("PS2")
        return FormattedText([("class:continuation", "> " if ps2 is None else ps2)])

    def prompt_text(self) -> ANSI:
        text, self.first_prompt = self.first_prompt, None
        if text is not None:
            # already on the screen: the cursor goes back to its line's start
            sys.stdout.write("\r")
            return ANSI(text)
        return ANSI(ps1_text(self.interp))

    def rprompt(self) -> FormattedText:
        status = self.interp.state.last_status
        return FormattedText([("fg:ansired", f"[{status}]")]) if status else FormattedText([])

    def print_notices(self) -> None:
        self.interp.jobs.reap()
        for line in self.interp.jobs.notices():
            print(line)

    async def notice_loop(self) -> None:
        while True:
            await asyncio.sleep(NOTICE_PERIOD)
            self.print_notices()

    async def run(self) -> int:
        while True:
            self.print_notices()
            # Rendered once per prompt, not per redraw: PS1 may hold a
            # $(command) that must not run on every key.
            try:
                ps1 = self.prompt_text()
            except KeyboardInterrupt:  # Ctrl-C while a $(...) in PS1 runs
                ps1 = ANSI("$ ")
            try:
                with patch_stdout(raw=True):
                    notices = asyncio.create_task(self.notice_loop())
                    try:
                        text = await self.session.prompt_async(ps1, rprompt=self.rprompt)
                    finally:
                        notices.cancel()
                        try:
                            await notices
                        except asyncio.CancelledError:
                            pass
            except KeyboardInterrupt:
                self.interp.state.last_status = 130
                continue
            except EOFError:
                sys.stderr.write("exit\n")
                return self.interp.state.last_status
            if not text.strip():
                continue
            self.tty.before_command()
            try:
                self.interp.run_text(text + "\n", "<stdin>")
            except ExitShell as e:
                return e.status
            except KeyboardInterrupt:
                sys.stderr.write("\n")
                self.interp.state.last_status = 130
            self.tty.after_command(self.interp.state.last_status)


def run_repl(interp: Interpreter, *, input: Any = None, output: Any = None,
             prepared: bool = False, first_prompt: FirstPrompt | None = None) -> int:
    """Entry point used by `onesh` with no arguments on a terminal; the
    interpreter was built with a ReplHistory (see cli.py).  `prepared`:
    terminal.prepare already ran; `first_prompt`: the prompt already shown
    by terminal.show_first_prompt (drawn again over it, not re-expanded)."""
    if not prepared:
        if input is None:
            setup_job_control(interp)
        source_rc(interp)
    if first_prompt is not None:
        first_prompt.hand_over()
    repl = Repl(interp, input=input, output=output)
    repl.first_prompt = first_prompt.text if first_prompt is not None else None
    return asyncio.run(repl.run())
