"""echo [-neE] — bash's echo (options only in leading words made of n/e/E)."""

from __future__ import annotations

from onesh.builtins.api import IO


def byte_char(v: int) -> str:
    """One raw byte as text: bytes >= 0x80 become surrogate escapes so that
    io.out writes the byte itself, not its UTF-8 encoding (bash's \\0377)."""
    v &= 0xFF
    return chr(v) if v < 0x80 else chr(0xDC00 + v)


def interpret_escapes(s: str, echo: bool = False) -> tuple[str, bool]:
    """echo -e / printf %b escapes.  Returns (text, stop) — stop after \\c.
    echo takes octal only as \\0nnn; %b also takes \\nnn."""
    out: list[str] = []
    i, n = 0, len(s)
    simple = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
              "t": "\t", "v": "\v", "\\": "\\"}
    while i < n:
        c = s[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        d = s[i + 1]
        i += 2
        if d in simple:
            out.append(simple[d])
        elif d == "c":
            return "".join(out), True
        elif d == "0":
            digits = ""
            while i < n and len(digits) < 3 and s[i] in "01234567":
                digits += s[i]
                i += 1
            out.append(byte_char(int(digits or "0", 8)))
        elif d in "1234567" and not echo:
            digits = d
            while i < n and len(digits) < 3 and s[i] in "01234567":
                digits += s[i]
                i += 1
            out.append(byte_char(int(digits, 8)))
        elif d == "x":
            digits = ""
            while i < n and len(digits) < 2 and s[i] in "0123456789abcdefABCDEF":
                digits += s[i]
                i += 1
            out.append(byte_char(int(digits, 16)) if digits else "\\x")
        elif d in "uU":
            lim = 4 if d == "u" else 8
            digits = ""
            while i < n and len(digits) < lim and s[i] in "0123456789abcdefABCDEF":
                digits += s[i]
                i += 1
            out.append(chr(int(digits, 16)) if digits else "\\" + d)
        else:
            out.append("\\" + d)
    return "".join(out), False


def echo(argv: list[str], io: IO) -> int:
    args = argv[1:]
    newline = True
    escapes = False
    while args and len(args[0]) > 1 and args[0][0] == "-" and all(c in "neE" for c in args[0][1:]):
        for c in args[0][1:]:
            if c == "n":
                newline = False
            elif c == "e":
                escapes = True
            else:
                escapes = False
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text, stop = interpret_escapes(text, echo=True)
        if stop:
            newline = False
    io.out(text + "\n" if newline else text)
    return 0
