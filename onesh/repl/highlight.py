"""Syntax colours from the tolerant lexer (onesh.parser.lexer), the one
the completer and the parser's tables share: as token paths for the REPL's
prompt_toolkit lexer, and as the `onesh` pygments plugin for anything else
that highlights with pygments.

Colours are named by pygments token paths ("Name.Builtin"), so the REPL
uses prompt_toolkit's default pygments colours without importing pygments.
"""

from __future__ import annotations

from onesh.builtins.registry import BUILTINS
from onesh.parser.lexer import double_segments, segments, tokens
from onesh.parser.words import is_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

_KIND_PATH = {
    "comment": "Comment.Single", "keyword": "Keyword", "op": "Operator", "space": "Text.Whitespace",
    "newline": "Text.Whitespace", "text": "Text", "single": "Literal.String.Single",
    "double": "Literal.String.Double", "var": "Name.Variable", "sub": "Literal.String.Interpol",
    "escape": "Literal.String.Escape",
}


def highlight(text: str) -> Iterator[tuple[int, str, str]]:
    """(offset, token path, text) for every piece of `text`, in order."""
    for t in tokens(text):
        at = t.span.start
        if t.kind not in ("word", "string", "var"):
            yield at, _KIND_PATH[t.kind], t.text
            continue
        word = t.text
        if t.command_position and word in BUILTINS:
            yield at, "Name.Builtin", word
            continue
        if not t.command_position and word.startswith("@") and len(word) > 1:
            yield at, "Name.Tag", word  # a placement pin
            continue
        name, eq, _ = word.partition("=")
        if t.command_position and eq and is_name(name.removesuffix("+")):
            yield at, "Name.Variable", name
            yield at + len(name), "Operator", "="
            at += len(name) + 1
            word = word[len(name) + 1:]
        for kind, piece in segments(word):
            for sub_kind, sub in double_segments(piece) if kind == "double" else [(kind, piece)]:
                yield at, _KIND_PATH[sub_kind], sub
                at += len(sub)


def _pygments_lexer() -> type:
    from pygments.lexer import Lexer
    from pygments.token import string_to_tokentype

    class OneshLexer(Lexer):
        """The `onesh` pygments lexer (entry point in pyproject.toml)."""

        name = "onesh"
        aliases = ["onesh"]
        filenames = ["*.onesh"]
        mimetypes = ["text/x-onesh"]

        def get_tokens_unprocessed(self, text: str) -> Iterator[tuple[int, object, str]]:
            for at, path, piece in highlight(text):
                yield at, string_to_tokentype(path), piece

    return OneshLexer


def __getattr__(name: str) -> type:
    # pygments is imported only when someone asks for the plugin class.
    if name == "OneshLexer":
        cls = _pygments_lexer()
        globals()["OneshLexer"] = cls
        return cls
    raise AttributeError(name)
