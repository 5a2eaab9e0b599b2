"""sort [-bfnrsu] [-k POS1[,POS2]]... [-t SEP] [-o FILE] [FILE...]  (C locale)"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from onesh.coreutils.common import Io, Usage, inputs, line_blocks, parse

_NUM = re.compile(rb"^\s*(-?)(\d*)(?:\.(\d*))?")


@dataclass
class Key:
    f1: int
    c1: int
    f2: int  # 0 = end of line
    c2: int
    flags: str


def _parse_key(text: str, global_flags: str) -> Key:
    def pos(p: str, end: bool) -> tuple[int, int, str]:
        m = re.fullmatch(r"(\d+)(?:\.(\d+))?([bdfgiMhnRrV]*)", p)
        if not m:
            raise Usage(f"invalid field specification '{text}'")
        f, c = int(m.group(1)), int(m.group(2) or 0)
        if f == 0 or (not end and m.group(2) is not None and c == 0):
            raise Usage(f"invalid field specification '{text}'")
        return f, c, m.group(3)
    a, _, b = text.partition(",")
    f1, c1, fl1 = pos(a, False)
    f2, c2, fl2 = pos(b, True) if b else (0, 0, "")
    flags = fl1 + fl2
    return Key(f1, c1 or 1, f2, c2, flags or global_flags)


def _fields(line: bytes, sep: bytes | None) -> list[tuple[int, int]]:
    """(start, end) of each field; without -t a field keeps its leading blanks."""
    spans = []
    if sep is not None:
        start = 0
        while True:
            i = line.find(sep, start)
            if i < 0:
                spans.append((start, len(line)))
                return spans
            spans.append((start, i))
            start = i + len(sep)
    i, n = 0, len(line)
    while i < n:
        j = i
        while j < n and line[j] in b" \t":
            j += 1
        while j < n and line[j] not in b" \t":
            j += 1
        spans.append((i, j))
        i = j
    return spans


def _extract(line: bytes, k: Key, sep: bytes | None) -> bytes:
    spans = _fields(line, sep)
    if k.f1 > len(spans):
        return b""
    s0 = spans[k.f1 - 1][0]
    if "b" in k.flags:
        while s0 < len(line) and line[s0] in b" \t" and s0 < spans[k.f1 - 1][1]:
            s0 += 1
    start = min(s0 + k.c1 - 1, spans[k.f1 - 1][1]) if k.c1 > 1 else s0
    if k.f2 == 0 or k.f2 > len(spans):
        end = len(line)
    elif k.c2 == 0:
        end = spans[k.f2 - 1][1]
    else:
        end = min(spans[k.f2 - 1][0] + k.c2, spans[k.f2 - 1][1])
    return line[start:max(start, end)]


def _num(b: bytes) -> tuple[float, bytes]:
    m = _NUM.match(b)
    if not m or not (m.group(2) or m.group(3)):
        return (0.0, b"")
    text = (m.group(1) or b"") + (m.group(2) or b"0") + b"." + (m.group(3) or b"0")
    return (float(text), b"")


def _human(b: bytes) -> tuple[float, bytes]:
    m = re.match(rb"^\s*(-?\d+(?:\.\d+)?)([KMGTPEZY]?)", b)
    if not m:
        return (0.0, b"")
    power = b" KMGTPEZY".index(m.group(2) or b" ")
    return (float(m.group(1)) * 1024 ** power, b"")


def _keyfn(flags: str) -> Any:
    def f(b: bytes) -> Any:
        if "b" in flags:
            b = b.lstrip(b" \t")
        if "n" in flags:
            return _num(b)
        if "h" in flags:
            return _human(b)
        if "f" in flags:
            b = b.upper()
        return b
    return f


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, "bfnrsuhk:t:o:", ["ignore-leading-blanks", "ignore-case", "numeric-sort",
                                                "reverse", "stable", "unique", "human-numeric-sort",
                                                "key=", "field-separator=", "output="])
    long = {"--ignore-leading-blanks": "-b", "--ignore-case": "-f", "--numeric-sort": "-n", "--reverse": "-r",
            "--stable": "-s", "--unique": "-u", "--human-numeric-sort": "-h", "--key": "-k",
            "--field-separator": "-t", "--output": "-o"}
    gflags = ""
    keys_text: list[str] = []
    sep: bytes | None = None
    output = None
    for o, v in opts:
        o = long.get(o, o)
        if o == "-k":
            keys_text.append(v)
        elif o == "-t":
            sep = v.encode("utf-8", "surrogateescape")
            if len(sep) != 1:
                raise Usage("multi-character tab '" + v + "'")
        elif o == "-o":
            output = v
        else:
            gflags += o[1]
    reverse = "r" in gflags
    unique = "u" in gflags
    stable = "s" in gflags
    order = "".join(c for c in gflags if c in "bfnh")
    keys = [_parse_key(t, order) for t in keys_text]
    lines: list[bytes] = []
    for _, f in inputs(io, files):
        for block in line_blocks(f):
            lines.extend(ln[:-1] if ln.endswith(b"\n") else ln for ln in block)
    if keys:
        fns = [(k, _keyfn(k.flags)) for k in keys]

        def keyf(line: bytes) -> Any:
            return tuple(fn(_extract(line, k, sep)) for k, fn in fns)
    else:
        fn = _keyfn(order)

        def keyf(line: bytes) -> Any:
            return fn(line)
    decorated = sorted(lines, key=lambda ln: (keyf(ln), ln) if not (stable or unique) else (keyf(ln),),
                       reverse=reverse)
    if unique:
        out: list[bytes] = []
        last: Any = object()
        for ln in decorated:
            k = keyf(ln)
            if k != last:
                out.append(ln)
                last = k
        decorated = out
    data = b"".join(ln + b"\n" for ln in decorated)
    if output is not None:
        with io.open_output(output) as f:
            f.write(data)
    else:
        io.write(data)
    return io.status
