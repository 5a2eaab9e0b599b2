"""Character-level helpers shared by the parser: character classes, operator
tables and `$'...'` decoding.  Tables are data so the lexer stays readable.
"""

from __future__ import annotations

# Characters that end an unquoted word in command mode.
METACHARS = frozenset(" \t\n;&|<>()")

# Operators, longest first so greedy matching is a simple scan.
OPERATORS: tuple[str, ...] = (
    "<<<", "<<-", ";;&", "&>>",
    "&&", "||", ";;", ";&", "|&", "<<", ">>", "<>", ">|", "<&", ">&", "&>",
    "|", "&", ";", "(", ")", "<", ">",
)
REDIR_OPS = frozenset({"<", ">", ">>", ">|", "<>", "<&", ">&", "&>", "&>>", "<<", "<<-", "<<<"})

RESERVED = frozenset({
    "if", "then", "elif", "else", "fi", "do", "done", "case", "esac", "while", "until",
    "for", "select", "in", "function", "{", "}", "!", "[[", "]]", "time",
})
# Reserved words after which the next word is a command again.
KEYWORDS_BEFORE_COMMAND = frozenset({"then", "do", "else", "elif", "if", "while", "until", "!", "{", "time"})
# Words that end a list (the caller decides which one it wanted).
LIST_TERMINATORS = frozenset({"then", "elif", "else", "fi", "do", "done", "esac", "}"})

SPECIAL_PARAMS = frozenset("@*#?-$!0")

# Parameter operators after the name inside ${...}, longest first.
PARAM_OPS: tuple[str, ...] = (
    ":-", ":=", ":?", ":+", "%%", "##", "//", "/#", "/%", "^^", ",,",
    "-", "=", "?", "+", "%", "#", "/", "^", ",", ":",
)


def is_name_start(ch: str) -> bool:
    return ch == "_" or ("a" <= ch <= "z") or ("A" <= ch <= "Z")


def is_name_char(ch: str) -> bool:
    return is_name_start(ch) or ("0" <= ch <= "9")


def is_name(s: str) -> bool:
    return bool(s) and is_name_start(s[0]) and all(is_name_char(c) for c in s[1:])


_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "\\": "\\", "'": "'", '"': '"', "?": "?",
    "a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "r": "\r", "v": "\v",
}


def decode_ansi_c(body: str) -> str:
    """Decode the inside of $'...' like bash."""
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        i += 2
        if nxt in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[nxt])
        elif nxt in "01234567":
            j = i - 1
            digits = ""
            while j < n and len(digits) < 3 and body[j] in "01234567":
                digits += body[j]
                j += 1
            out.append(chr(int(digits, 8) & 0xFF))
            i = j
        elif nxt == "x":
            digits = ""
            while i < n and len(digits) < 2 and body[i] in "0123456789abcdefABCDEF":
                digits += body[i]
                i += 1
            out.append(chr(int(digits, 16)) if digits else "\\x")
        elif nxt in "uU":
            limit = 4 if nxt == "u" else 8
            digits = ""
            while i < n and len(digits) < limit and body[i] in "0123456789abcdefABCDEF":
                digits += body[i]
                i += 1
            if digits:
                try:
                    out.append(chr(int(digits, 16)))
                except (ValueError, OverflowError):
                    out.append("\\" + nxt + digits)
            else:
                out.append("\\" + nxt)
        elif nxt == "c" and i < n:
            out.append(chr(ord(body[i].upper()) ^ 0x40))
            i += 1
        else:
            out.append("\\" + nxt)
    return "".join(out)
