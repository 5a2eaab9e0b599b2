"""uniq [-cdiu] [-f N] [-s N] [-w N] [INPUT [OUTPUT]]"""

from __future__ import annotations

from onesh.coreutils.common import Io, Usage, inputs, line_blocks, number, parse


def run(argv: list[str], io: Io) -> int:
    opts, args = parse(argv, "cdiuf:s:w:D", ["count", "repeated", "ignore-case", "unique", "skip-fields=",
                                              "skip-chars=", "check-chars="])
    long = {"--count": "-c", "--repeated": "-d", "--ignore-case": "-i", "--unique": "-u",
            "--skip-fields": "-f", "--skip-chars": "-s", "--check-chars": "-w"}
    flags: set[str] = set()
    skip_f = skip_c = 0
    width = -1
    for o, v in opts:
        o = long.get(o, o)
        if o == "-f":
            skip_f = number(v, "number of fields to skip")
        elif o == "-s":
            skip_c = number(v, "number of bytes to skip")
        elif o == "-w":
            width = number(v, "number of bytes to compare")
        else:
            flags.add(o[1])
    if len(args) > 2:
        raise Usage(f"extra operand '{args[2]}'")
    out_f = io.open_output(args[1]) if len(args) == 2 else None

    def key(line: bytes) -> bytes:
        s = line
        for _ in range(skip_f):
            s = s.lstrip(b" \t")
            i = 0
            while i < len(s) and s[i] not in b" \t":
                i += 1
            s = s[i:]
        s = s[skip_c:]
        if width >= 0:
            s = s[:width]
        return s.lower() if "i" in flags else s

    def emit(line: bytes, n: int) -> bytes:
        if ("d" in flags and n < 2) or ("u" in flags and n > 1):
            return b""
        return (b"%7d " % n if "c" in flags else b"") + line + b"\n"

    cur: bytes | None = None
    cur_key = b""
    count = 0
    for _, f in inputs(io, args[:1] if args and args[0] != "-" else []):
        for block in line_blocks(f):
            out = []
            for ln in block:
                ln = ln[:-1] if ln.endswith(b"\n") else ln
                k = key(ln)
                if cur is not None and k == cur_key:
                    count += 1
                    continue
                if cur is not None:
                    out.append(emit(cur, count))
                cur, cur_key, count = ln, k, 1
            data = b"".join(out)
            if out_f is not None:
                out_f.write(data)
            else:
                io.write(data)
                io.flush()
    if cur is not None:
        data = emit(cur, count)
        if out_f is not None:
            out_f.write(data)
        else:
            io.write(data)
    if out_f is not None:
        out_f.close()
    return io.status
