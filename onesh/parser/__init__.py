"""Lexer and recursive-descent parser producing `onesh.parser.ast`.

Three modes over one parser: `parse` (strict, raises ParseError),
`parse_tolerant` (never raises: highlighting, completion) and `check`
(complete / incomplete / error: the REPL's Enter key).  `iter_commands`
yields a program one top-level command at a time, like bash reads it.
"""

from onesh.parser.errors import OneshError, ParseError, Source, Span
from onesh.parser.parse import Completeness, check, iter_commands, parse, parse_tolerant
from onesh.parser.tokens import Token, tokens

__all__ = [
    "Completeness", "OneshError", "ParseError", "Source", "Span", "Token",
    "check", "iter_commands", "parse", "parse_tolerant", "tokens",
]
