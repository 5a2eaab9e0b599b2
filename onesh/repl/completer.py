"""Tab completion: commands, paths, variables and builtin options.

The word under the cursor and whether it is in command position come from
the parser's lossless token stream, which never fails on partial input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer, PygmentsLexer

from onesh.builtins.registry import BUILTINS
from onesh.engine.state import LONG_ONLY_OPTIONS, OPTION_LETTERS
from onesh.parser import tokens
from onesh.parser.words import RESERVED

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter

_OPT_RE = re.compile(r"(\[?)-([A-Za-z]+)")


def builtin_options(name: str) -> list[str]:
    """Options of a builtin, read from its declared usage line: `[-neE]`
    groups give one option per letter, `-s WORD` gives `-s`."""
    spec = BUILTINS.get(name)
    if spec is None:
        return []
    opts: list[str] = []
    for m in _OPT_RE.finditer(spec.usage):
        bracket, group = m.groups()
        if len(group) > 1 and not (bracket and spec.usage[m.end():m.end() + 1] in ("]", "|")):
            continue  # a word like -sigspec, not a group of flags
        for c in group:
            if "-" + c not in opts:
                opts.append("-" + c)
    return opts


class OneshCompleter(Completer):
    def __init__(self, interp: Interpreter) -> None:
        self.interp = interp
        self._path_cache: tuple[str, list[str]] | None = None
        self._path_set: tuple[str, frozenset[str]] | None = None

    # ------------------------------------------------------------ sources
    def executables(self) -> list[str]:
        path = self.interp.state.get("PATH") or ""
        if self._path_cache is not None and self._path_cache[0] == path:
            return self._path_cache[1]
        names: set[str] = set()
        for d in path.split(":"):
            try:
                with os.scandir(d or ".") as it:
                    for e in it:
                        try:
                            if e.is_file() and os.access(e.path, os.X_OK):
                                names.add(e.name)
                        except OSError:
                            continue
            except OSError:
                continue
        result = sorted(names)
        self._path_cache = (path, result)
        return result

    def tilde(self, word: str) -> str:
        """`~` and `~/...` from the shell's HOME (which the user may have
        changed), `~user` from the password database."""
        home = self.interp.state.get("HOME")
        if home and (word == "~" or word.startswith("~/")):
            return home.rstrip("/") + word[1:] if word != "~" else home
        return os.path.expanduser(word) if word.startswith("~") else word

    def executable_set(self) -> frozenset[str]:
        path = self.interp.state.get("PATH") or ""
        if self._path_set is None or self._path_set[0] != path:
            self._path_set = (path, frozenset(self.executables()))
        return self._path_set[1]

    def command_names(self) -> Iterable[str]:
        st = self.interp.state
        yield from sorted(BUILTINS)
        yield from sorted(st.functions)
        yield from sorted(st.aliases)
        yield from sorted(w for w in RESERVED if w.isalpha())
        yield from self.executables()

    # -------------------------------------------------------- completion
    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        text = document.text_before_cursor
        toks = [t for t in tokens(text) if t.kind != "space"]
        at_space = not text or text[-1] in " \t\n;|&()<>"
        word = "" if at_space or not toks else toks[-1].text
        if at_space:
            prev = toks[-1] if toks else None
            cmd_pos = prev is None or prev.kind in ("op", "newline") or (
                prev.kind == "keyword" and prev.text in ("then", "do", "else", "elif", "if", "while", "until", "!", "{"))
            words_before = self._words_of_current_command(toks)
        else:
            cmd_pos = toks[-1].command_position or toks[-1].kind == "keyword"
            words_before = self._words_of_current_command(toks[:-1])
        yield from self._complete(word, cmd_pos, words_before)

    @staticmethod
    def _words_of_current_command(toks: list) -> list[str]:  # type: ignore[type-arg]
        out: list[str] = []
        for t in reversed(toks):
            if t.kind in ("op", "newline"):
                break
            out.append(t.text)
        return list(reversed(out))

    def _complete(self, word: str, cmd_pos: bool, before: list[str]) -> Iterator[Completion]:
        # $VAR and ${VAR
        m = re.search(r"\$\{?([A-Za-z_]\w*)?$", word)
        if m is not None:
            prefix = m.group(1) or ""
            brace = word[m.start():].startswith("${")
            for name, _ in self.interp.state.all_vars():
                if name.startswith(prefix):
                    yield Completion(name + ("}" if brace else ""), start_position=-len(prefix), display=name)
            return
        if cmd_pos and "/" not in word and not word.startswith("~"):
            seen: set[str] = set()
            for name in self.command_names():
                if name.startswith(word) and name not in seen:
                    seen.add(name)
                    yield Completion(name, start_position=-len(word))
            return
        cmd = before[0] if before else ""
        if cmd == "set" and before[-1:] in (["-o"], ["+o"]):
            for opt in sorted(set(OPTION_LETTERS.values()) | set(LONG_ONLY_OPTIONS)):
                if opt.startswith(word):
                    yield Completion(opt, start_position=-len(word))
            return
        if word.startswith("-") and cmd in BUILTINS:
            for opt in builtin_options(cmd):
                if opt.startswith(word):
                    yield Completion(opt, start_position=-len(word))
            return
        yield from self._paths(word, dirs_only=cmd in ("cd", "pushd", "rmdir"))

    def _paths(self, word: str, *, dirs_only: bool) -> Iterator[Completion]:
        raw = word.replace("\\ ", " ")
        expanded = self.tilde(raw)
        dirname, base = os.path.split(expanded)
        shown_dir = os.path.split(raw)[0]
        try:
            entries = sorted(os.scandir(dirname or "."), key=lambda e: e.name)
        except OSError:
            return
        for e in entries:
            if not e.name.startswith(base):
                continue
            if e.name.startswith(".") and not base.startswith("."):
                continue
            try:
                is_dir = e.is_dir()
            except OSError:
                is_dir = False
            if dirs_only and not is_dir:
                continue
            full = os.path.join(shown_dir, e.name) if shown_dir else e.name
            full = full.replace(" ", "\\ ") + ("/" if is_dir else "")
            yield Completion(full, start_position=-len(word), display=e.name + ("/" if is_dir else ""))


_ASSIGN_RE = re.compile(r"[A-Za-z_]\w*(\[[^]]*\])?\+?=")


class CommandLexer(Lexer):
    """Syntax colours from the pygments lexer, plus the command word of each
    simple command marked as known (builtin, function, alias, executable) or
    unknown — the typo shows before Enter is pressed."""

    def __init__(self, completer: OneshCompleter) -> None:
        from onesh.repl.highlight import OneshLexer

        self.base = PygmentsLexer(OneshLexer)
        self.completer = completer

    def known(self, name: str) -> bool:
        st = self.completer.interp.state
        if "/" in name:
            path = self.completer.tilde(name)
            return os.path.isdir(path) or os.access(path, os.X_OK)
        return (name in BUILTINS or name in st.functions or name in st.aliases
                or name in self.completer.executable_set())

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        base = self.base.lex_document(document)
        text = document.text
        marks: dict[int, str] = {}
        for t in tokens(text):
            # Words with expansions or quotes are only known after expansion.
            if (t.kind != "word" or not t.command_position or _ASSIGN_RE.match(t.text)
                    or any(c in t.text for c in "$`'\"\\*?[")):
                continue
            style = " class:command.known" if self.known(t.text) else " class:command.unknown"
            for i in range(t.span.start, t.span.end):
                marks[i] = style
        if not marks:
            return base
        starts = [0]
        for i, c in enumerate(text):
            if c == "\n":
                starts.append(i + 1)

        def get_line(lineno: int) -> StyleAndTextTuples:
            frags = base(lineno)
            if lineno >= len(starts):
                return frags
            pos = starts[lineno]
            out: StyleAndTextTuples = []
            for frag in frags:
                style, s = frag[0], frag[1]
                for c in s:
                    out.append((style + marks.get(pos, ""), c))
                    pos += 1
            return out

        return get_line
