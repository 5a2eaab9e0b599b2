"""printf [-v var] format [arguments] — bash's printf.

The format is reused until the arguments are consumed; missing arguments
are empty strings or zero; invalid numbers print a message, use 0 and make
the status 1, like bash.
"""

from __future__ import annotations

from onesh.builtins.api import IO
from onesh.builtins.echo import byte_char, interpret_escapes

_CONV = "diouxXeEfFgGcsbqaA"
_FLAGS = "-+ #0'"


class _Args:
    def __init__(self, args: list[str], io: IO) -> None:
        self.args = args
        self.i = 0
        self.io = io
        self.status = 0

    def next(self) -> str | None:
        if self.i < len(self.args):
            self.i += 1
            return self.args[self.i - 1]
        return None

    def num(self, float_: bool = False, unsigned: bool = False) -> int | float:
        v = self._num(float_)
        if isinstance(v, int):
            lo, hi = (-(1 << 64) + 1, (1 << 64) - 1) if unsigned else (-(1 << 63), (1 << 63) - 1)
            if not lo <= v <= hi:
                # bash clamps like strtoimax/strtoumax and only warns
                self.io.error("printf", f"warning: {self.args[self.i - 1]}: Numerical result out of range")
                v = max(lo, min(hi, v))
        return v

    def _num(self, float_: bool = False) -> int | float:
        s = self.next()
        if s is None or s == "":
            return 0.0 if float_ else 0
        if s[0] in "'\"":
            return ord(s[1]) if len(s) > 1 else 0
        t = s.strip()
        try:
            if float_:
                if t.lstrip("+-")[:2].lower() == "0x":
                    return float.fromhex(t)  # strtold accepts hex too
                return float(t)
            neg = t.startswith("-")
            body = t.lstrip("+-")
            if body.lower().startswith("0x"):
                v = int(body[2:], 16)
            elif len(body) > 1 and body.startswith("0"):
                v = int(body, 8)
            else:
                v = int(body, 10)
            return -v if neg else v
        except ValueError:
            self.io.error("printf", f"{s}: invalid number")
            self.status = 1
            # bash uses the leading numeric prefix
            if float_:
                import re

                m = re.match(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", t)
                return float(m.group(0)) if m else 0.0
            prefix = ""
            for ch in t:
                if ch.isdigit() or (not prefix and ch in "+-"):
                    prefix += ch
                else:
                    break
            try:
                return float(prefix) if float_ else int(prefix)
            except ValueError:
                return 0.0 if float_ else 0


def _shell_quote(s: str) -> str:
    if s == "":
        return "''"
    if all(c.isalnum() or c in "@%+=:./-_" for c in s) and s[0] != "~" and "=~" not in s and ":~" not in s:
        return s
    if any(ord(c) < 32 or c == "\x7f" for c in s):
        enc = "".join({"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x1b": "\\E", "'": "\\'", "\\": "\\\\"}.get(c, c if ord(c) >= 32 and c != "\x7f" else f"\\{ord(c):03o}") for c in s)
        return "$'" + enc + "'"
    out: list[str] = []
    for k, c in enumerate(s):
        # bash's sh_backslash_quote: `#` only at the start, `~` at the start
        # or after = or :
        if c in " \t'\"\\|&;()<>!{}*[]?^$`,":
            out.append("\\" + c)
        elif c == "#" and k == 0:
            out.append("\\#")
        elif c == "~" and (k == 0 or s[k - 1] in "=:"):
            out.append("\\~")
        else:
            out.append(c)
    return "".join(out)


def format_once(fmt: str, a: _Args) -> tuple[str, bool, bool]:
    """Render fmt once.  Returns (text, consumed_any_arg, stop)."""
    out: list[str] = []
    i, n = 0, len(fmt)
    consumed = False
    while i < n:
        c = fmt[i]
        if c == "\\":
            # escapes in the format itself
            j = i + 1
            if j < n and fmt[j] in "01234567":
                k = j
                while k < n and k - j < 3 and fmt[k] in "01234567":
                    k += 1
                out.append(byte_char(int(fmt[j:k], 8)))
                i = k
                continue
            seg, stop = interpret_escapes(fmt[i:i + 2] if j < n and fmt[j] not in "xuU" else _escape_chunk(fmt, i))
            if stop:
                return "".join(out), consumed, True
            out.append(seg)
            i += len(fmt[i:i + 2]) if j < n and fmt[j] not in "xuU" else len(_escape_chunk(fmt, i))
            continue
        if c != "%":
            out.append(c)
            i += 1
            continue
        if i + 1 < n and fmt[i + 1] == "%":
            out.append("%")
            i += 2
            continue
        j = i + 1
        flags = ""
        while j < n and fmt[j] in _FLAGS:
            flags += fmt[j]
            j += 1
        width = ""
        if j < n and fmt[j] == "*":
            consumed = True
            width = str(int(a.num()))
            j += 1
        else:
            while j < n and fmt[j].isdigit():
                width += fmt[j]
                j += 1
        prec: str | None = None
        if j < n and fmt[j] == ".":
            j += 1
            if j < n and fmt[j] == "*":
                consumed = True
                prec = str(int(a.num()))
                j += 1
            else:
                prec = ""
                while j < n and fmt[j].isdigit():
                    prec += fmt[j]
                    j += 1
        while j < n and fmt[j] in "hlLjzt":
            j += 1
        if j < n and fmt[j] == "(":
            close = fmt.find(")", j)
            if close != -1 and close + 1 < n and fmt[close + 1] == "T":
                consumed = True
                out.append(_strftime(fmt[j + 1:close], a, flags, width, prec))
                i = close + 2
                continue
        if j >= n:
            a.io.error("printf", f"`{fmt[i:]}': missing format character")
            a.status = 1
            return "".join(out), consumed, True
        conv = fmt[j]
        i = j + 1
        if conv not in _CONV:
            a.io.error("printf", f"`{conv}': invalid format character")
            a.status = 1
            return "".join(out), consumed, True
        if width.startswith("-"):
            flags += "-"
            width = width[1:]
        spec = "%" + flags.replace("'", "") + width + ("." + prec if prec is not None else "")
        consumed = True
        if conv in "sbqc":
            arg = a.next()
            s = "" if arg is None else arg
            stop = False
            if conv == "b":
                s, stop = interpret_escapes(s)
            elif conv == "q":
                s = _shell_quote(s) if arg is not None else "''"
            elif conv == "c":
                # bash prints a NUL byte for an empty or missing argument
                s = s.encode("utf-8", "surrogateescape")[:1].decode("utf-8", "surrogateescape") if s else "\0"
                spec = "%" + flags.replace("'", "") + width
            # bash pads and truncates bytes, not characters, even in UTF-8
            raw = s.encode("utf-8", "surrogateescape")
            out.append(((spec + "s") % raw.decode("latin-1")).encode("latin-1").decode("utf-8", "surrogateescape"))
            if stop:
                return "".join(out), consumed, True
        elif conv in "diouxX":
            out.append(_format_int(int(a.num(unsigned=conv in "ouxX")), conv, flags, width, prec))
        else:
            fv = float(a.num(float_=True))
            if fv != fv or fv in (float("inf"), float("-inf")):
                # C ignores the 0 flag for inf and nan
                spec = "%" + flags.replace("'", "").replace("0", "").replace("#", "") + width
                import math

                text = ("-" if math.copysign(1.0, fv) < 0 else "+" if "+" in flags else " " if " " in flags else "") + (
                    "nan" if fv != fv else "inf")
                text = text.upper() if conv.isupper() else text
                out.append((spec + "s") % text)
            elif conv in "aA":
                out.append(_hexfloat(fv, conv, flags, width, prec))
            else:
                out.append((spec + conv) % fv)
    return "".join(out), consumed, False


def _format_int(v: int, conv: str, flags: str, width: str, prec: str | None) -> str:
    """C's integer conversions: unsigned ones ignore `+` and space, a
    precision disables `0` padding, and precision 0 prints nothing for 0."""
    fl = flags.replace("'", "")
    if conv in "ouxX":
        fl = fl.replace("+", "").replace(" ", "")
        if v < 0:
            v &= (1 << 64) - 1
    mag = abs(v)
    digits = {"o": f"{mag:o}", "x": f"{mag:x}", "X": f"{mag:X}"}.get(conv, str(mag))
    if prec is not None:
        p = int(prec or 0)
        digits = "" if p == 0 and v == 0 else digits.zfill(p)
        fl = fl.replace("0", "")
    sign = ""
    if conv in "di":
        sign = "-" if v < 0 else "+" if "+" in fl else " " if " " in fl else ""
    prefix = ""
    if "#" in fl:
        if conv == "o" and not digits.startswith("0"):
            digits = "0" + digits
        elif conv in "xX" and v != 0:
            prefix = "0" + conv
    head = sign + prefix
    w = int(width or 0)
    body = head + digits
    if len(body) >= w:
        return body
    if "-" in fl:
        return body.ljust(w)
    if "0" in fl:
        return head + digits.rjust(w - len(head), "0")
    return body.rjust(w)


def _hexfloat(x: float, conv: str, flags: str, width: str, prec: str | None) -> str:
    """%a as glibc prints bash's long double: a 64-bit mantissa, so the
    leading hex digit holds four bits (1.0 is 0x8p-3)."""
    import math

    sign = "-" if math.copysign(1.0, x) < 0 else "+" if "+" in flags else " " if " " in flags else ""
    x = abs(x)
    if x == 0:
        lead, frac, exp = 0, 0, 0
    else:
        f, e = math.frexp(x)
        m = int(f * (1 << 64))
        lead, frac, exp = m >> 60, m & ((1 << 60) - 1), e - 4
    digits = f"{frac:015x}"
    if prec is None:
        digits = digits.rstrip("0")
    else:
        p = int(prec or 0)
        if p < 15:
            scaled = (lead << 60 | frac)
            drop = 4 * (15 - p)
            q, r = divmod(scaled, 1 << drop)
            half = 1 << (drop - 1)
            if r > half or (r == half and q & 1):
                q += 1
            lead, frac = q >> (4 * p), q & ((1 << (4 * p)) - 1)
            if lead >= 16:
                lead, frac, exp = 1, 0, exp + 4  # glibc renormalises 0x10p+n as 0x1p+(n+4)
            digits = f"{frac:0{p}x}" if p else ""
        else:
            digits = digits + "0" * (p - 15)
    point = "." if digits or "#" in flags else ""
    body = f"{lead:x}{point}{digits}p{exp:+d}"
    head = sign + "0x"
    if conv == "A":
        body, head = body.upper(), head.upper()
    w = int(width or 0)
    if len(head) + len(body) >= w:
        return head + body
    if "-" in flags:
        return (head + body).ljust(w)
    if "0" in flags:
        return head + body.rjust(w - len(head), "0")
    return (head + body).rjust(w)


def _strftime(tfmt: str, a: _Args, flags: str, width: str, prec: str | None) -> str:
    """%(fmt)T: the argument is epoch seconds; empty or -1 is now, -2 the
    shell's start (approximated by now)."""
    import time

    arg = a.next()
    secs: float
    if arg is None or arg.strip() in ("", "-1", "-2"):
        secs = time.time()
    else:
        a.i -= 1
        secs = float(a.num())
    text = time.strftime(tfmt or "%X", time.localtime(secs))
    spec = "%" + flags.replace("'", "").replace("#", "").replace("0", "") + width + ("." + prec if prec is not None else "")
    return (spec + "s") % text


def _escape_chunk(fmt: str, i: int) -> str:
    j = i + 2
    lim = {"x": 2, "u": 4, "U": 8}[fmt[i + 1]]
    while j < len(fmt) and j - (i + 2) < lim and fmt[j] in "0123456789abcdefABCDEF":
        j += 1
    return fmt[i:j]


def printf(argv: list[str], io: IO) -> int:
    args = argv[1:]
    var: str | None = None
    if args and args[0] == "-v":
        if len(args) < 2:
            io.error("printf", "-v: option requires an argument")
            return 2
        var = args[1]
        args = args[2:]
        from onesh.parser.words import is_name

        if not is_name(var.partition("[")[0]):
            io.error("printf", f"`{var}': not a valid identifier")
            return 2
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        io.err("printf: usage: printf [-v var] format [arguments]\n")
        return 2
    fmt, rest = args[0], args[1:]
    a = _Args(rest, io)
    chunks: list[str] = []
    while True:
        text, consumed, stop = format_once(fmt, a)
        chunks.append(text)
        if stop or not consumed or a.i >= len(rest):
            break
    result = "".join(chunks)
    if var is not None:
        base, _, index = var.partition("[")
        if index.endswith("]") and index[:-1].lstrip("-").isdigit():
            io.state.set_index(base, int(index[:-1]), result)
        else:
            io.state.set(var, result)
    else:
        io.out(result)
    return a.status
