"""Lexer and recursive-descent parser producing `onesh.parser.ast`.

Two modes over one parser: `parse` (strict, raises ParseError) and `check`
(complete / incomplete / error: the REPL's Enter key).  `iter_commands`
yields a program one top-level command at a time, like bash reads it.
`tokens` is the tolerant lexer (never fails: highlighting, completion).

Names are resolved on first use (module __getattr__), so importing one
submodule (`onesh.parser.ast`) does not load the whole parser.  No name
here is also a submodule's: the grammar is `grammar`, the lexer `lexer`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from typing import Any

    from onesh.parser.lexer import Token as Token
    from onesh.parser.lexer import tokens as tokens
    from onesh.parser.modes import Completeness as Completeness
    from onesh.parser.modes import check as check
    from onesh.parser.modes import iter_commands as iter_commands
    from onesh.parser.modes import parse as parse

_HOMES = {
    "Completeness": "modes", "check": "modes", "iter_commands": "modes", "parse": "modes",
    "Token": "lexer", "tokens": "lexer",
}

__all__ = [
    "Completeness", "Token",
    "check", "iter_commands", "parse", "tokens",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'onesh.parser' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"onesh.parser.{home}"), name)
    globals()[name] = value
    return value
