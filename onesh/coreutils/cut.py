"""cut -b LIST | -c LIST | -f LIST [-d DELIM] [-s] [--complement] [--output-delimiter=S] [FILE...]"""

from __future__ import annotations

from onesh.coreutils.common import Io, Usage, inputs, line_blocks, parse

INF = 1 << 62


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split(","):
        if not part:
            raise Usage("fields and positions are numbered from 1")
        a, dash, b = part.partition("-")
        try:
            lo = int(a) if a else 1
            hi = (int(b) if b else INF) if dash else lo
        except ValueError:
            raise Usage(f"invalid field value '{part}'") from None
        if lo < 1 or hi < 1:
            raise Usage("fields and positions are numbered from 1")
        if lo > hi:
            raise Usage("invalid decreasing range")
        out.append((lo, hi))
    return out


def _selected(n: int, ranges: list[tuple[int, int]], complement: bool) -> list[int]:
    picked = [i for i in range(1, n + 1) if any(lo <= i <= hi for lo, hi in ranges)]
    if complement:
        s = set(picked)
        picked = [i for i in range(1, n + 1) if i not in s]
    return picked


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, "b:c:f:d:sn", ["bytes=", "characters=", "fields=", "delimiter=", "only-delimited",
                                              "complement", "output-delimiter="])
    long = {"--bytes": "-b", "--characters": "-c", "--fields": "-f", "--delimiter": "-d",
            "--only-delimited": "-s"}
    mode = ""
    spec = ""
    delim = b"\t"
    only = complement = False
    out_delim: bytes | None = None
    for o, v in opts:
        o = long.get(o, o)
        if o in ("-b", "-c", "-f"):
            if mode:
                raise Usage("only one type of list may be specified")
            mode, spec = o[1], v
        elif o == "-d":
            delim = v.encode("utf-8", "surrogateescape")
            if len(delim) != 1:
                raise Usage("the delimiter must be a single character")
        elif o == "-s":
            only = True
        elif o == "--complement":
            complement = True
        elif o == "--output-delimiter":
            out_delim = v.encode("utf-8", "surrogateescape")
    if not mode:
        raise Usage("you must specify a list of bytes, characters, or fields")
    ranges = _ranges(spec)
    for _, f in inputs(io, files):
        for block in line_blocks(f):
            out = []
            for ln in block:
                nl = ln.endswith(b"\n")
                body = ln[:-1] if nl else ln
                if mode == "f":
                    if delim not in body:
                        if not only:
                            out.append(body + b"\n")
                        continue
                    parts = body.split(delim)
                    idx = _selected(len(parts), ranges, complement)
                    out.append((out_delim if out_delim is not None else delim).join(parts[i - 1] for i in idx) + b"\n")
                else:
                    idx = _selected(len(body), ranges, complement)
                    if out_delim is None:
                        out.append(bytes(body[i - 1] for i in idx) + b"\n")
                    else:
                        pieces, prev = [], -2
                        for i in idx:
                            if i != prev + 1:
                                pieces.append(bytearray())
                            pieces[-1].append(body[i - 1])
                            prev = i
                        out.append(out_delim.join(bytes(p) for p in pieces) + b"\n")
            io.write(b"".join(out))
            io.flush()
    return io.status
