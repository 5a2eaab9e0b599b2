"""Word expansion in bash order: brace, tilde, parameter, command
substitution, arithmetic, field splitting, pathname expansion, quote removal.

A word expands into *fields*; each field is a list of segments that remember
whether they were quoted, because only unquoted expansion results are split
and only unquoted characters are live glob characters.
"""

from __future__ import annotations

import os

from onesh.engine import arith, pattern
from onesh.engine.braces import brace_expand
from onesh.errors import ExpansionError
from onesh.parser import ast as A
from onesh.record import Record, field

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from onesh.engine.interp import Interpreter


class UnboundError(ExpansionError):
    pass


# Variables whose value the expander computes on each reference.
DYNAMIC = frozenset({"RANDOM", "LINENO", "SECONDS", "PIPESTATUS"})


class Seg(Record):
    text: str
    quoted: bool


class _Builder(Record):
    """Accumulates fields while a word is being expanded."""

    fields: list[list[Seg]] = field(default_factory=list)
    cur: list[Seg] = field(default_factory=list)
    has_content: bool = False

    def add(self, text: str, quoted: bool) -> None:
        self.cur.append(Seg(text, quoted))
        self.has_content = True

    def end_field(self) -> None:
        if self.has_content:
            self.fields.append(self.cur)
        self.cur = []
        self.has_content = False

    def finish(self) -> list[list[Seg]]:
        self.end_field()
        return self.fields


_DEFAULT_IFS = " \t\n"


def ifs_split(value: str, ifs: str) -> tuple[list[str], bool, bool]:
    """Split an unquoted expansion result.  Returns (pieces, leading_sep,
    trailing_sep) so a piece can join the text before/after it in the word."""
    if not value:
        return [], False, False
    if ifs == "":
        return [value], False, False
    ws = "".join(c for c in ifs if c in " \t\n")
    nws = "".join(c for c in ifs if c not in " \t\n")
    core = value.strip(ws) if ws else value
    lead = len(core) != len(value) and value[: 1] in ws and bool(ws)
    trail = bool(ws) and len(core) != len(value) and value[-1:] in ws and value[-1:] != ""
    if not core:
        return [], True, True
    if nws:
        import re  # off the start-up path: default IFS never needs it

        w = f"[{re.escape(ws)}]*" if ws else ""
        rx = f"{w}[{re.escape(nws)}]{w}" + (f"|[{re.escape(ws)}]+" if ws else "")
        pieces = re.split(rx, core)
        if core[-1] in nws:
            pieces.pop()
            trail = True
    else:
        for c in ws[1:]:
            core = core.replace(c, ws[0])
        pieces = [p for p in core.split(ws[0]) if p]
    return pieces, lead, trail


class Expander:
    def __init__(self, interp: Interpreter) -> None:
        self.interp = interp
        self.state = interp.state
        self.arith_env = arith.Env(self._arith_get, self._arith_put)

    # ------------------------------------------------------------ public
    def words(self, words: Sequence[A.Word]) -> list[str]:
        """Full expansion of command words into argv."""
        out: list[str] = []
        for w in words:
            for bw in brace_expand(w) if _may_brace(w) else (w,):
                out.extend(self.word_fields(bw))
        return out

    def word_fields(self, w: A.Word, *, glob: bool = True) -> list[str]:
        b = _Builder()
        self._parts(w.parts, b, quoted=False, split=True)
        out: list[str] = []
        noglob = "noglob" in self.state.options
        for segs in b.finish():
            text = "".join(s.text for s in segs)
            if glob and not noglob:
                pat = "".join(pattern.escape(s.text) if s.quoted else s.text for s in segs)
                if pattern.has_glob(pat):
                    matches = self.pathnames(pat)
                    if matches:
                        out.extend(matches)
                        continue
                    if "nullglob" in self.state.options:
                        continue
                    if "failglob" in self.state.options:
                        raise ExpansionError(f"no match: {text}", w.span)
            out.append(text)
        return out

    def pathnames(self, pat: str) -> list[str]:
        """Pathname expansion of an escaped pattern.  An absolute one may
        name the cluster namespace (`/dev/sensor/*`, `/net/*`) when the shell
        has a cluster hook: onesh.engine.nsglob decides."""
        dotglob = "dotglob" in self.state.options
        if self.interp.cluster is not None and not self.interp.in_stage:
            from onesh.engine.clusterpaths import in_namespace_dir

            if pat.startswith("/"):
                from onesh.engine import nsglob

                return nsglob.pathnames(self.interp, pat, dotglob=dotglob)
            if in_namespace_dir(self.interp):
                # $PWD is a namespace directory (cd /net/r2): a relative
                # pattern matches there, and the names stay relative.
                from onesh.engine import nsglob

                base = (self.state.get("PWD") or "").rstrip("/") + "/"
                found = nsglob.pathnames(self.interp, pattern.escape(base) + pat, dotglob=dotglob)
                return [m[len(base):] for m in found if m.startswith(base)]
        return pattern.glob(pat, dotglob=dotglob)

    def single(self, w: A.Word) -> str:
        """Expansion without splitting or globbing (assignments, here-docs,
        case words, [[ operands)."""
        b = _Builder()
        self._parts(w.parts, b, quoted=False, split=False)
        return "".join(s.text for segs in b.finish() for s in segs)

    def pattern(self, w: A.Word) -> str:
        """Expansion into a pattern: quoted characters are escaped."""
        b = _Builder()
        self._parts(w.parts, b, quoted=False, split=False)
        return "".join(pattern.escape(s.text) if s.quoted else s.text for segs in b.finish() for s in segs)

    def regex(self, w: A.Word) -> str:
        """[[ =~ ]] right side: quoted parts match literally."""
        import re

        b = _Builder()
        self._parts(w.parts, b, quoted=False, split=False)
        return "".join(re.escape(s.text) if s.quoted else s.text for segs in b.finish() for s in segs)

    def arith(self, w: A.Word) -> int:
        parts = w.parts
        # `$((i + 1))`: one literal, nothing to expand before evaluating
        text = parts[0].text if len(parts) == 1 and isinstance(parts[0], A.Lit) else self.single(w)
        return arith.run(text, self.arith_env)

    def arith_code(self, w: A.Word) -> Callable[[], int]:
        """`w` evaluated arithmetically, as a closure: compiled once here
        when its text is fixed (the usual case), else expanded and looked
        up in the compiled-text cache on each call."""
        parts = w.parts
        if len(parts) == 1 and isinstance(parts[0], A.Lit):
            code, env = arith.compile_expr(parts[0].text), self.arith_env
            return lambda: code(env)
        return lambda: self.arith(w)

    def _arith_get(self, name: str) -> str | None:
        """A variable's value for arithmetic; `name[index]` is an element
        (the index already evaluated by the arithmetic)."""
        if name[-1] == "]":
            base, _, index = name[:-1].partition("[")
            arr = self.state.get_array(base)
            if arr is None:
                if "nounset" in self.state.options:
                    raise UnboundError(f"{base}[{index}]: unbound variable")
                return None
            i = int(index)
            if i < 0:
                i += (max(arr) + 1) if arr else 0
            return arr.get(i)
        if name in DYNAMIC:
            return self.dynamic(name)
        v = self.state.var(name)
        if v is None:
            if name != "_" and "nounset" in self.state.options:
                raise UnboundError(f"{name}: unbound variable")
            return None
        value = v.value
        return value.get(0) if isinstance(value, dict) else value

    def _arith_put(self, name: str, text: str) -> None:
        if name[-1] == "]":
            base, _, index = name[:-1].partition("[")
            self.state.set_index(base, int(index), text)
            return
        self.state.set(name, text)

    # ----------------------------------------------------------- internals
    def _parts(self, parts: Sequence[A.WordPart], b: _Builder, *, quoted: bool, split: bool) -> None:
        for p in parts:
            if isinstance(p, A.Lit):
                b.add(p.text, quoted)
            elif isinstance(p, (A.SQuoted, A.Escaped, A.AnsiCQuoted)):
                b.add(p.text, True)
            elif isinstance(p, A.DQuoted):
                if not p.parts:
                    b.add("", True)
                    continue
                only_at = all(isinstance(x, A.Param) and x.name == "@" and x.op is None and not x.length
                              and x.index is None for x in p.parts)
                if not only_at:
                    b.has_content = True
                self._parts(p.parts, b, quoted=True, split=split)
            elif isinstance(p, A.Tilde):
                b.add(self._tilde(p), True)
            elif isinstance(p, A.Param):
                self._param(p, b, quoted, split)
            elif isinstance(p, A.CmdSub):
                out = self.interp.command_substitution(p.body)
                self._add_expansion(out, b, quoted, split)
            elif isinstance(p, A.ProcSub):
                b.add(self.interp.process_substitution(p.body, out=p.out), True)
            elif isinstance(p, A.ArrayWords):
                values = self.words(p.elements)
                b.add(A.COMPOUND_MARK + "(" + " ".join(_shell_quote(v) for v in values) + ")", True)
            elif isinstance(p, A.ArithSub):
                try:
                    val = str(self.arith(p.expr))
                except ExpansionError as e:
                    if e.span is None:
                        e.span = p.span
                    raise
                self._add_expansion(val, b, quoted, split)

    def _add_expansion(self, value: str, b: _Builder, quoted: bool, split: bool) -> None:
        if quoted or not split:
            b.add(value, quoted)
            return
        ifs = self.state.get("IFS")
        pieces, lead, trail = ifs_split(value, _DEFAULT_IFS if ifs is None else ifs)
        if not pieces:
            if lead:
                b.end_field()
            return
        if lead:
            b.end_field()
        for k, piece in enumerate(pieces):
            if k:
                b.end_field()
            b.add(piece, False)
        if trail:
            b.end_field()

    def _tilde(self, p: A.Tilde) -> str:
        if p.user == "":
            home = self.state.get("HOME")
            if home is not None:
                return home
            import pwd

            try:
                return pwd.getpwuid(os.getuid()).pw_dir
            except KeyError:
                return "~"
        if p.user == "+":
            return self.state.get("PWD") or os.getcwd()
        if p.user == "-":
            return self.state.get("OLDPWD") or "~-"
        import pwd

        try:
            return pwd.getpwnam(p.user).pw_dir
        except KeyError:
            return "~" + p.user

    # -------------------------------------------------------- parameters
    def positional_all(self) -> list[str]:
        return list(self.state.positional)

    def _lookup(self, p: A.Param) -> str | list[str] | None:
        """The raw value: None if unset, a list for $@ $* and arr[@]."""
        name = p.name
        st = self.state
        if p.index is not None:
            arr = st.get_array(name)
            idx_lit = p.index.parts[0].text if (len(p.index.parts) == 1 and isinstance(p.index.parts[0], A.Lit)) else None
            if idx_lit in ("@", "*"):
                if arr is None:
                    return None if not p.length else []
                return [arr[k] for k in sorted(arr)]
            i = self.arith(p.index)
            if arr is None:
                return None
            if i < 0:
                i += (max(arr) + 1) if arr else 0
            return arr.get(i)
        if name in ("@", "*"):
            return self.positional_all()
        if name.isascii() and name.isdigit():
            k = int(name)
            if k == 0:
                return st.argv0
            pos = st.positional
            return pos[k - 1] if k <= len(pos) else None
        if name == "#":
            return str(len(st.positional))
        if name == "?":
            return str(st.last_status)
        if name == "$":
            return str(st.shell_pid)
        if name == "!":
            return None if st.last_bg_pid is None else str(st.last_bg_pid)
        if name == "-":
            return st.options.flags()
        if name in DYNAMIC:
            return self.dynamic(name)
        return st.get(name)

    def dynamic(self, name: str) -> str | None:
        """A variable computed on each reference (one of DYNAMIC)."""
        if name == "RANDOM":
            import random

            return str(random.randrange(32768))
        if name == "LINENO":
            return str(self.interp.lineno)
        if name == "SECONDS":
            import time

            return str(int(time.monotonic() - self.interp.start_time))
        return self.state.get(name)  # PIPESTATUS

    def _param(self, p: A.Param, b: _Builder, quoted: bool, split: bool) -> None:
        if p.op == "bad":
            text = p.arg.parts[0].text if p.arg and p.arg.parts and isinstance(p.arg.parts[0], A.Lit) else ""
            raise ExpansionError(f"{text}: bad substitution", p.span)
        val = self._lookup(p)
        op = p.op
        is_list = isinstance(val, list)
        if p.length:
            if is_list:
                assert isinstance(val, list)
                n = len(val)
            else:
                if val is None and "nounset" in self.state.options and p.name not in ("@", "*"):
                    raise UnboundError(f"{p.name}: unbound variable", p.span)
                n = len(val or "")
            self._add_expansion(str(n), b, quoted, split)
            return
        if op is None:
            if val is None:
                if "nounset" in self.state.options and p.name not in ("@", "*", "!"):
                    raise UnboundError(f"{p.name}: unbound variable", p.span)
                return
            self._emit(val, p, b, quoted, split)
            return
        # "set" vs "null" tests for the default/alternative operators
        if op in ("-", ":-", "=", ":=", "?", ":?", "+", ":+"):
            if is_list:
                assert isinstance(val, list)
                is_set = bool(val) if op.startswith(":") else (bool(val) or p.name in ("@", "*"))
                if p.name in ("@", "*") and not op.startswith(":"):
                    is_set = len(val) > 0
                null = (not val) or (len(val) == 1 and val[0] == "")
            else:
                is_set = val is not None
                null = not val
            use_default = (not is_set) or (op.startswith(":") and null)
            base = op.lstrip(":")
            if base == "+":
                if not use_default:
                    self._emit_word(p.arg, b, quoted, split)
                return
            if not use_default:
                assert val is not None
                self._emit(val, p, b, quoted, split)
                return
            if base == "-":
                self._emit_word(p.arg, b, quoted, split)
                return
            if base == "=":
                if p.name in ("@", "*", "#", "?", "-", "$", "!") or (p.name.isascii() and p.name.isdigit()):
                    raise ExpansionError(f"${p.name}: cannot assign in this way", p.span)
                newv = self.single(p.arg) if p.arg else ""
                if p.index is not None:
                    self.state.set_index(p.name, self.arith(p.index), newv)
                else:
                    self.state.set(p.name, newv)
                self._add_expansion(newv, b, quoted, split)
                return
            # ? / :?
            msg = self.single(p.arg) if p.arg and p.arg.parts else (
                "parameter null or not set" if op == ":?" else "parameter not set")
            raise UnboundError(f"{p.name}: {msg}", p.span)
        if val is None:
            if "nounset" in self.state.options and p.name not in ("@", "*"):
                raise UnboundError(f"{p.name}: unbound variable", p.span)
            val = ""
        if op == ":":
            self._substring(val, p, b, quoted, split)
            return
        if isinstance(val, list):
            res: str | list[str] = [self._transform(v, p) for v in val]
        else:
            res = self._transform(val, p)
        self._emit(res, p, b, quoted, split)

    def _transform(self, v: str, p: A.Param) -> str:
        op = p.op
        assert op is not None
        if op in ("#", "##", "%", "%%"):
            pat = self.pattern(p.arg) if p.arg else ""
            return pattern.remove_affix(v, pat, op)
        if op in ("/", "//", "/#", "/%"):
            pat = self.pattern(p.arg) if p.arg else ""
            rep = self.single(p.arg2) if p.arg2 else ""
            return pattern.substitute(v, pat, rep, op)
        if op in ("^", "^^", ",", ",,"):
            pat = self.pattern(p.arg) if p.arg and p.arg.parts else "?"
            fn = str.upper if op[0] == "^" else str.lower
            if len(op) == 2:
                return "".join(fn(c) if pattern.match(pat, c) else c for c in v)
            return (fn(v[0]) if pattern.match(pat, v[0]) else v[0]) + v[1:] if v else v
        raise ExpansionError(f"${{{p.name}{op}}}: bad substitution", p.span)

    def _substring(self, val: str | list[str], p: A.Param, b: _Builder, quoted: bool, split: bool) -> None:
        off = self.arith(p.arg) if p.arg and p.arg.parts else 0
        length = self.arith(p.arg2) if p.arg2 is not None else None
        if isinstance(val, list):
            items = val
            if p.name in ("@", "*"):
                items = [self.state.argv0, *val]
                if off == 0 and p.index is None:
                    pass
            n = len(items)
            start = off if off >= 0 else max(0, n + off)
            if p.name in ("@", "*") and off < 0:
                start = n + off
                if start < 0:
                    self._emit([], p, b, quoted, split)
                    return
            if length is not None and length < 0:
                raise ExpansionError(f"{length}: substring expression < 0", p.span)
            sel = items[start: start + length] if length is not None else items[start:]
            self._emit(sel, p, b, quoted, split)
            return
        n = len(val)
        start = off if off >= 0 else n + off
        if start < 0:
            start = 0 if off >= 0 else n + 1  # out of range → empty
        if length is None:
            res = val[start:] if start <= n else ""
        else:
            end = start + length if length >= 0 else n + length
            if end < start:
                raise ExpansionError(f"{length}: substring expression < 0", p.span)
            res = val[start:end] if start <= n else ""
        self._add_expansion(res, b, quoted, split)

    def _emit_word(self, w: A.Word | None, b: _Builder, quoted: bool, split: bool) -> None:
        if w is None:
            return
        if quoted:
            # Inside double quotes the argument is expanded like a quoted word.
            sub = _Builder()
            self._parts(w.parts, sub, quoted=True, split=False)
            for segs in sub.finish():
                for s in segs:
                    b.add(s.text, True)
            return
        for part in w.parts:
            # Literal text of an unquoted ${x:-a b} is part of the expansion
            # result, so it is split like one.
            if isinstance(part, A.Lit):
                self._add_expansion(part.text, b, False, split)
            else:
                self._parts((part,), b, quoted=False, split=split)

    def _emit(self, val: str | list[str], p: A.Param, b: _Builder, quoted: bool, split: bool) -> None:
        if not isinstance(val, list):
            self._add_expansion(val, b, quoted, split)
            return
        star = p.name == "*" or (p.index is not None and _index_is(p.index, "*"))
        if quoted:
            if star:
                ifs = self.state.get("IFS")
                sep = " " if ifs is None else ifs[:1]
                b.add(sep.join(val), True)
                return
            if not split:
                b.add(" ".join(val), True)
                return
            for k, v in enumerate(val):
                if k:
                    b.end_field()
                b.add(v, True)
            return
        if not split:
            ifs = self.state.get("IFS")
            sep = " " if ifs is None or not star else ifs[:1]
            b.add(sep.join(val), False)
            return
        for k, v in enumerate(val):
            if k:
                b.end_field()
            self._add_expansion(v, b, False, True)


def _shell_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def _index_is(w: A.Word, text: str) -> bool:
    return len(w.parts) == 1 and isinstance(w.parts[0], A.Lit) and w.parts[0].text == text


def _may_brace(w: A.Word) -> bool:
    return any(isinstance(p, A.Lit) and "{" in p.text for p in w.parts)
