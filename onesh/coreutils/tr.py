"""tr [-cCds] SET1 [SET2]  (bytes; ranges, [:class:], \\n \\t \\\\ \\NNN, [c*n])"""

from __future__ import annotations

import sys

from onesh.coreutils.common import Io, Usage, parse, read_block

CLASSES = {
    "alpha": bytes(c for c in range(256) if chr(c).isalpha() and c < 128),
    "digit": b"0123456789",
    "alnum": bytes(c for c in range(128) if chr(c).isalnum()),
    "upper": bytes(range(65, 91)),
    "lower": bytes(range(97, 123)),
    "space": b" \t\n\r\x0b\x0c",
    "blank": b" \t",
    "punct": bytes(c for c in range(33, 127) if not chr(c).isalnum()),
    "print": bytes(range(32, 127)),
    "graph": bytes(range(33, 127)),
    "cntrl": bytes([*range(32), 127]),
    "xdigit": b"0123456789ABCDEFabcdef",
}
ESC = {"n": 10, "t": 9, "r": 13, "a": 7, "b": 8, "f": 12, "v": 11, "\\": 92}


def _chars(s: str) -> list[int | str]:
    """Bytes of a set, with escapes resolved; class names stay as markers."""
    b = s.encode("utf-8", "surrogateescape")
    out: list[int | str] = []
    i = 0
    while i < len(b):
        c = b[i]
        if c == 92 and i + 1 < len(b):
            n = chr(b[i + 1])
            if n in "01234567":
                j = i + 1
                while j < len(b) and j < i + 4 and chr(b[j]) in "01234567":
                    j += 1
                out.append(int(b[i + 1:j], 8) & 0xFF)
                i = j
                continue
            out.append(ESC.get(n, b[i + 1]))
            i += 2
            continue
        if c == 91 and b[i:i + 2] == b"[:":
            end = b.find(b":]", i + 2)
            if end > 0:
                name = b[i + 2:end].decode()
                if name not in CLASSES:
                    raise Usage(f"invalid character class '{name}'")
                out.append("class:" + name)
                i = end + 2
                continue
        out.append(c)
        i += 1
    return out


def expand(s: str) -> bytes:
    items = _chars(s)
    out = bytearray()
    i = 0
    while i < len(items):
        x = items[i]
        if isinstance(x, str):
            out += CLASSES[x[6:]]
            i += 1
            continue
        if i + 2 < len(items) and items[i + 1] == 45 and isinstance(items[i + 2], int):
            hi = items[i + 2]
            assert isinstance(hi, int)
            if hi < x:
                raise Usage(f"range-endpoints of '{chr(x)}-{chr(hi)}' are in reverse collating sequence order")
            out += bytes(range(x, hi + 1))
            i += 3
            continue
        out.append(x)
        i += 1
    return bytes(out)


def run(argv: list[str], io: Io) -> int:
    opts, args = parse(argv, "cCdst", ["complement", "delete", "squeeze-repeats", "truncate-set1"])
    flags = {o.lstrip("-")[:1] if len(o) == 2 else {"--complement": "c", "--delete": "d",
                                                      "--squeeze-repeats": "s", "--truncate-set1": "t"}[o]
             for o, _ in opts}
    if "C" in flags:
        flags.add("c")
    if not args:
        raise Usage("missing operand")
    delete, squeeze = "d" in flags, "s" in flags
    need = 2 if (delete and squeeze) or not (delete or squeeze) else 1
    most = 2 if squeeze and not delete else need
    if len(args) < need:
        raise Usage(f"missing operand after '{args[0]}'")
    if len(args) > most:
        raise Usage(f"extra operand '{args[most]}'")
    set1 = expand(args[0])
    if "c" in flags:
        set1 = bytes(c for c in range(256) if c not in set1)
    table: bytes | None = None
    deleted = b""
    squeeze_set = b""
    if delete:
        deleted = set1
        if squeeze:
            squeeze_set = expand(args[1])
    elif len(args) == 2:
        set2 = expand(args[1])
        if not set2:
            raise Usage("when not truncating set1, string2 must be non-empty")
        if "t" in flags:
            set1 = set1[:len(set2)]
        set2 = set2 + set2[-1:] * (len(set1) - len(set2))
        mapping = list(range(256))
        for a, b in zip(set1, set2, strict=False):
            mapping[a] = b
        table = bytes(mapping)
        if squeeze:
            squeeze_set = set2
    else:
        squeeze_set = set1
    sq = set(squeeze_set)
    last = -1
    while data := read_block(sys.stdin.buffer):
        if table is not None:
            data = data.translate(table)
        if deleted:
            data = data.translate(None, deleted)
        if sq:
            out = bytearray()
            for c in data:
                if c == last and c in sq:
                    continue
                out.append(c)
                last = c
            data = bytes(out)
        io.write(data)
        io.flush()
    return io.status
