"""Bash glob patterns → compiled regular expressions, and pathname expansion.

A pattern arrives with quoted characters backslash-escaped by the expander
(`"*".c` becomes `\\*.c`), so one translator serves globbing, `case`,
`[[ == ]]` and `${x#pat}`.
"""

from __future__ import annotations

import functools
import os

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    import re

GLOB_CHARS = frozenset("*?[")

_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\n\r\f\v", "blank": r" \t", "punct": r"""!"\#\$%\&'\(\)\*\+,\-\./:;<=>\?@\[\\\]\^_`\{\|\}\~""",
    "xdigit": "0-9a-fA-F", "word": r"\w", "cntrl": r"\x00-\x1f\x7f", "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
}


def has_glob(pattern: str) -> bool:
    """True if the (escaped) pattern has an unescaped glob character."""
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c in "*?":
            return True
        if c == "[" and _bracket_end(pattern, i) > 0:
            return True
        i += 1
    return False


def escape(text: str) -> str:
    """Make literal text safe to embed in a pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def unescape(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "\\" and i + 1 < n:
            out.append(pattern[i + 1])
            i += 2
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def _bracket_end(p: str, i: int) -> int:
    """Index of the `]` closing the bracket expression at p[i] == '[', or -1."""
    j = i + 1
    n = len(p)
    if j < n and p[j] in "!^":
        j += 1
    if j < n and p[j] == "]":
        j += 1
    while j < n:
        if p[j] == "\\":
            j += 2
            continue
        if p.startswith("[:", j):
            k = p.find(":]", j + 2)
            if k > 0:
                j = k + 2
                continue
        if p[j] == "]":
            return j
        j += 1
    return -1


def _translate(p: str) -> str:
    import re  # not at module level: `re` stays off the start-up path

    out: list[str] = []
    i, n = 0, len(p)
    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 < n:
                out.append(re.escape(p[i + 1]))
                i += 2
            else:
                out.append(re.escape("\\"))
                i += 1
        elif c == "*":
            while i < n and p[i] == "*":
                i += 1
            out.append(".*")
        elif c == "?":
            out.append(".")
            i += 1
        elif c == "[":
            end = _bracket_end(p, i)
            if end < 0:
                out.append(re.escape("["))
                i += 1
                continue
            body = p[i + 1:end]
            neg = body[:1] in ("!", "^")
            if neg:
                body = body[1:]
            parts: list[str] = []
            k = 0
            while k < len(body):
                if body.startswith("[:", k):
                    e = body.find(":]", k + 2)
                    if e > 0:
                        parts.append(_CLASSES.get(body[k + 2:e], ""))
                        k = e + 2
                        continue
                ch = body[k]
                if ch == "\\" and k + 1 < len(body):
                    parts.append(re.escape(body[k + 1]))
                    k += 2
                    continue
                if k + 2 < len(body) and body[k + 1] == "-" and body[k + 2] != "]":
                    lo, hi = body[k], body[k + 2]
                    if hi == "\\" and k + 3 < len(body):
                        hi = body[k + 3]
                        k += 1
                    if lo <= hi:
                        parts.append(re.escape(lo) + "-" + re.escape(hi))
                    k += 3
                    continue
                parts.append(re.escape(ch))
                k += 1
            out.append(("[^" if neg else "[") + "".join(parts) + "]" if parts else ("." if neg else "(?!)"))
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    return "".join(out)


@functools.lru_cache(maxsize=512)
def compile_pattern(pattern: str, anchored: str = "full") -> re.Pattern[str]:
    """anchored: 'full' (whole string), 'prefix' (^...), 'suffix' (...$)."""
    import re

    body = _translate(pattern)
    if anchored == "full":
        return re.compile(r"(?s)\A(?:" + body + r")\Z")
    if anchored == "prefix":
        return re.compile(r"(?s)\A(?:" + body + ")")
    return re.compile(r"(?s)(?:" + body + r")\Z")


def match(pattern: str, text: str) -> bool:
    return compile_pattern(pattern).match(text) is not None


def remove_affix(value: str, pattern: str, op: str) -> str:
    """${x#p} ${x##p} ${x%p} ${x%%p}."""
    rx = compile_pattern(pattern)
    n = len(value)
    if op == "#":
        for k in range(0, n + 1):
            if rx.match(value[:k]):
                return value[k:]
    elif op == "##":
        for k in range(n, -1, -1):
            if rx.match(value[:k]):
                return value[k:]
    elif op == "%":
        for k in range(n, -1, -1):
            if rx.match(value[k:]):
                return value[:k]
    elif op == "%%":
        for k in range(0, n + 1):
            if rx.match(value[k:]):
                return value[:k]
    return value


def substitute(value: str, pattern: str, repl: str, op: str) -> str:
    """${x/p/r} ${x//p/r} ${x/#p/r} ${x/%p/r} — longest match at each position."""
    if pattern == "":
        return value
    rx = compile_pattern(pattern)
    n = len(value)
    if op == "/#":
        for k in range(n, -1, -1):
            if rx.match(value[:k]):
                return repl + value[k:]
        return value
    if op == "/%":
        for k in range(0, n + 1):
            if rx.match(value[k:]):
                return value[:k] + repl
        return value
    out: list[str] = []
    i = 0
    replaced = False
    while i <= n:
        if replaced and op == "/":
            out.append(value[i:])
            break
        found = -1
        for k in range(n, i - 1, -1):
            if rx.match(value[i:k]) and k > i:
                found = k
                break
        if found >= 0:
            out.append(repl)
            i = found
            replaced = True
            continue
        if i < n:
            out.append(value[i])
        i += 1
    return "".join(out)


def glob(pattern: str, *, dotglob: bool = False) -> list[str]:
    """Pathname expansion of an escaped pattern; [] when nothing matches."""
    absolute = pattern.startswith("/")
    segments = [s for s in pattern.split("/") if s != ""]
    if not segments:
        return []
    results = ["/"] if absolute else [""]
    for idx, seg in enumerate(segments):
        last = idx == len(segments) - 1
        nxt: list[str] = []
        if not has_glob(seg):
            lit = unescape(seg)
            for base in results:
                path = base + lit
                if last:
                    if os.path.lexists(path):
                        nxt.append(path)
                elif os.path.isdir(path):
                    nxt.append(path + "/")
        else:
            rx = compile_pattern(seg)
            show_dots = dotglob or seg.startswith(".") or seg.startswith("\\.")
            for base in results:
                try:
                    names = os.listdir(base or ".")
                except OSError:
                    continue
                for name in sorted(names):
                    if name.startswith(".") and not show_dots:
                        continue
                    if rx.match(name):
                        path = base + name
                        if last:
                            nxt.append(path)
                        elif os.path.isdir(path):
                            nxt.append(path + "/")
        results = nxt
        if not results:
            return []
    if pattern.endswith("/"):
        results = [r if r.endswith("/") else r + "/" for r in results if os.path.isdir(r)]
    return sorted(results, key=_collate)


def _collate(s: str) -> tuple[str, str]:
    # bash sorts by the locale's collation; under LC_ALL=C this is bytewise.
    return (s, s)
