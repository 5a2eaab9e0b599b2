"""grep [-EFGacHhiLlnoqsvwxy] [-e PAT]... [-f FILE] [-m N] [PATTERN] [FILE...]

POSIX basic (default) and extended regular expressions are translated to
Python's `re` on bytes (C locale: [:alpha:] is ASCII, -i folds ASCII only).
GNU extensions \\w \\W \\s \\S \\b \\B \\< \\> and back-references work.
A file with a NUL byte is binary: its first selected line prints
"grep: FILE: binary file matches" on stderr instead (-a: treat as text).
Output is flushed after each block read, so a live stream passes through
(--line-buffered is accepted and is what happens anyway)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from onesh.coreutils.common import Io, Usage, canon, fsname, inputs, line_blocks, parse, why

CLASSES = {
    b"alpha": b"A-Za-z", b"digit": b"0-9", b"alnum": b"0-9A-Za-z", b"upper": b"A-Z", b"lower": b"a-z",
    b"space": b" \\t\\n\\r\\x0b\\x0c", b"blank": b" \\t", b"punct": rb"!-/:-@\[-`{-~", b"print": b" -~",
    b"graph": b"!-~", b"cntrl": b"\\x00-\\x1f\\x7f", b"xdigit": b"0-9A-Fa-f",
}


class PatternError(Exception):
    pass


def _bracket(p: bytes, i: int) -> tuple[bytes, int]:
    """Translate the bracket expression starting at p[i] == '['; returns
    (python class, index after it)."""
    j = i + 1
    neg = False
    if p[j:j + 1] == b"^":
        neg = True
        j += 1
    items: list[bytes] = []
    first = True
    while True:
        if j >= len(p):
            raise PatternError("Unmatched [, [^, [:, [., or [=")
        c = p[j:j + 1]
        if c == b"]" and not first:
            j += 1
            break
        first = False
        if c == b"[" and p[j + 1:j + 2] in (b":", b".", b"="):
            kind = p[j + 1:j + 2]
            end = p.find(kind + b"]", j + 2)
            if end < 0:
                raise PatternError("Unmatched [, [^, [:, [., or [=")
            name = p[j + 2:end]
            if kind == b":":
                if name not in CLASSES:
                    raise PatternError("Invalid character class name")
                items.append(CLASSES[name])
            else:
                items.append(re.escape(name))
            j = end + 2
            continue
        if p[j + 1:j + 2] == b"-" and p[j + 2:j + 3] not in (b"]", b""):
            hi = p[j + 2:j + 3]
            if hi < c:
                raise PatternError("Invalid range end")
            items.append(re.escape(c) + b"-" + re.escape(hi))
            j += 3
            continue
        items.append(re.escape(c) if c not in b"\\-]^[" else b"\\" + c)
        j += 1
    body = b"".join(items)
    if neg:
        return b"[^" + body + b"\\n]", j
    return b"[" + body + b"]", j


def translate(p: bytes, extended: bool) -> bytes:
    """A POSIX BRE/ERE (with GNU extensions) as a Python bytes regex."""
    out: list[bytes] = []
    i = 0
    n = len(p)
    depth = 0
    groups = 0
    at_start = True  # where a leading * is literal and ^ is an anchor (BRE)
    while i < n:
        c = p[i:i + 1]
        start_here = at_start
        at_start = False
        if c == b"[":
            cls, i = _bracket(p, i)
            out.append(cls)
            continue
        if c == b"\\":
            if i + 1 >= n:
                raise PatternError("Trailing backslash")
            d = p[i + 1:i + 2]
            i += 2
            if not extended and d in (b"(", b")", b"{", b"}", b"|", b"+", b"?"):
                c = d  # the operator, handled below as in ERE
            else:
                if d.isdigit() and d != b"0":
                    if int(d) > groups:
                        raise PatternError("Invalid back reference")
                    out.append(b"\\" + d)
                elif d in (b"w", b"W", b"s", b"S", b"b", b"B"):
                    out.append(b"\\" + d)
                elif d == b"<":
                    out.append(rb"\b(?=\w)")
                elif d == b">":
                    out.append(rb"\b(?<=\w)")
                elif d == b"`":
                    out.append(rb"\A")
                elif d == b"'":
                    out.append(rb"\Z")
                else:
                    out.append(re.escape(d))
                continue
        else:
            i += 1
            if not extended and c in (b"(", b")", b"{", b"}", b"|", b"+", b"?"):
                out.append(re.escape(c))
                continue
        # c is an operator or an ordinary character.
        if c == b"(":
            depth += 1
            groups += 1
            out.append(b"(")
            at_start = True
        elif c == b")":
            if depth == 0:
                if extended:
                    out.append(b"\\)")
                    continue
                raise PatternError("Unmatched ) or \\)")
            depth -= 1
            out.append(b")")
        elif c == b"|":
            out.append(b"|")
            at_start = True
        elif c in (b"*", b"+", b"?"):
            if start_here or not out or out[-1] in (b"(", b"|", b"^"):
                out.append(re.escape(c))
                continue
            if out[-1] in (b"*", b"+", b"?") or out[-1].startswith(b"{"):
                # a repeated repetition: (x*)* — Python would read *+ as possessive
                prev = out.pop()
                base = out.pop() if out else b""
                out.append(b"(?:" + base + prev + b")")
            out.append(c)
        elif c == b"{":
            end = p.find(b"\\}" if not extended else b"}", i)
            body = p[i:end] if end >= 0 else b""
            if end < 0 or not re.fullmatch(rb"\d*(,\d*)?", body) or body in (b"", b","):
                if extended:
                    out.append(b"\\{")
                    continue
                raise PatternError("Unmatched \\{" if end < 0 else "Invalid content of \\{\\}")
            lo, comma, hi = body.partition(b",")
            if lo and hi and int(lo) > int(hi):
                raise PatternError("Invalid content of \\{\\}")
            i = end + (1 if extended else 2)
            if start_here or not out or out[-1] in (b"(", b"|", b"^"):
                out.append(re.escape(b"{" + body + b"}"))
                continue
            if out[-1] in (b"*", b"+", b"?") or out[-1].startswith(b"{"):
                prev = out.pop()
                base = out.pop() if out else b""
                out.append(b"(?:" + base + prev + b")")
            out.append(b"{" + (lo or b"0") + (b"," + hi if comma else b"") + b"}")
        elif c == b"^":
            if extended or start_here:
                out.append(b"^")
                at_start = True
            else:
                out.append(b"\\^")
        elif c == b"$":
            rest = p[i:]
            if extended or not rest or rest.startswith((b"\\)", b"\\|")):
                out.append(b"$")
            else:
                out.append(b"\\$")
        elif c == b".":
            out.append(b"[^\\n]")
        else:
            out.append(re.escape(c))
    if depth:
        raise PatternError("Unmatched ( or \\(")
    return b"".join(out)


LONG = {"--extended-regexp": "-E", "--fixed-strings": "-F", "--basic-regexp": "-G", "--count": "-c",
        "--with-filename": "-H", "--no-filename": "-h", "--ignore-case": "-i", "--no-ignore-case": "+i",
        "--files-without-match": "-L", "--files-with-matches": "-l", "--line-number": "-n",
        "--only-matching": "-o", "--quiet": "-q", "--silent": "-q", "--no-messages": "-s",
        "--invert-match": "-v", "--word-regexp": "-w", "--line-regexp": "-x", "--regexp": "-e",
        "--file": "-f", "--max-count": "-m", "--text": "-a", "--color": "", "--colour": "",
        "--line-buffered": "", "--label": "--label", "--byte-offset": "-b", "--null-data": "-z"}


SHORT = "EFGPacHhiLlnoqsvwxe:f:m:yrRbz"
LONGS = ["extended-regexp", "fixed-strings", "basic-regexp", "count", "with-filename", "no-filename",
         "ignore-case", "no-ignore-case", "files-without-match", "files-with-matches", "line-number",
         "only-matching", "quiet", "silent", "no-messages", "invert-match", "word-regexp", "line-regexp",
         "regexp=", "file=", "max-count=", "color=?", "colour=?", "line-buffered", "label=", "text",
         "byte-offset", "null-data"]


def run(argv: list[str], io: Io) -> int:
    opts, args = parse(argv, SHORT, LONGS)
    flags: set[str] = set()
    patterns: list[bytes] | None = None
    mode = "G"
    max_count = -1
    label = b"(standard input)"
    for o, v in canon(opts, LONG):
        if o == "-e":
            patterns = (patterns or []) + fsname(v).split(b"\n")
        elif o == "-f":
            try:
                f = io.open_input(v)
                try:
                    data = f.read()
                finally:
                    if f is not io.stdin:
                        f.close()
            except OSError as e:
                io.message(f"{v}: {why(e)}")
                return 2
            patterns = (patterns or []) + (data[:-1] if data.endswith(b"\n") else data).split(b"\n") \
                if data else (patterns or [])
        elif o == "-m":
            try:
                max_count = int(v)
            except ValueError:
                raise Usage("invalid max count") from None
        elif o in ("-E", "-F", "-G"):
            mode = o[1]
        elif o == "-P":
            mode = "E"
        elif o == "-y":
            flags.add("i")
        elif o == "+i":
            flags.discard("i")
        elif o in ("-r", "-R"):
            raise Usage("-r is not supported by the builtin grep agent")
        elif o in ("-b", "-z"):
            raise Usage(f"{o} is not supported by the builtin grep agent")
        elif o == "--label":
            label = fsname(v)
        elif o.startswith("-") and len(o) == 2:
            flags.add(o[1])
    if patterns is None:
        if not args:
            raise Usage("no pattern given")
        patterns = fsname(args[0]).split(b"\n")
        args = args[1:]
    try:
        search = _matcher(patterns, mode, flags)
        finder = _finder(patterns, mode, flags) if "o" in flags else None
    except (PatternError, re.error, RecursionError, OverflowError) as e:
        io.message(str(e) if isinstance(e, PatternError) else f"invalid regular expression: {e}")
        return 2
    files = args
    show_name = ("H" in flags or len(files) > 1) and "h" not in flags
    invert = "v" in flags
    quiet = "q" in flags
    list_mode = "l" in flags or "L" in flags
    counting = "c" in flags
    numbers = "n" in flags
    text_mode = "a" in flags
    io.no_messages = "s" in flags
    any_match = False
    for name, f in inputs(io, files):
        fname = label if name == "-" else fsname(name)
        count = 0
        lineno = 0
        binary = False
        prefix_name = fname + b":" if show_name else b""
        if max_count == 0:
            if counting:
                io.write(prefix_name + b"0\n")
            elif "L" in flags:
                io.write(fname + b"\n")
            continue
        for block in line_blocks(f):
            if not binary and not text_mode and any(b"\0" in ln for ln in block):
                binary = True
            if invert:
                selected = [(k, ln) for k, ln in enumerate(block) if not search(ln)]
            else:
                selected = [(k, ln) for k, ln in enumerate(block) if search(ln)]
            if selected:
                any_match = True
                if quiet:
                    return 0
                if max_count > 0 and count + len(selected) > max_count:
                    selected = selected[:max_count - count]
                count += len(selected)
                if list_mode:
                    break
                if binary and not counting:
                    io.flush()
                    io.stderr.write(b"grep: " + fname + b": binary file matches\n")
                    io.stderr.flush()
                    break
                if not counting:
                    out: list[bytes] = []
                    for k, ln in selected:
                        body = ln if ln.endswith(b"\n") else ln + b"\n"
                        pre = prefix_name + (b"%d:" % (lineno + k + 1) if numbers else b"")
                        if finder is not None:
                            if not invert:
                                out.extend(pre + m + b"\n" for m in finder(body[:-1]))
                        else:
                            out.append(pre + body)
                    io.write(b"".join(out))
            lineno += len(block)
            io.flush()
            if count == max_count:
                break
        if counting:
            io.write(prefix_name + b"%d\n" % count)
        if "l" in flags and count:
            io.write(fname + b"\n")
        if "L" in flags and not count:
            io.write(fname + b"\n")
        io.flush()
    if io.status and not (quiet and any_match):
        return 2
    return 0 if any_match else 1


def _python_patterns(patterns: list[bytes], mode: str) -> list[bytes]:
    if mode == "F":
        return [re.escape(p) for p in patterns]
    return [translate(p, mode == "E") for p in patterns]


def _compile(patterns: list[bytes], mode: str, flags: set[str]) -> re.Pattern[bytes]:
    parts = _python_patterns(patterns, mode)
    if len(parts) == 1:
        body = parts[0]
    else:
        # Each pattern keeps its own group numbers for back-references only
        # when alone; several patterns are alternatives.
        body = b"|".join(b"(?:" + p + b")" for p in parts)
    if "x" in flags:
        body = b"^(?:" + body + b")$"
    elif "w" in flags:
        body = rb"(?<![A-Za-z0-9_])(?:" + body + rb")(?![A-Za-z0-9_])"
    return re.compile(body, re.IGNORECASE if "i" in flags else 0)


def _matcher(patterns: list[bytes], mode: str, flags: set[str]) -> Callable[[bytes], bool]:
    """line (with its newline, if any) -> selected?"""
    if mode == "F" and not flags & {"i", "w", "x"}:
        needles = patterns
        if len(needles) == 1:
            needle = needles[0]
            return lambda ln: needle in ln
    rx = _compile(patterns, mode, flags)
    rsearch = rx.search

    def search(ln: bytes) -> bool:
        return rsearch(ln, 0, len(ln) - 1 if ln.endswith(b"\n") else len(ln)) is not None

    return search


def _finder(patterns: list[bytes], mode: str, flags: set[str]) -> Callable[[bytes], list[bytes]]:
    rx = _compile(patterns, mode, flags)

    def find(text: bytes) -> list[bytes]:
        out = []
        pos = 0
        while pos <= len(text):
            m: Any = rx.search(text, pos)
            if m is None:
                break
            if m.end() == m.start():
                pos = m.end() + 1
                continue
            out.append(m.group(0))
            pos = m.end()
        return out

    return find
