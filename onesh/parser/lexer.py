"""The tolerant lexer: a lossless token stream for highlighting and
completion (the parser itself scans characters in context; see grammar.py).

Unlike the parser this never fails: every character of the input lands in
exactly one token, so concatenating token texts gives back the input.
`segments` splits a word token further (quotes, expansions, escapes) for
colouring.  Keywords and operators come from onesh.parser.words, the
tables the parser uses.
"""

from __future__ import annotations

from onesh.errors import Span
from onesh.parser.words import KEYWORDS_BEFORE_COMMAND, METACHARS, OPERATORS, RESERVED
from onesh.record import Record

# kinds: "space", "newline", "comment", "op", "word", "keyword", "string", "var"


class Token(Record, frozen=True):
    kind: str
    text: str
    span: Span
    command_position: bool = False


_CMD_START_OPS = frozenset({"|", "|&", "&&", "||", ";", "&", "(", ";;", ";&", ";;&"})


def tokens(text: str) -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    cmd_pos = True
    before_in = 0  # 2: the next word is a for/select/case's; 1: then `in` may follow
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
        if (cmd_pos and word in RESERVED) or (before_in == 1 and word == "in"):
            kind = "keyword"
            cmd_pos = word in KEYWORDS_BEFORE_COMMAND
            # `for NAME in`, `select NAME in`, `case WORD in`: `in` is reserved there
            before_in = 2 if word in ("for", "select", "case") else 0
        else:
            before_in = 1 if before_in == 2 else 0
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


# segment kinds: "text", "single" ('..' and $'..'), "double" (".."), "var"
# ($x ${..}), "sub" ($(..) `..` $((..))), "escape" (\\x)


def segments(word: str) -> list[tuple[str, str]]:
    """A word token's parts for colouring; lossless like `tokens`."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(word)
    text_start = 0

    def flush(end: int) -> None:
        if end > text_start:
            out.append(("text", word[text_start:end]))

    while i < n:
        c = word[i]
        kind = ""
        if c == "\\":
            kind = "escape"
        elif c == "'" or (c == "$" and word.startswith("$'", i)):
            kind = "single"
        elif c == '"':
            kind = "double"
        elif c == "`" or (c == "$" and word.startswith("$(", i)):
            kind = "sub"
        elif c == "$" and word.startswith("${", i):
            kind = "var"
        elif c == "$" and i + 1 < n and (word[i + 1].isalnum() or word[i + 1] in "_@*#?$!-"):
            j = i + 2
            if word[i + 1].isalpha() or word[i + 1] == "_":
                while j < n and (word[j].isalnum() or word[j] == "_"):
                    j += 1
            flush(i)
            out.append(("var", word[i:j]))
            i = text_start = j
            continue
        if not kind:
            i += 1
            continue
        flush(i)
        end = _skip_quoted(word, i)
        out.append((kind, word[i:end]))
        i = text_start = end
    flush(n)
    return out


def double_segments(seg: str) -> list[tuple[str, str]]:
    """A "double" segment's parts: "double" for the quoted text, "var" and
    "sub" for the expansions live inside it."""
    out: list[tuple[str, str]] = []
    i, n = 0, len(seg)
    start = 0
    while i < n:
        c = seg[i]
        if c == "\\":
            i += 2
            continue
        kind = ""
        end = i
        if c == "`" or seg.startswith(("$(", "${"), i):
            kind = "var" if seg.startswith("${", i) else "sub"
            end = _skip_quoted(seg, i)
        elif c == "$" and i + 1 < n and (seg[i + 1].isalnum() or seg[i + 1] in "_@*#?$!-"):
            kind = "var"
            end = i + 2
            if seg[i + 1].isalpha() or seg[i + 1] == "_":
                while end < n and (seg[end].isalnum() or seg[end] == "_"):
                    end += 1
        if not kind:
            i += 1
            continue
        if i > start:
            out.append(("double", seg[start:i]))
        out.append((kind, seg[i:end]))
        i = start = end
    if n > start:
        out.append(("double", seg[start:n]))
    return out
