"""Lexer and recursive-descent parser producing `onesh.parser.ast`.

Two modes over one parser: `parse` (strict, raises ParseError) and `check`
(complete / incomplete / error: the REPL's Enter key).  `iter_commands`
yields a program one top-level command at a time, like bash reads it.
`tokens` is the tolerant lexer (never fails: highlighting, completion).

Names are resolved lazily so that importing `onesh.parser.errors` (the
error type every module uses, runtimes included) does not load the parser.
"""

from __future__ import annotations

import sys
import types

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from typing import Any

    from onesh.parser.errors import OneshError as OneshError
    from onesh.parser.errors import ParseError as ParseError
    from onesh.parser.errors import Source as Source
    from onesh.parser.errors import Span as Span
    from onesh.parser.modes import Completeness as Completeness
    from onesh.parser.modes import check as check
    from onesh.parser.modes import iter_commands as iter_commands
    from onesh.parser.modes import parse as parse
    from onesh.parser.tokens import Token as Token
    from onesh.parser.tokens import tokens as tokens

_HOMES = {
    "OneshError": "errors", "ParseError": "errors", "Source": "errors", "Span": "errors",
    "Completeness": "modes", "check": "modes", "iter_commands": "modes", "parse": "modes",
    "Token": "tokens", "tokens": "tokens",
}

__all__ = [
    "Completeness", "OneshError", "ParseError", "Source", "Span", "Token",
    "check", "iter_commands", "parse", "tokens",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'onesh.parser' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"onesh.parser.{home}"), name)
    if name not in _CLASHING:
        globals()[name] = value
    return value


# `parse` and `tokens` name both a submodule and the function it exports.
# Importing the submodule makes the import system set the package attribute
# to the module, so a later `from onesh.parser import parse` would hand out
# the module.  Data descriptors on the package's class win over that
# assignment: the setter swallows it and the getter returns the function.
_CLASHING = frozenset({"parse", "tokens"})


def _clashing_property(name: str) -> property:
    def get(_module: object) -> Any:
        return __getattr__(name)

    def set_(_module: object, _value: object) -> None:
        return None

    return property(get, set_)


class _ParserPackage(types.ModuleType):
    parse = _clashing_property("parse")
    tokens = _clashing_property("tokens")


sys.modules[__name__].__class__ = _ParserPackage
