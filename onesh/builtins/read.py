"""read — one line from stdin, split by IFS into variables.

From a pipe or terminal it reads one byte at a time so the rest of the input
stays for the next command, like bash; from a regular file it reads a chunk
and seeks back.
"""

from __future__ import annotations

import os
import select
import stat
import time
from typing import Any

from onesh.builtins.api import IO
from onesh.parser.words import is_name


def _read_record(fd: int, delim: str, nchars: int | None, timeout: float | None,
                 raw: bool, exact: bool = False) -> tuple[str, bool, bool]:
    """Returns (text, hit_eof, timed_out).  `-n` still stops at the
    delimiter; `-N` (exact) does not."""
    buf = bytearray()
    if nchars is not None and nchars <= 0:
        return "", False, False
    seekable = False
    try:
        seekable = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        pass
    dbyte = delim.encode()[:1] if delim else b"\0"
    count = 0  # whole characters (UTF-8), as bash counts for -n/-N
    pending = 0  # continuation bytes still expected for the current character
    escaped = False
    # One deadline for the whole record, not per byte, like bash's -t.
    deadline = None if timeout is None else time.monotonic() + timeout

    def done(eof: bool = False, timed_out: bool = False) -> tuple[str, bool, bool]:
        return buf.decode("utf-8", "surrogateescape"), eof, timed_out

    while True:
        if deadline is not None:
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not r:
                return done(timed_out=True)
        # Regular files may be read in chunks and rewound; pipes and ttys one
        # byte at a time so the rest of the input stays for the next command.
        chunk = os.read(fd, 4096 if seekable else 1)
        if not chunk:
            return done(eof=True)
        for k in range(len(chunk)):
            ch = chunk[k:k + 1]
            finished = False
            if not raw and escaped:
                escaped = False
                if ch == b"\n":
                    buf.pop()
                    continue
                buf += ch
                b = ch[0]
                if pending and 0x80 <= b < 0xC0:
                    pending -= 1
                else:
                    pending = 1 if 0xC0 <= b < 0xE0 else 2 if 0xE0 <= b < 0xF0 else 3 if 0xF0 <= b < 0xF8 else 0
                if not pending:
                    count += 1
            elif not raw and ch == b"\\":
                escaped = True
                buf += ch
            elif ch == dbyte and not exact:
                finished = True
            else:
                buf += ch
                b = ch[0]
                if pending and 0x80 <= b < 0xC0:
                    pending -= 1
                else:
                    pending = 1 if 0xC0 <= b < 0xE0 else 2 if 0xE0 <= b < 0xF0 else 3 if 0xF0 <= b < 0xF8 else 0
                if not pending:
                    count += 1
            if nchars is not None and count >= nchars:
                finished = True
            if finished:
                if seekable and k + 1 < len(chunk):
                    os.lseek(fd, k + 1 - len(chunk), os.SEEK_CUR)
                return done()


def _unescape(s: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append(s[i + 1])
            i += 2
        elif s[i] == "\\":
            i += 1
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def _split_fields(text: str, ifs: str, raw: bool, count: int | None) -> list[str]:
    """bash's read splitting: fields end at unescaped IFS characters; the
    last of `count` names takes the rest of the line (trailing IFS
    whitespace removed, and a single trailing IFS delimiter too when the
    rest is one field).  Without -r a backslash makes the next character
    literal, so `x\\ y` is one field."""
    chars: list[tuple[str, bool]] = []  # (character, escaped)
    i = 0
    while i < len(text):
        c = text[i]
        if not raw and c == "\\":
            if i + 1 < len(text):
                chars.append((text[i + 1], True))
            i += 2
            continue
        chars.append((c, False))
        i += 1
    ws = {c for c in ifs if c in " \t\n"}
    nws = {c for c in ifs if c not in " \t\n"}

    def is_ws(k: int) -> bool:
        return not chars[k][1] and chars[k][0] in ws

    def is_sep(k: int) -> bool:
        return not chars[k][1] and chars[k][0] in (ws | nws)

    def text_of(a: int, b: int) -> str:
        return "".join(c for c, _ in chars[a:b])

    fields: list[str] = []
    pos = 0
    n = len(chars)
    while pos < n and is_ws(pos):
        pos += 1
    while pos < n:
        if count is not None and len(fields) == count - 1:
            # Like bash: if one word is all that is left (its trailing
            # separators included), the variable gets that word; otherwise
            # the rest of the line minus trailing whitespace, where bash's
            # CTLESC handling also strips escaped blanks.
            k = pos
            while k < n and not is_sep(k):
                k += 1
            word_end = k
            while k < n and is_ws(k):
                k += 1
            if k < n and not chars[k][1] and chars[k][0] in nws:
                k += 1
                while k < n and is_ws(k):
                    k += 1
            if k >= n:
                fields.append(text_of(pos, word_end))
                return fields
            end = n
            while end > pos and chars[end - 1][0] in ws:
                end -= 1
            fields.append(text_of(pos, end))
            return fields
        start = pos
        while pos < n and not is_sep(pos):
            pos += 1
        fields.append(text_of(start, pos))
        while pos < n and is_ws(pos):
            pos += 1
        if pos < n and not chars[pos][1] and chars[pos][0] in nws:
            pos += 1
            while pos < n and is_ws(pos):
                pos += 1
    return fields


def read(argv: list[str], io: IO) -> int:
    args = argv[1:]
    raw = False
    prompt = None
    delim = "\n"
    nchars: int | None = None
    exact = False
    timeout: float | None = None
    array: str | None = None
    fd = io.stdin
    silent = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        a = args.pop(0)
        if a == "--":
            break
        k = 1
        while k < len(a):
            c = a[k]
            if c in "rse":
                raw = raw or c == "r"
                silent = silent or c == "s"
                k += 1
                continue
            if c in "pdntaNui":
                val = a[k + 1:] if k + 1 < len(a) else (args.pop(0) if args else None)
                if val is None:
                    io.error("read", f"-{c}: option requires an argument")
                    return 2
                try:
                    if c == "p":
                        prompt = val
                    elif c == "d":
                        delim = val[:1]
                    elif c in "nN":
                        nchars = int(val)
                        exact = c == "N"
                    elif c == "t":
                        timeout = float(val)
                    elif c == "a":
                        array = val
                    elif c == "u":
                        fd = int(val)
                    # -i TEXT only pre-fills readline input (-e): nothing to do
                except ValueError:
                    io.error("read", f"{val}: invalid number")
                    return 2
                break
            io.error("read", f"-{c}: invalid option")
            io.err("read: usage: read [-ers] [-a array] [-d delim] [-i text] [-n nchars] [-N nchars] [-p prompt] [-t timeout] [-u fd] [name ...]\n")
            return 2
    for n in ([array] if array is not None else args):
        if not is_name(n):
            io.error("read", f"`{n}': not a valid identifier")
            return 1
    try:
        os.fstat(fd)
    except OSError as e:
        io.error("read", f"{fd}: invalid file descriptor: {e.strerror}")
        return 1
    if timeout == 0:
        # `read -t 0` only reports whether input is waiting; it reads nothing
        ready, _, _ = select.select([fd], [], [], 0)
        return 0 if ready else 1
    tty = os.isatty(fd)
    if prompt is not None and tty:
        io.err(prompt)
    saved: list[Any] | None = None
    if silent and tty:
        import termios

        saved = termios.tcgetattr(fd)
        quiet = termios.tcgetattr(fd)
        quiet[3] &= ~termios.ECHO  # lflag
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    try:
        text, eof, timed_out = _read_record(fd, delim, nchars, timeout, raw, exact)
    except OSError as e:
        io.error("read", f"read error: {fd}: {e.strerror}")
        return 1
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(fd, termios.TCSANOW, saved)
    st = io.state
    names = args or ([] if array else ["REPLY"])
    ifs = st.get("IFS")
    ifs = " \t\n" if ifs is None else ifs
    if exact:
        st.set(names[0] if names else "REPLY", text)
    elif array is not None:
        st.set(array, dict(enumerate(_split_fields(text, ifs, raw, None))))
    elif names == ["REPLY"] and not args:
        st.set("REPLY", text if raw else _unescape(text))
    else:
        fields = _split_fields(text, ifs, raw, len(names))
        for k, name in enumerate(names):
            st.set(name, fields[k] if k < len(fields) else "")
    if timed_out:
        return 142
    return 1 if eof else 0
