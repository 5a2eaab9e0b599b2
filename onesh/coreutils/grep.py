"""grep [-EFGcHhiLlnoqsvwx] [-e PAT]... [-m N] PATTERN [FILE...]"""

from __future__ import annotations

import re

from onesh.coreutils.common import Io, Usage, inputs, line_blocks, number, parse


def bre_to_re(p: bytes) -> bytes:
    """POSIX basic regex → Python: \\( \\) \\{ \\} \\| \\+ \\? are operators,
    the bare characters are literals."""
    out = bytearray()
    i = 0
    in_bracket = False
    while i < len(p):
        c = p[i:i + 1]
        if in_bracket:
            out += c if c != b"\\" else b"\\\\"
            if c == b"]":
                in_bracket = False
            i += 1
            continue
        if c == b"[":
            in_bracket = True
            out += c
            i += 1
            if p[i:i + 1] == b"^":
                out += b"^"
                i += 1
            if p[i:i + 1] == b"]":
                out += b"\\]"
                i += 1
            continue
        if c == b"\\" and i + 1 < len(p):
            n = p[i + 1:i + 2]
            out += n if n in b"(){}|+?" else b"\\" + n
            i += 2
            continue
        if c in (b"(", b")", b"{", b"}", b"|", b"+", b"?"):
            out += b"\\" + c
        elif c == b"*" and (not out or out.endswith(b"(") or out.endswith(b"|")):
            out += b"\\*"
        else:
            out += c
        i += 1
    return bytes(out)


def run(argv: list[str], io: Io) -> int:
    opts, args = parse(argv, "EFGcHhiLlnoqsvwxe:m:yr", [
        "extended-regexp", "fixed-strings", "basic-regexp", "count", "with-filename", "no-filename",
        "ignore-case", "files-without-match", "files-with-matches", "line-number", "only-matching",
        "quiet", "silent", "no-messages", "invert-match", "word-regexp", "line-regexp", "regexp=",
        "max-count=", "color=", "colour=", "line-buffered", "label="])
    long = {"--extended-regexp": "-E", "--fixed-strings": "-F", "--basic-regexp": "-G", "--count": "-c",
            "--with-filename": "-H", "--no-filename": "-h", "--ignore-case": "-i",
            "--files-without-match": "-L", "--files-with-matches": "-l", "--line-number": "-n",
            "--only-matching": "-o", "--quiet": "-q", "--silent": "-q", "--no-messages": "-s",
            "--invert-match": "-v", "--word-regexp": "-w", "--line-regexp": "-x", "--regexp": "-e",
            "--max-count": "-m"}
    flags: set[str] = set()
    patterns: list[bytes] = []
    mode = "G"
    max_count = -1
    for o, v in opts:
        o = long.get(o, o)
        if o == "-e":
            patterns += v.encode("utf-8", "surrogateescape").split(b"\n")
        elif o == "-m":
            max_count = number(v, "max count")
        elif o in ("-E", "-F", "-G"):
            mode = o[1]
        elif o == "-y":
            flags.add("i")
        elif o == "-r":
            raise Usage("-r is not supported by the builtin grep agent")
        elif o.startswith("-") and len(o) == 2:
            flags.add(o[1])
    if not patterns:
        if not args:
            raise Usage("no pattern given")
        patterns = args[0].encode("utf-8", "surrogateescape").split(b"\n")
        args = args[1:]
    parts = []
    for p in patterns:
        if mode == "F":
            parts.append(re.escape(p))
        elif mode == "G":
            parts.append(bre_to_re(p))
        else:
            parts.append(p)
    body = b"|".join(b"(?:" + p + b")" for p in parts)
    if "w" in flags:
        body = rb"(?<![A-Za-z0-9_])(?:" + body + rb")(?![A-Za-z0-9_])"
    if "x" in flags:
        body = rb"^(?:" + body + rb")$"
    try:
        rx = re.compile(body, re.IGNORECASE if "i" in flags else 0)
    except re.error as e:
        io.error(f"invalid regular expression: {e}")
        return 2
    files = args
    show_name = ("H" in flags or len(files) > 1) and "h" not in flags
    invert = "v" in flags
    any_match = False
    errors = False
    for name, f in inputs(io, files):
        label = (b"(standard input)" if name == "-" else name.encode("utf-8", "surrogateescape"))
        count = 0
        lineno = 0
        stop = False
        for block in line_blocks(f):
            out = []
            for line in block:
                lineno += 1
                text = line[:-1] if line.endswith(b"\n") else line
                hit = rx.search(text) is not None
                if hit == invert:
                    continue
                count += 1
                any_match = True
                if "q" in flags:
                    return 0
                if "l" in flags or "L" in flags:
                    stop = True
                    break
                if "c" not in flags:
                    prefix = (label + b":" if show_name else b"") + (b"%d:" % lineno if "n" in flags else b"")
                    if "o" in flags and not invert:
                        for m in rx.finditer(text):
                            if m.group(0):
                                out.append(prefix + m.group(0) + b"\n")
                    else:
                        out.append(prefix + text + b"\n")
                if count == max_count:
                    stop = True
                    break
            if out:
                io.write(b"".join(out))
            io.flush()
            if stop:
                break
        if "c" in flags:
            io.write((label + b":" if show_name else b"") + b"%d\n" % count)
        if "l" in flags and count:
            io.write(label + b"\n")
        if "L" in flags and not count:
            io.write(label + b"\n")
    if io.status:
        errors = True
    if "s" in flags:
        pass
    if errors and not ("q" in flags and any_match):
        return 2
    if "L" in flags:
        return 0 if any_match or files else 1
    return 0 if any_match else 1
