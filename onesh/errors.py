"""One error type for the whole shell, with a location and one caret formatter.

Every user-facing failure is a `OneshError` (or subclass).  It carries the
`Span` of the offending text and the `Source` it came from, so the same
formatter renders a syntax error, an expansion error (`${x:?msg}`) or a
redirection failure with the line and a caret under the culprit.
"""

from __future__ import annotations

from onesh.record import Record


class Span(Record, frozen=True):
    """Half-open character range [start, end) into a `Source`'s text."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"bad span {self.start}..{self.end}")

    def to(self, other: Span) -> Span:
        """The smallest span covering both."""
        return Span(min(self.start, other.start), max(self.end, other.end))


class Source(Record, frozen=True):
    """A piece of shell text and where it came from (`-c`, a file, the REPL)."""

    text: str
    name: str = "<stdin>"
    first_line: int = 1

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line = self.text.count("\n", 0, offset)
        start = self.text.rfind("\n", 0, offset) + 1
        return line + self.first_line, offset - start + 1

    def line_text(self, offset: int) -> str:
        offset = max(0, min(offset, len(self.text)))
        start = self.text.rfind("\n", 0, offset) + 1
        if offset == len(self.text) and offset > 0 and self.text[offset - 1] == "\n":
            start = self.text.rfind("\n", 0, offset - 1) + 1
        end = self.text.find("\n", start)
        return self.text[start : end if end >= 0 else len(self.text)]


class OneshError(Exception):
    """Any error shown to a user.  `status` is the bash-compatible exit code."""

    status: int = 1
    kind: str = "error"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        source: Source | None = None,
        *,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.source = source
        if status is not None:
            self.status = status

    def with_source(self, source: Source) -> OneshError:
        if self.source is None:
            self.source = source
        return self

    def format(self, prog: str = "onesh") -> str:
        """`prog: name:line:col: kind: message` plus the line and a caret."""
        return format_error(self, prog)


class ParseError(OneshError):
    """Syntax error: bash exits with status 2."""

    status = 2
    kind = "syntax error"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        source: Source | None = None,
        *,
        incomplete: bool = False,
    ) -> None:
        super().__init__(message, span, source)
        # True when more input could fix it (open quote, `if` without `fi`,
        # trailing `|`): the REPL continues on the next line instead.
        self.incomplete = incomplete


class ExpansionError(OneshError):
    """`${x:?}`, `set -u`, bad substitution, arithmetic errors."""

    status = 1
    kind = "error"


def format_error(err: OneshError, prog: str = "onesh") -> str:
    if err.span is None or err.source is None:
        return f"{prog}: {err.kind}: {err.message}" if err.kind != "error" else f"{prog}: {err.message}"
    src = err.source
    line, col = src.line_col(err.span.start)
    text = src.line_text(err.span.start)
    # Tabs are kept so the caret lines up under the same glyphs the user sees.
    pad = "".join("\t" if ch == "\t" else " " for ch in text[: col - 1])
    width = max(1, min(err.span.end - err.span.start, len(text) - (col - 1)))
    head = f"{prog}: {src.name}:{line}:{col}: "
    head += f"{err.kind}: {err.message}" if err.kind != "error" else err.message
    return f"{head}\n  {text}\n  {pad}{'^' * width}"
