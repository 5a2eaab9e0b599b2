"""tr [-cCdst] SET1 [SET2]

Bytes (C locale).  SETs understand ranges a-z, classes [:alpha:] [:digit:]
[:space:] [:upper:] [:lower:] [:alnum:] [:punct:] [:blank:] [:cntrl:]
[:graph:] [:print:] [:xdigit:], equivalence classes [=c=], repeats [c*n]
and [c*] (SET2), and escapes \\a \\b \\f \\n \\r \\t \\v \\\\ \\NNN.
Translation, deletion and squeezing run on whole blocks (bytes.translate
and a regex for -s)."""

from __future__ import annotations

import re

from onesh.coreutils.common import Io, Usage, canon, parse, read_block

CLASSES = {
    "alpha": bytes(c for c in range(128) if chr(c).isalpha()),
    "digit": b"0123456789",
    "alnum": bytes(c for c in range(128) if chr(c).isalnum()),
    "upper": bytes(range(65, 91)),
    "lower": bytes(range(97, 123)),
    "space": b"\t\n\x0b\x0c\r ",
    "blank": b"\t ",
    "punct": bytes(c for c in range(33, 127) if not chr(c).isalnum()),
    "print": bytes(range(32, 127)),
    "graph": bytes(range(33, 127)),
    "cntrl": bytes([*range(32), 127]),
    "xdigit": b"0123456789ABCDEFabcdef",
}
ESC = {ord("n"): 10, ord("t"): 9, ord("r"): 13, ord("a"): 7, ord("b"): 8, ord("f"): 12, ord("v"): 11}

Item = tuple[str, int, int]  # ("c", byte, 0) | ("class", index-in-names, 0) | ("repeat", byte, count or -1)
CLASS_NAMES = list(CLASSES)


def _unescape(b: bytes, i: int) -> tuple[int, int]:
    """The byte at b[i] (resolving a backslash escape) and the next index."""
    c = b[i]
    if c != 92 or i + 1 >= len(b):
        return c, i + 1
    n = b[i + 1]
    if 48 <= n <= 55:
        j = i + 1
        while j < len(b) and j < i + 4 and 48 <= b[j] <= 55:
            j += 1
        v = int(b[i + 1:j], 8)
        if v > 255:  # GNU reads at most a byte's worth: \400 is \40 then '0'
            j -= 1
            v = int(b[i + 1:j], 8)
        return v, j
    return ESC.get(n, n), i + 2


def _items(text: str, is_set2: bool) -> list[Item]:
    b = text.encode("utf-8", "surrogateescape")
    out: list[Item] = []
    i = 0
    while i < len(b):
        if b[i] == 91 and b[i + 1:i + 2] == b":":
            end = b.find(b":]", i + 2)
            if end > 0:
                name = b[i + 2:end].decode("latin-1")
                if name not in CLASSES:
                    raise Usage(f"invalid character class '{name}'")
                out.append(("class", CLASS_NAMES.index(name), 0))
                i = end + 2
                continue
        if b[i] == 91 and b[i + 1:i + 2] == b"=":
            end = b.find(b"=]", i + 2)
            if end > 0 and end - (i + 2) >= 1:
                c, j = _unescape(b, i + 2)
                if j == end:
                    out.append(("c", c, 0))
                    i = end + 2
                    continue
        if b[i] == 91 and i + 2 < len(b):
            c, j = _unescape(b, i + 1)
            if b[j:j + 1] == b"*":
                end = b.find(b"]", j + 1)
                if end > 0 and re.fullmatch(rb"\d*", b[j + 1:end]):
                    if not is_set2:
                        raise Usage("the [c*] repeat construct may not appear in string1")
                    digits = b[j + 1:end]
                    count = (int(digits, 8) if digits.startswith(b"0") else int(digits)) if digits else 0
                    out.append(("repeat", c, count if count else -1))
                    i = end + 1
                    continue
        c, j = _unescape(b, i)
        if b[j:j + 1] == b"-" and j + 1 < len(b):
            hi, k = _unescape(b, j + 1)
            if hi < c:
                raise Usage(f"range-endpoints of '{chr(c)}-{chr(hi)}' are in reverse collating sequence order")
            out.extend(("c", x, 0) for x in range(c, hi + 1))
            i = k
            continue
        out.append(("c", c, 0))
        i = j
    if sum(1 for kind, _, n in out if kind == "repeat" and n < 0) > 1:
        raise Usage("only one [c*] repeat construct may appear in string2")
    return out


def _expand(items: list[Item], fill_to: int = 0) -> bytes:
    fixed = sum(len(CLASSES[CLASS_NAMES[v]]) if k == "class" else (n if k == "repeat" and n > 0 else
                (0 if k == "repeat" else 1)) for k, v, n in items)
    out = bytearray()
    filled = False
    for kind, v, n in items:
        if kind == "class":
            out += CLASSES[CLASS_NAMES[v]]
        elif kind == "repeat":
            if n > 0:
                out += bytes([v]) * n
            elif not filled:
                out += bytes([v]) * max(0, fill_to - fixed)
                filled = True
        else:
            out.append(v)
    return bytes(out)


def _no_repeat(items: list[Item]) -> list[Item]:
    if any(kind == "repeat" for kind, _, _ in items):
        raise Usage("the [c*] construct may appear in string2 only when translating")
    return items


LONG = {"--complement": "-c", "--delete": "-d", "--squeeze-repeats": "-s", "--truncate-set1": "-t"}


SHORT = "cCdst"


def run(argv: list[str], io: Io) -> int:
    opts, args = parse(argv, SHORT, [k[2:] for k in LONG])
    flags = {o[1] for o, _ in canon(opts, LONG)}
    if "C" in flags:
        flags.add("c")
    delete, squeeze = "d" in flags, "s" in flags
    if not args:
        raise Usage("missing operand")
    need = 2 if (delete and squeeze) or not (delete or squeeze) else 1
    most = 2 if squeeze and not delete else need
    if len(args) < need:
        raise Usage(f"missing operand after '{args[0]}'" if delete or squeeze else
                    f"missing operand after '{args[0]}'\nTwo strings must be given when translating.")
    if len(args) > most:
        raise Usage(f"extra operand '{args[most]}'")
    items1 = _items(args[0], False)
    set1 = _expand(items1)
    if "c" in flags:
        present = set(set1)
        set1 = bytes(c for c in range(256) if c not in present)
    table: bytes | None = None
    deleted = b""
    squeeze_set = b""
    if delete:
        deleted = set1
        if squeeze:
            squeeze_set = _expand(_no_repeat(_items(args[1], True)))
    elif len(args) == 2:
        items2 = _items(args[1], True)
        for kind, v, _ in items2:
            if kind == "class" and CLASS_NAMES[v] not in ("upper", "lower"):
                raise Usage("when translating, the only character classes that may appear in\n"
                            "string2 are 'upper' and 'lower'")
        set2 = _expand(items2, len(set1))
        if "c" in flags and len(set(set2)) > 1 and any(kind == "class" for kind, _, _ in items1):
            raise Usage("when translating with complemented character classes,\n"
                        "string2 must map all characters in the domain to one")
        if "t" in flags:
            set1 = set1[:len(set2)]
        elif not set2:
            raise Usage("when not truncating set1, string2 must be non-empty")
        set2 = set2 + set2[-1:] * (len(set1) - len(set2))
        mapping = list(range(256))
        for a, b in zip(set1, set2, strict=False):
            mapping[a] = b
        table = bytes(mapping)
        if squeeze:
            squeeze_set = set2
    else:
        squeeze_set = set1
    rx = None  # -s: a run of one byte of squeeze_set becomes one
    if squeeze_set:
        cls = b"".join(re.escape(bytes([c])) for c in sorted(set(squeeze_set)))
        rx = re.compile(b"([" + cls + b"])\\1+")
        members = frozenset(squeeze_set)
    last = -1
    while data := read_block(io.stdin):
        if table is not None:
            data = data.translate(table)
        if deleted:
            data = data.translate(None, deleted)
        if rx is not None and data:
            data = rx.sub(rb"\1", data)
            if last >= 0 and last in members:
                data = data.lstrip(bytes([last]))
            if data:
                last = data[-1]
        if data:
            io.write(data)
            io.flush()
    return io.status
