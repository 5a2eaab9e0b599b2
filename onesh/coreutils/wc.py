"""wc [-clmwL] [FILE...]"""

from __future__ import annotations

import os
import stat

from onesh.coreutils.common import Io, inputs, parse, read_block


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, "clmwL", ["bytes", "lines", "chars", "words", "max-line-length"])
    long = {"--bytes": "c", "--lines": "l", "--chars": "m", "--words": "w", "--max-line-length": "L"}
    sel = {long.get(o, o.lstrip("-")) for o, _ in opts} or {"l", "w", "c"}
    order = [k for k in "lwmcL" if k in sel]
    rows: list[tuple[list[int], str]] = []
    totals = [0] * 5
    regular_total = 0
    any_irregular = False
    for name, f in inputs(io, files):
        try:
            st = os.fstat(f.fileno())
            if stat.S_ISREG(st.st_mode):
                regular_total += st.st_size
            else:
                any_irregular = True
        except (OSError, AttributeError, ValueError):
            any_irregular = True
        lines = words = chars = nbytes = maxlen = 0
        in_word = False
        cur = 0
        while data := read_block(f):
            nbytes += len(data)
            lines += data.count(b"\n")
            if "w" in sel:
                parts = data.split()
                words += len(parts)
                if parts and in_word and not data[:1].isspace():
                    words -= 1
                in_word = not data[-1:].isspace()
            if "m" in sel:
                chars += sum(1 for b in data if b & 0xC0 != 0x80)
            if "L" in sel:
                for seg in data.split(b"\n")[:-1]:
                    maxlen = max(maxlen, cur + len(seg.expandtabs(8)))
                    cur = 0
                cur += len(data.rsplit(b"\n", 1)[-1])
                maxlen = max(maxlen, cur)
        vals = {"l": lines, "w": words, "m": chars, "c": nbytes, "L": maxlen}
        for i, k in enumerate("lwmcL"):
            totals[i] = max(totals[i], vals[k]) if k == "L" else totals[i] + vals[k]
        rows.append(([vals[k] for k in order], "" if name == "-" and not files else name))
    if len(files) > 1:
        tv = dict(zip("lwmcL", totals, strict=True))
        rows.append(([tv[k] for k in order], "total"))
    if len(order) == 1 and len(rows) == 1:
        width = 1
    elif any_irregular:
        width = 7
    else:
        width = max(1, len(str(regular_total)))
    for vals_, name in rows:
        text = " ".join(f"{v:>{width}}" for v in vals_)
        io.write((text + (f" {name}" if name else "") + "\n").encode("utf-8", "surrogateescape"))
    return io.status
