"""wc [-clmwL] [FILE...]  (C locale: -m counts bytes; a word is a run of
printable non-space bytes, non-printable bytes neither make nor break
one; -L counts printable columns with tabs to 8)"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

from onesh.coreutils.common import Io, canon, fsname, parse, read_block, why

LONG = {"--bytes": "-c", "--lines": "-l", "--chars": "-m", "--words": "-w", "--max-line-length": "-L"}
_INVISIBLE = bytes(c for c in range(256) if not (32 <= c < 127) and c not in b" \t\n\r\x0b\x0c")
_LINE_END = re.compile(rb"[\n\r\x0c]")


class Counter:
    def __init__(self, sel: set[str]) -> None:
        self.sel = sel
        self.lines = self.words = self.nbytes = self.maxlen = 0
        self.in_word = False
        self.partial = b""  # -L: the current line so far

    def feed(self, data: bytes) -> None:
        self.nbytes += len(data)
        if "l" in self.sel:  # (a count of a GiB's newlines costs 0.15 s: only when asked for)
            self.lines += data.count(b"\n")
        if "w" in self.sel:
            visible = data.translate(None, _INVISIBLE)
            if visible:
                parts = visible.split()
                self.words += len(parts)
                if parts and self.in_word and not visible[:1].isspace():
                    self.words -= 1
                self.in_word = not visible[-1:].isspace()
        if "L" in self.sel:
            segs = _LINE_END.split(self.partial + data)
            for seg in segs[:-1]:
                self.maxlen = max(self.maxlen, _width(seg))
            self.partial = segs[-1]

    def finish(self) -> None:
        if self.partial:
            self.maxlen = max(self.maxlen, _width(self.partial))
            self.partial = b""

    # A checkpoint of a wc restarted elsewhere (runtime/agentpipes.py):
    # its counts so far, as JSON.
    def snapshot(self) -> dict[str, Any]:
        return {"lines": self.lines, "words": self.words, "bytes": self.nbytes, "maxlen": self.maxlen,
                "in_word": self.in_word, "partial": self.partial.decode("latin-1")}

    def restore(self, state: dict[str, Any]) -> None:
        self.lines, self.words = int(state["lines"]), int(state["words"])
        self.nbytes, self.maxlen = int(state["bytes"]), int(state["maxlen"])
        self.in_word, self.partial = bool(state["in_word"]), str(state["partial"]).encode("latin-1")


def _width(seg: bytes) -> int:
    seg = seg.translate(None, _INVISIBLE.replace(b"\t", b""))
    return len(seg.expandtabs(8)) if b"\t" in seg else len(seg)


SHORT = "clmwL"


def run(argv: list[str], io: Io) -> int:
    opts, files = parse(argv, SHORT, [k[2:] for k in LONG])
    sel = {o[1] for o, _ in canon(opts, LONG)} or {"l", "w", "c"}
    order = [k for k in "lwmcL" if k in sel]
    names = files or ["-"]
    if len(order) == 1 and len(names) == 1:
        width = 1
    else:
        # As GNU: digits of the total size of the regular files, at least 7
        # when some input is not a regular file.
        total_size, irregular = 0, False
        for name in names:
            try:
                st = os.fstat(io.stdin.fileno()) if name == "-" else os.stat(name)
            except (OSError, AttributeError, ValueError):
                if name == "-":
                    irregular = True
                continue
            if stat.S_ISREG(st.st_mode):
                total_size += st.st_size
            else:
                irregular = True
        width = max(1, len(str(total_size)), 7 if irregular else 1)
    totals = dict.fromkeys("lwmcL", 0)

    def row(vals: dict[str, int], name: str | None) -> None:
        text = " ".join(f"{vals[k]:>{width}}" for k in order).encode()
        io.write(text + (b" " + fsname(name) if name is not None else b"") + b"\n")

    for name in names:
        try:
            f = io.open_input(name)
        except IsADirectoryError as e:
            io.error(f"{name}: {why(e)}")
            row(dict.fromkeys("lwmcL", 0), name)
            continue
        except OSError as e:
            io.error(f"{name}: {why(e)}")
            continue
        try:
            c = Counter(sel)
            size = _regular_size(f)
            if sel <= {"c"} and size is not None and _at_start(f):
                c.nbytes = size
            else:
                track = getattr(f, "track", None)  # (a network pipe: checkpoints of our counts)
                if track is not None:
                    track(c)
                while data := read_block(f):
                    c.feed(data)
                c.finish()
        finally:
            if f is not io.stdin:
                f.close()
        vals = {"l": c.lines, "w": c.words, "m": c.nbytes, "c": c.nbytes, "L": c.maxlen}
        for k in "lwmcL":
            totals[k] = max(totals[k], vals[k]) if k == "L" else totals[k] + vals[k]
        row(vals, name if files else None)
        io.flush()
    if len(names) > 1:
        row(totals, "total")
    return io.status


def _regular_size(f: Any) -> int | None:
    try:
        st = os.fstat(f.fileno())
    except (OSError, AttributeError, ValueError):
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def _at_start(f: Any) -> bool:
    try:
        return int(f.tell()) == 0
    except (OSError, AttributeError, ValueError):
        return False
