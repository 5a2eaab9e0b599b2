"""The parser's modes, as callers drive it: strict (`parse`,
`iter_commands`: run it) and check (`check`: is the REPL's input complete?).
What must never fail on partial input (highlighting, completion) reads the
lossless token stream of onesh.parser.lexer instead.  The grammar itself
is `onesh.parser.grammar`.
"""

from __future__ import annotations

from onesh.errors import ParseError, Source, Span
from onesh.parser import ast as A
from onesh.parser.grammar import Parser
from onesh.record import Record

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping


def parse(text: str, name: str = "<stdin>", *, aliases: Mapping[str, str] | None = None) -> A.Program:
    """Parse a whole program (strict): raises ParseError with span and source."""
    p = Parser(text, name, aliases=aliases)
    try:
        prog = p.parse_program()
    except RecursionError:
        raise ParseError("nesting too deep", Span(0, min(1, len(text))), p.source) from None
    return prog


def iter_commands(text: str, name: str = "<stdin>", *,
                  aliases: Callable[[], Mapping[str, str]] | None = None) -> Iterator[A.CommandList]:
    """Yield one complete top-level command (a line) at a time, so the caller
    runs earlier lines before a later syntax error is reported (like bash) and
    aliases defined on one line apply to the next."""
    p = Parser(text, name)
    while True:
        try:
            p.linebreak()
            if p.at_eof():
                return
            p.aliases = aliases() if aliases is not None else {}
            p._alias_active = []
            p._alias_next = -1
            cl = p.parse_complete_command()
        except RecursionError:
            raise ParseError("nesting too deep", Span(p.i, min(p.i + 1, p.n)), p.source) from None
        yield cl


class Completeness(Record, frozen=True):
    state: str  # "complete" | "incomplete" | "error"
    error: ParseError | None = None


def check(text: str) -> Completeness:
    """Is `text` a complete program?  The REPL's Enter key asks this."""
    try:
        parse(text)
    except ParseError as e:
        return Completeness("incomplete" if e.incomplete else "error", e)
    except Exception as e:  # noqa: BLE001 - the REPL's Enter key must never crash
        return Completeness("error", ParseError(f"internal parser error: {e}", Span(0, 0), Source(text)))
    # A trailing unescaped backslash (before the Enter key's newline or at
    # the very end) continues the line, as at bash's prompt.
    body = text[:-1] if text.endswith("\n") else text
    if (len(body) - len(body.rstrip("\\"))) % 2 == 1:
        return Completeness("incomplete")
    return Completeness("complete")
