"""Lossless token stream for highlighting and completion.

Unlike the parser this never fails: every character of the input lands in
exactly one token, so concatenating token texts gives back the input.
"""

from __future__ import annotations

from dataclasses import dataclass

from onesh.parser.errors import Span
from onesh.parser.words import METACHARS, OPERATORS, RESERVED

# kinds: "space", "newline", "comment", "op", "word", "keyword", "string", "var"


@dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    span: Span
    command_position: bool = False


_CMD_START_OPS = frozenset({"|", "|&", "&&", "||", ";", "&", "(", ";;", ";&", ";;&"})
_KEYWORDS_BEFORE_CMD = frozenset({"then", "do", "else", "elif", "if", "while", "until", "!", "{", "time"})


def tokens(text: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    cmd_pos = True
    while i < n:
        ch = text[i]
        start = i
        if ch in " \t":
            while i < n and text[i] in " \t":
                i += 1
            out.append(Token("space", text[start:i], Span(start, i)))
            continue
        if ch == "\n":
            i += 1
            out.append(Token("newline", "\n", Span(start, i)))
            cmd_pos = True
            continue
        if ch == "#":
            while i < n and text[i] != "\n":
                i += 1
            out.append(Token("comment", text[start:i], Span(start, i)))
            continue
        op = next((o for o in OPERATORS if text.startswith(o, i)), None) if ch in METACHARS else None
        if op is not None:
            i += len(op)
            out.append(Token("op", op, Span(start, i)))
            cmd_pos = op in _CMD_START_OPS
            continue
        # a word: scan with quote awareness, never failing at EOF
        while i < n and text[i] not in METACHARS:
            c = text[i]
            if c == "\\":
                i = min(n, i + 2)
            elif c == "'":
                q = text.find("'", i + 1)
                i = n if q < 0 else q + 1
            elif c == '"':
                i += 1
                while i < n and text[i] != '"':
                    i += 2 if text[i] == "\\" else 1
                i = min(n, i + 1)
            elif c == "`":
                q = text.find("`", i + 1)
                i = n if q < 0 else q + 1
            elif c == "$" and i + 1 < n and text[i + 1] in "({":
                close = ")" if text[i + 1] == "(" else "}"
                opener = text[i + 1]
                depth = 0
                i += 1
                while i < n:
                    if text[i] == opener:
                        depth += 1
                    elif text[i] == close:
                        depth -= 1
                        if depth == 0:
                            i += 1
                            break
                    i += 1
            else:
                i += 1
        word = text[start:i]
        if cmd_pos and word in RESERVED:
            kind = "keyword"
            cmd_pos = word in _KEYWORDS_BEFORE_CMD
        else:
            kind = "string" if word[:1] in "'\"" else ("var" if word.startswith("$") else "word")
            was_assignment = "=" in word and word.split("=", 1)[0].isidentifier()
            out.append(Token(kind, word, Span(start, i), cmd_pos))
            if not (cmd_pos and was_assignment):
                cmd_pos = False
            continue
        out.append(Token(kind, word, Span(start, i), False))
    return out
