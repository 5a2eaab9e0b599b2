"""cut -b LIST | -c LIST | -f LIST [-d DELIM] [-s] [-n] [--complement]
[--output-delimiter=S] [FILE...]

Bytes (C locale): -c is -b.  LIST is N, N-, N-M, -M, comma separated;
overlapping ranges are merged and output keeps the input order, as in GNU cut.  Each
line is cut with a few slices per selected range, no per-byte work."""

from __future__ import annotations

from onesh.coreutils.common import Io, Usage, canon, digits, fsname, inputs, line_blocks, parse

INF = 1 << 62


def parse_list(spec: str) -> list[tuple[int, int]]:
    """Merged, sorted, 1-based inclusive ranges."""
    out: list[tuple[int, int]] = []
    for part in spec.replace(" ", ",").split(","):
        if not part:
            raise Usage("fields and positions are numbered from 1")
        a, dash, b = part.partition("-")
        if dash and not a and not b:
            raise Usage("invalid range with no endpoint: -")
        if (a and not digits(a)) or (b and not digits(b)) or "-" in b:
            raise Usage(f"invalid field value '{part}'" if digits(a) or digits(b)
                        else "invalid byte, character or field list")
        lo = int(a) if a else 1
        hi = (int(b) if b else INF) if dash else lo
        if lo < 1 or hi < 1:
            raise Usage("fields and positions are numbered from 1")
        if lo > hi:
            raise Usage("invalid decreasing range")
        out.append((lo, hi))
    out.sort()
    merged: list[tuple[int, int]] = []
    for lo, hi in out:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    nxt = 1
    for lo, hi in ranges:
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt < INF:
        out.append((nxt, INF))
    return out


LONG = {"--bytes": "-b", "--characters": "-c", "--fields": "-f", "--delimiter": "-d",
        "--only-delimited": "-s"}


SHORT = "b:c:f:d:snz"
LONGS = ["bytes=", "characters=", "fields=", "delimiter=", "only-delimited", "complement", "output-delimiter="]


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, SHORT, LONGS)
    mode = ""
    spec = ""
    delim: bytes | None = None
    only = comp = False
    out_delim: bytes | None = None
    for o, v in canon(opts, LONG):
        if o in ("-b", "-c", "-f"):
            if mode:
                raise Usage("only one list may be specified")
            mode, spec = o[1], v
        elif o == "-d":
            delim = fsname(v) or b"\0"
            if len(delim) != 1:
                raise Usage("the delimiter must be a single character")
        elif o == "-s":
            only = True
        elif o == "--complement":
            comp = True
        elif o == "--output-delimiter":
            out_delim = fsname(v)
        elif o == "-z":
            raise Usage("-z is not supported by the builtin cut agent")
    if not mode:
        raise Usage("you must specify a list of bytes, characters, or fields")
    if mode != "f" and delim is not None:
        raise Usage("an input delimiter may be specified only when operating on fields")
    if mode != "f" and only:
        raise Usage("suppressing non-delimited lines makes sense\n\tonly when operating on fields")
    ranges = parse_list(spec)
    if comp:
        ranges = complement(ranges)
    slices = [(lo - 1, None if hi >= INF else hi) for lo, hi in ranges]
    d = delim if delim is not None else b"\t"
    od = out_delim if out_delim is not None else (d if mode == "f" else b"")
    for _, f in inputs(io, files):
        for block in line_blocks(f):
            out = []
            for ln in block:
                body = ln[:-1] if ln.endswith(b"\n") else ln
                if mode == "f":
                    if d not in body:
                        if not only:
                            out.append(body + b"\n")
                        continue
                    parts = body.split(d)
                    picked = [p for a, b in slices for p in parts[a:b]]
                    out.append(od.join(picked) + b"\n")
                else:
                    pieces = [body[a:b] for a, b in slices if a < len(body)]
                    out.append(od.join(pieces) + b"\n")
            io.write(b"".join(out))
            io.flush()
    return io.status
