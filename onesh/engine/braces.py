"""Brace expansion ({a,b}, {1..10..2}, {a..e}, {01..10}) over a word's parts.

Only unquoted literal text takes part: the word is flattened into atoms
(single literal characters, or whole non-literal parts), braces are expanded
on the atoms, and the results are regrouped into words.
"""

from __future__ import annotations

from onesh.parser import ast as A

Atom = str | A.WordPart  # a str atom is one unquoted literal character


def brace_expand(w: A.Word) -> list[A.Word]:
    atoms: list[Atom] = []
    for p in w.parts:
        if isinstance(p, A.Lit):
            atoms.extend(p.text)
        else:
            atoms.append(p)
    results = _expand(atoms, 0)
    if len(results) == 1 and results[0] == atoms:
        return [w]
    return [_to_word(r, w) for r in results]


def _to_word(atoms: list[Atom], w: A.Word) -> A.Word:
    parts: list[A.WordPart] = []
    buf: list[str] = []
    for a in atoms:
        if isinstance(a, str):
            buf.append(a)
        else:
            if buf:
                parts.append(A.Lit("".join(buf), w.span))
                buf = []
            parts.append(a)
    if buf:
        parts.append(A.Lit("".join(buf), w.span))
    return A.Word(tuple(parts), w.span)


def _expand(atoms: list[Atom], depth: int) -> list[list[Atom]]:
    if depth > 50:
        return [atoms]
    n = len(atoms)
    i = 0
    while i < n:
        if atoms[i] == "{" and not (i > 0 and atoms[i - 1] == "$"):
            close, commas = _match(atoms, i)
            if close > 0:
                prefix, suffix = atoms[:i], atoms[close + 1:]
                inner = atoms[i + 1:close]
                alts: list[list[Atom]] | None = None
                if commas:
                    alts = []
                    prev = i + 1
                    for c in [*commas, close]:
                        alts.append(atoms[prev:c])
                        prev = c + 1
                else:
                    seq = _sequence(inner)
                    if seq is not None:
                        alts = [list(s) for s in seq]
                if alts is not None:
                    out: list[list[Atom]] = []
                    tails = _expand(suffix, depth + 1)
                    for alt in alts:
                        for a in _expand(alt, depth + 1):
                            for t in tails:
                                out.append(prefix + a + t)
                    return out
        i += 1
    return [atoms]


def _match(atoms: list[Atom], start: int) -> tuple[int, list[int]]:
    depth = 0
    commas: list[int] = []
    for k in range(start, len(atoms)):
        a = atoms[k]
        if a == "{":
            depth += 1
        elif a == "}":
            depth -= 1
            if depth == 0:
                return k, commas
        elif a == "," and depth == 1:
            commas.append(k)
    return -1, []


def _sequence(inner: list[Atom]) -> list[str] | None:
    if not all(isinstance(a, str) for a in inner):
        return None
    text = "".join(a for a in inner if isinstance(a, str))
    parts = text.split("..")
    if len(parts) not in (2, 3):
        return None
    step = 1
    if len(parts) == 3:
        try:
            step = abs(int(parts[2])) or 1
        except ValueError:
            return None
    a, b = parts[0], parts[1]
    if _is_int(a) and _is_int(b):
        x, y = int(a), int(b)
        width = max(len(a), len(b)) if (_padded(a) or _padded(b)) else 0
        rng = range(x, y + 1, step) if x <= y else range(x, y - 1, -step)
        return [str(v).zfill(width) if width and v >= 0 else (("-" + str(-v).zfill(width - 1)) if width else str(v))
                for v in rng]
    if len(a) == 1 and len(b) == 1 and a.isalpha() and b.isalpha():
        x, y = ord(a), ord(b)
        rng = range(x, y + 1, step) if x <= y else range(x, y - 1, -step)
        return [chr(v) for v in rng]
    return None


def _is_int(s: str) -> bool:
    return s.lstrip("-+").isdigit() and s.count("-") + s.count("+") <= 1


def _padded(s: str) -> bool:
    s = s.lstrip("-+")
    return len(s) > 1 and s.startswith("0")
