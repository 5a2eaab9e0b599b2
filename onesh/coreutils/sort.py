"""sort [-bdfghinrsuc] [-k POS1[,POS2]]... [-t SEP] [-o FILE] [FILE...]

C locale: lines compare as bytes.  Keys and options follow GNU sort:
fields are separated by -t SEP, or else each field starts at a blank
run; a key's own ordering flags (-k2,2nr) replace the global ones; ties
are broken by comparing whole lines (not with -s or -u, and reversed too
with a global -r); -u keeps the first of each run of equal keys.  -n
compares exact decimals (no thousands separator in C), -g floats, -h
numbers with a K/M/G... suffix (suffix first).  -m merges sorted
inputs; -S, -T and --parallel are accepted (sorting is in memory)."""

from __future__ import annotations

import functools
import heapq
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from onesh.coreutils.common import (
    Io,
    ToolState,
    Usage,
    canon,
    fsname,
    keep,
    line_blocks,
    parse,
    why,
)

_NUM = re.compile(rb"[ \t]*(-?)(\d*)(?:\.(\d*))?")
_HUMAN = re.compile(rb"[ \t]*(-?)(\d*)(?:\.(\d*))?([KMGTPEZYRQk]?)")
_GEN = re.compile(rb"[ \t]*[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf(?:inity)?|nan)", re.I)
ORDER_FLAGS = "bdfghinMRV"
_NOT_DICT = bytes(c for c in range(256) if not (chr(c).isalnum() and c < 128) and c not in b" \t")
_NOT_PRINT = bytes(c for c in range(256) if not 32 <= c < 127)


@dataclass
class Key:
    f1: int
    c1: int
    f2: int  # 0 = end of line
    c2: int  # 0 = end of field f2
    flags: str
    skip_start: bool  # b applies to the start position
    skip_end: bool  # b applies to the end position


def parse_key(text: str, global_flags: str) -> Key:
    def pos(p: str, end: bool) -> tuple[int, int, str]:
        m = re.fullmatch(r"(\d+)(?:\.(\d+))?([a-zA-Z]*)", p)
        if not m:
            raise Usage(f"invalid number at field start: invalid count at start of '{p}'" if not end
                        else f"invalid number after ',': invalid count at start of '{p}'")
        bad = set(m.group(3)) - set(ORDER_FLAGS + "r")
        if bad:
            raise Usage(f"stray character in field spec: invalid field specification '{text}'")
        f, c = int(m.group(1)), int(m.group(2) or 0)
        if f == 0:
            raise Usage(f"field number is zero: invalid field specification '{text}'")
        if not end and m.group(2) is not None and c == 0:
            raise Usage(f"character offset is zero: invalid field specification '{text}'")
        return f, c, m.group(3)
    a, _, b = text.partition(",")
    f1, c1, fl1 = pos(a, False)
    f2, c2, fl2 = pos(b, True) if b else (0, 0, "")
    own = fl1 + fl2
    flags = own if own else global_flags
    return Key(f1, c1 or 1, f2, c2, flags,
               "b" in (fl1 if own else global_flags), "b" in (fl2 if own else global_flags))


def _skip_fields(line: bytes, n: int, sep: bytes | None, lim: int, keep_last_sep: bool = True) -> int:
    """Index after skipping n fields (GNU begfield/limfield)."""
    ptr = 0
    if sep is not None:
        while ptr < lim and n:
            n -= 1
            i = line.find(sep, ptr, lim)
            ptr = lim if i < 0 else i
            if ptr < lim and (n or keep_last_sep):
                ptr += 1
        return ptr
    while ptr < lim and n:
        n -= 1
        while ptr < lim and line[ptr] in b" \t":
            ptr += 1
        while ptr < lim and line[ptr] not in b" \t":
            ptr += 1
    return ptr


def extract(line: bytes, k: Key, sep: bytes | None) -> bytes:
    """The key's bytes, exactly as GNU sort delimits them."""
    lim = len(line)
    start = _skip_fields(line, k.f1 - 1, sep, lim)
    if k.skip_start:
        while start < lim and line[start] in b" \t":
            start += 1
    start = min(lim, start + k.c1 - 1)
    if k.f2 == 0:
        end = lim
    else:
        if k.c2 == 0:
            end = _skip_fields(line, k.f2, sep, lim, keep_last_sep=False)
        else:
            end = _skip_fields(line, k.f2 - 1, sep, lim)
            if k.skip_end:
                while end < lim and line[end] in b" \t":
                    end += 1
            end = min(lim, end + k.c2)
    return line[start:end] if end > start else b""


def _decimal(m: Any) -> Decimal:
    sign, whole, frac = m.group(1), m.group(2), m.group(3)
    if not whole and not frac:
        return Decimal(0)
    return Decimal((sign or b"").decode() + (whole or b"0").decode() + "." + (frac or b"0").decode())


def _num(b: bytes) -> Any:
    return _decimal(_NUM.match(b))


def _human(b: bytes) -> Any:
    m = _HUMAN.match(b)
    assert m is not None
    v = _decimal(m)
    unit = b" KMGTPEZYRQ".find(m.group(4).upper()) if m.group(4) else 0
    if not (m.group(2) or m.group(3)):
        unit = 0
    sign = (v > 0) - (v < 0)
    return (sign, unit * sign, v)


def _general(b: bytes) -> Any:
    m = _GEN.match(b)
    if not m:
        return (0, 0.0)  # not a number: first
    v = float(m.group(0))
    if v != v:
        return (1, 0.0)  # NaN after non-numbers, before numbers
    return (2, v)


def _transform(flags: str) -> Any:
    """bytes -> comparable, for a key's (or the whole line's) flags."""
    fns = []
    if "d" in flags:
        fns.append(lambda b: b.translate(None, _NOT_DICT))
    elif "i" in flags:
        fns.append(lambda b: b.translate(None, _NOT_PRINT))
    if "f" in flags:
        fns.append(bytes.upper)
    if "n" in flags:
        fns = [_num]
    elif "h" in flags:
        fns = [_human]
    elif "g" in flags:
        fns = [_general]
    if not fns:
        return lambda b: b
    if len(fns) == 1:
        return fns[0]
    return lambda b: functools.reduce(lambda acc, fn: fn(acc), fns, b)


def _cmp(a: Any, b: Any) -> int:
    return int(a > b) - int(a < b)


LONG = {"--ignore-leading-blanks": "-b", "--dictionary-order": "-d", "--ignore-case": "-f",
        "--general-numeric-sort": "-g", "--ignore-nonprinting": "-i", "--numeric-sort": "-n",
        "--reverse": "-r", "--stable": "-s", "--unique": "-u", "--human-numeric-sort": "-h",
        "--key": "-k", "--field-separator": "-t", "--output": "-o", "--check": "-c", "--merge": "-m",
        "--buffer-size": "-S", "--temporary-directory": "-T", "--parallel": "", "--zero-terminated": "-z"}


class _Read(ToolState):
    """What sort read so far.  Its checkpoints are a log of the lines (the
    stage host stores each spill beside them): a successor starts with
    them all, without sending them again."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self._spilled = 0

    def spill(self) -> bytes:
        new = self.lines[self._spilled:]
        self._spilled = len(self.lines)
        return b"\n".join(new) + b"\n" if new else b""

    def unspill(self, log: bytes) -> None:
        self.lines = log.split(b"\n")[:-1]
        self._spilled = len(self.lines)


SHORT = "bdfghinrsuk:t:o:cCmS:T:zMRV"
LONGS = [k[2:] + ("=" if k in ("--key", "--field-separator", "--output", "--buffer-size",
                               "--temporary-directory", "--parallel") else "") for k in LONG]


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, SHORT, LONGS)
    gflags = ""
    keys_text: list[str] = []
    sep: bytes | None = None
    output = None
    check = ""
    merge = False
    for o, v in canon(opts, LONG):
        if o == "-k":
            keys_text.append(v)
        elif o == "-t":
            t = fsname(v)
            if t == b"\\0":
                t = b"\0"
            if len(t) != 1:
                raise Usage(f"multi-character tab '{v}'" if t else "empty tab")
            if sep is not None and sep != t:
                raise Usage("incompatible tabs")
            sep = t
        elif o == "-o":
            output = v
        elif o in ("-c", "-C"):
            check = o[1]
        elif o in ("-M", "-R", "-V", "-z"):
            raise Usage(f"{o} is not supported by the builtin sort agent")
        elif o == "-m":
            merge = True
        elif o in ("-S", "-T", ""):
            pass
        else:
            gflags += o[1]
    reverse = "r" in gflags
    unique = "u" in gflags
    stable = "s" in gflags
    order = "".join(c for c in gflags if c in ORDER_FLAGS)
    keys = [parse_key(t, order + ("r" if reverse else "")) for t in keys_text]
    if not keys and order:
        keys = [Key(1, 1, 0, 0, order + ("r" if reverse else ""), "b" in order, "b" in order)]
    for flags in [k.flags for k in keys] or [gflags]:
        # GNU checks each key's effective flags: one numeric ordering at
        # most, and none together with -d/-i.
        numeric = [c for c in "ghn" if c in flags]
        if len(numeric) > 1 or (numeric and ("d" in flags or "i" in flags)):
            raise Usage("options '-" + "".join(c for c in "dghin" if c in flags) + "' are incompatible")
    runs: list[list[bytes]] = []  # per input, for -m
    for name in files or ["-"]:
        try:
            f = io.open_input(name)
        except OSError as e:
            io.message(f"cannot read: {name}: {why(e)}")
            return 2
        run_lines = keep(f, _Read()).lines
        try:
            for block in line_blocks(f):
                # (every line of a block has its newline, but an input's last may not)
                if block[-1].endswith(b"\n"):
                    run_lines.extend([ln[:-1] for ln in block])
                else:
                    run_lines.extend([ln[:-1] for ln in block[:-1]])
                    run_lines.append(block[-1])
        finally:
            if f is not io.stdin:
                f.close()
        runs.append(run_lines)
    lines = [ln for r in runs for ln in r] if len(runs) != 1 else runs[0]
    if keys:
        parts = [(k, _transform(k.flags), "r" in k.flags) for k in keys]
        mixed = any(rev != reverse for _, _, rev in parts)

        def keyf(line: bytes) -> Any:
            return tuple(fn(extract(line, k, sep)) for k, fn, _ in parts)
    else:
        parts = []
        mixed = False

        def keyf(line: bytes) -> Any:
            return line
    last_resort = not (stable or unique)

    if mixed:
        def compare(a: bytes, b: bytes) -> int:
            for k, fn, rev in parts:
                c = _cmp(fn(extract(a, k, sep)), fn(extract(b, k, sep)))
                if c:
                    return -c if rev else c
            if last_resort:
                c = _cmp(a, b)
                return -c if reverse else c
            return 0
        sort_key: Any = functools.cmp_to_key(compare)
        rev_sort = False
    else:
        sort_key = (lambda ln: (keyf(ln), ln)) if last_resort else keyf
        rev_sort = reverse

    if check:
        return _check(io, lines, sort_key, rev_sort, unique, check, files)
    if merge:
        ordered = list(heapq.merge(*runs, key=sort_key, reverse=rev_sort))
    else:
        # (no keys: the whole line is the key and its own last resort, so
        # bytes order alone is the same order, and 3x faster than tuples)
        ordered = sorted(lines, key=None if not keys else sort_key, reverse=rev_sort)
    if unique:
        out: list[bytes] = []
        last: Any = object()
        for ln in ordered:
            k = keyf(ln) if not mixed else sort_key(ln)
            if not out or k != last:
                out.append(ln)
                last = k
        ordered = out
    data = b"\n".join(ordered) + b"\n" if ordered else b""
    if output is not None:
        try:
            f = io.open_output(output)
        except OSError as e:
            io.error(f"open failed: {output}: {e.strerror or e}")
            return 2
        with f:
            f.write(data)
    else:
        io.write(data)
    return io.status


def _check(io: Io, lines: list[bytes], sort_key: Any, rev: bool, unique: bool, mode: str,
           files: list[str]) -> int:
    prev: Any = None
    for i, ln in enumerate(lines):
        k = sort_key(ln)
        if prev is not None:
            bad = (k > prev) if rev else (k < prev)
            if unique and k == prev:
                bad = True
            if bad:
                if mode == "c":
                    name = files[0] if files else "-"
                    io.message(f"{name}:{i + 1}: disorder: {ln.decode('utf-8', 'surrogateescape')}")
                return 1
        prev = k
    return 0
