"""uniq [-cdDiu] [-f N] [-s N] [-w N] [--group[=METHOD]] [INPUT [OUTPUT]]

Compares adjacent lines as bytes (C locale; -i folds ASCII case).  A field
is a run of blanks then non-blanks (-f skips them, then -s skips bytes,
then -w limits the comparison).  Output is written per block read."""

from __future__ import annotations

from collections.abc import Callable

from onesh.coreutils.common import (
    Io,
    ToolState,
    Usage,
    canon,
    digits,
    inputs,
    keep,
    line_blocks,
    parse,
)

LONG = {"--count": "-c", "--repeated": "-d", "--ignore-case": "-i", "--unique": "-u",
        "--skip-fields": "-f", "--skip-chars": "-s", "--check-chars": "-w",
        "--all-repeated": "-D"}


def _count(v: str, what: str) -> int:
    if not digits(v):
        raise Usage(f"{v}: invalid number of {what}")
    return int(v)


def make_key(skip_f: int, skip_c: int, width: int, fold: bool) -> Callable[[bytes], bytes]:
    def key(line: bytes) -> bytes:
        s = line
        for _ in range(skip_f):
            s = s.lstrip(b" \t")
            i = 0
            while i < len(s) and s[i] not in b" \t":
                i += 1
            s = s[i:]
        if skip_c:
            s = s[skip_c:]
        if width >= 0:
            s = s[:width]
        return s.lower() if fold else s
    if not (skip_f or skip_c or width >= 0 or fold):
        return lambda line: line
    return key


class _Group(ToolState):
    """The run of equal lines being counted (its first line, key, size and
    lines for -D/--group), and whether a group was printed yet."""

    KEPT = ("cur", "cur_key", "cur_n", "cur_all", "first_group")

    def __init__(self) -> None:
        self.cur: bytes | None = None
        self.cur_key = b""
        self.cur_n = 0
        self.cur_all: list[bytes] = []
        self.first_group = True


SHORT = "cdDiuf:s:w:z"
LONGS = ["count", "repeated", "all-repeated=?", "ignore-case", "unique", "skip-fields=", "skip-chars=",
         "check-chars=", "group=?"]


def run(argv: list[str], io: Io) -> int:
    opts, args = parse(argv, SHORT, LONGS)
    flags: set[str] = set()
    skip_f = skip_c = 0
    width = -1
    group = ""
    for o, v in canon(opts, LONG):
        if o == "-f":
            skip_f = _count(v, "fields to skip")
        elif o == "-s":
            skip_c = _count(v, "bytes to skip")
        elif o == "-w":
            width = _count(v, "bytes to compare")
        elif o == "-D":
            flags.add("D")
            if v not in ("", "none"):
                raise Usage(f"--all-repeated={v} is not supported by the builtin uniq agent")
        elif o == "--group":
            group = v or "separate"
            if group not in ("separate", "prepend", "append", "both"):
                raise Usage(f"invalid argument '{v}' for '--group'")
        elif o == "-z":
            raise Usage("-z is not supported by the builtin uniq agent")
        else:
            flags.add(o[1])
    if len(args) > 2:
        raise Usage(f"extra operand '{args[2]}'")
    if group and flags & {"c", "d", "D", "u"}:
        raise Usage("--group is mutually exclusive with -c/-d/-D/-u")
    if "D" in flags and "c" in flags:
        raise Usage("printing all duplicated lines and repeat counts is meaningless")
    key = make_key(skip_f, skip_c, width, "i" in flags)
    out_f = io.open_output(args[1]) if len(args) == 2 else None
    write = out_f.write if out_f is not None else io.write
    counts, dups, uniques, all_dups = "c" in flags, "d" in flags, "u" in flags, "D" in flags
    g = _Group()

    def emit(first: bytes, n: int, lines: list[bytes], out: list[bytes]) -> None:
        if group:
            if group == "prepend" or (group == "both" and g.first_group) \
                    or (group == "separate" and not g.first_group):
                out.append(b"\n")
            out.extend(ln + b"\n" for ln in lines)
            if group in ("append", "both"):
                out.append(b"\n")
            g.first_group = False
            return
        if (dups or all_dups) and n < 2:
            return
        if uniques and n > 1:
            return
        if all_dups:
            out.extend(ln + b"\n" for ln in lines)
            return
        out.append((b"%7d " % n if counts else b"") + first + b"\n")

    keep_all = bool(group) or all_dups
    for _, f in inputs(io, args[:1]):
        keep(f, g)
        for block in line_blocks(f):
            out: list[bytes] = []
            for ln in block:
                if ln.endswith(b"\n"):
                    ln = ln[:-1]
                k = key(ln)
                if g.cur is not None and k == g.cur_key:
                    g.cur_n += 1
                    if keep_all:
                        g.cur_all.append(ln)
                    continue
                if g.cur is not None:
                    emit(g.cur, g.cur_n, g.cur_all, out)
                g.cur, g.cur_key, g.cur_n = ln, k, 1
                g.cur_all = [ln] if keep_all else []
            if out:
                write(b"".join(out))
            if out_f is None:
                io.flush()
    out = []
    if g.cur is not None:
        emit(g.cur, g.cur_n, g.cur_all, out)
    write(b"".join(out))
    if out_f is not None:
        out_f.close()
    return io.status
