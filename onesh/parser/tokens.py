"""Lossless token stream for highlighting and completion.

Unlike the parser this never fails: every character of the input lands in
exactly one token, so concatenating token texts gives back the input.
"""

from __future__ import annotations

from onesh.parser.errors import Span
from onesh.parser.words import METACHARS, OPERATORS, RESERVED
from onesh.record import Record

# kinds: "space", "newline", "comment", "op", "word", "keyword", "string", "var"


class Token(Record, frozen=True):
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
        i = _scan_word(text, i, METACHARS)
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


def _skip_quoted(text: str, i: int) -> int:
    """`text[i]` opens a quote, `$'`, `$(` or `${`, or is a backslash: return
    the offset just past the construct (or len(text) when it is unclosed)."""
    n = len(text)
    c = text[i]
    if c == "\\":
        return min(n, i + 2)
    if c == "'":
        q = text.find("'", i + 1)
        return n if q < 0 else q + 1
    if c == "$" and text.startswith("$'", i):
        i += 2
        while i < n and text[i] != "'":
            i += 2 if text[i] == "\\" else 1
        return min(n, i + 1)
    if c in '"`':
        i += 1
        while i < n and text[i] != c:
            if text[i] == "\\":
                i += 2
            elif c == '"' and text[i] == "$" and text.startswith(("$(", "${"), i):
                i = _skip_quoted(text, i)
            else:
                i += 1
        return min(n, i + 1)
    # $( or ${: nested group; quotes inside do not count towards nesting.
    opener = text[i + 1]
    close = ")" if opener == "(" else "}"
    depth = 1
    i += 2
    while i < n:
        ch = text[i]
        if ch in "\\'\"`" or (ch == "$" and text.startswith(("$'", "$(", "${"), i)):
            i = _skip_quoted(text, i)
            continue
        if ch == opener:
            depth += 1
        elif ch == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _scan_word(text: str, i: int, stop: frozenset[str] | str) -> int:
    n = len(text)
    while i < n and text[i] not in stop:
        c = text[i]
        if c in "\\'\"`" or (c == "$" and text.startswith(("$'", "$(", "${"), i)):
            i = _skip_quoted(text, i)
        else:
            i += 1
    return i
