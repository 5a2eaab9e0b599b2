"""Pygments lexer for onesh, registered as the `onesh` pygments plugin.

Regex-based like pygments' own BashLexer (it must never fail on partial
input while the user types), with onesh's builtins and the `@node` pin.
"""

from __future__ import annotations

from typing import ClassVar

from pygments.lexer import RegexLexer, bygroups, include
from pygments.token import (
    Comment,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Whitespace,
)

from onesh.builtins.registry import BUILTINS

_KEYWORDS = ("if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while", "until",
             "case", "esac", "function", "select", "time")
_BUILTIN_RE = "|".join(sorted((b.replace("[", r"\[").replace(".", r"\.") for b in BUILTINS if b not in (":",)),
                              key=len, reverse=True))


class OneshLexer(RegexLexer):
    name = "onesh"
    aliases: ClassVar[list[str]] = ["onesh"]
    filenames: ClassVar[list[str]] = ["*.onesh"]
    mimetypes: ClassVar[list[str]] = ["text/x-onesh"]

    tokens: ClassVar[dict[str, list]] = {  # type: ignore[type-arg]
        "root": [
            include("basic"),
            (r"`", String.Backtick, "backticks"),
            include("data"),
            include("interp"),
        ],
        "interp": [
            (r"\$\(\(", Keyword, "math"),
            (r"\$\(", Keyword, "paren"),
            (r"\$\{#?", String.Interpol, "curly"),
            (r"\$[a-zA-Z_]\w*", Name.Variable),
            (r"\$(?:\d+|[#$?!_*@-])", Name.Variable),
            (r"\$", Text),
        ],
        "basic": [
            (r"(?:(?<=\s)|^)#.*$", Comment.Single),
            (r"\b(" + "|".join(_KEYWORDS) + r")(?=[\s)`;&|]|$)", Keyword),
            (r"(?<![\w.-])(" + _BUILTIN_RE + r")(?=[\s)`;&|]|$)", Name.Builtin),
            (r"\\[\w\W]", String.Escape),
            (r"(\b\w+)(\s*)(\+?=)", bygroups(Name.Variable, Whitespace, Operator)),
            (r"[\[\]{}()=]", Operator),
            (r"<<<|<<-?\s*['\"]?\\?\w+['\"]?", String),
            (r"&&|\|\||\|&|\|", Operator),
            (r"\d*(?:>>|>&|<&|>\||<>|&>>|&>|>|<)", Operator),
            (r"(?<=\s)@[\w.=-]+(?=\s*(?:$|[;&|)]))", Name.Tag),
        ],
        "data": [
            (r"(?s)\$?\"(\\\\|\\[0-7]+|\\.|[^\"\\$])*\"", String.Double),
            (r'"', String.Double, "string"),
            (r"(?s)\$'(\\\\|\\[0-7]+|\\.|[^'\\])*'", String.Single),
            (r"(?s)'.*?'", String.Single),
            (r"'[^']*$", String.Single),
            (r";", Punctuation),
            (r"&", Punctuation),
            (r"\s+", Whitespace),
            (r"\d+\b", Number),
            (r"[^=\s\[\]{}()$\"'`\\<>&|;]+", Text),
            (r"[<#]", Text),
        ],
        "string": [
            (r'"', String.Double, "#pop"),
            (r'(?s)(\\\\|\\[0-7]+|\\.|[^"\\$])+', String.Double),
            include("interp"),
        ],
        "curly": [
            (r"\}", String.Interpol, "#pop"),
            (r":-", Keyword),
            (r"\w+", Name.Variable),
            (r"[^}:\"'`$\\]+", Punctuation),
            (r":", Punctuation),
            include("root"),
        ],
        "paren": [
            (r"\)", Keyword, "#pop"),
            include("root"),
        ],
        "math": [
            (r"\)\)", Keyword, "#pop"),
            (r"\*\*|\|\||<<|>>|[-+*/%^|&<>!=~?:]", Operator),
            (r"\d+#[\da-zA-Z]+", Number),
            (r"\d+#(?! )", Number),
            (r"0[xX][\da-fA-F]+", Number),
            (r"\d+", Number),
            (r"[a-zA-Z_]\w*", Name.Variable),
            include("root"),
        ],
        "backticks": [
            (r"`", String.Backtick, "#pop"),
            include("root"),
        ],
    }
