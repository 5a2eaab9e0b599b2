"""Tab completion: commands, paths, variables and builtin options.

The word under the cursor and whether it is in command position come from
the parser's lossless token stream, which never fails on partial input.

Paths of the cluster namespace (`/dev/sensor/`, `/net/r1/`, `/pipes/`, files
pipelines wrote) are completed too, merged with the local directory's
entries — but only from a cluster this shell is already attached to
(`--cluster`, or the embedded one once a command started it): a Tab press
never starts a cluster, not even under a namespace root, because that takes
seconds and a completion must not.  A listing waits at most half a second
and is remembered for a few seconds, failures included; any cluster error
gives no namespace completions, silently.  In the REPL the listing is
awaited on the prompt's event loop (`get_completions_async`), so the
prompt stays responsive meanwhile.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Literal

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.lexers import Lexer

from onesh.builtins.registry import BUILTINS
from onesh.engine.state import LONG_ONLY_OPTIONS, OPTION_LETTERS
from onesh.parser import tokens
from onesh.parser.words import KEYWORDS_BEFORE_COMMAND, RESERVED

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter
    from onesh.engine.nsglob import Entry, Listings
    from onesh.runtime.client import ClusterClient

# Namespace rows of one directory (absolute path) → [(name, kind)]
NsLookup = Callable[[str], "list[Entry]"]
# What the word under the cursor is: "command-path" is a command word with a
# slash (local paths only), "dir" the argument of cd & co.
What = Literal["var", "command", "set-o", "option", "command-path", "dir", "path", "pin", "job"]

# How long runtime names and cluster job ids are remembered between Tabs.
CLUSTER_WORDS_TTL = 3.0

_OPT_RE = re.compile(r"(\[?)-([A-Za-z]+)")
_VAR_RE = re.compile(r"\$\{?([A-Za-z_]\w*)?$")  # $VAR and ${VAR being typed


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
        self._listings: Listings | None = None
        # "pin" / "job" → (when fetched, words); failures remembered too
        self._cluster_words: dict[str, tuple[float, list[str]]] = {}

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

    # -------------------------------------------------------- namespace
    def _cluster(self) -> ClusterClient | None:
        """The client of the cluster this shell is attached to, or None
        (never starts one)."""
        interp = self.interp
        if interp.cluster is None or interp.in_stage or not interp.cluster_attached():
            return None
        try:
            client: ClusterClient = interp.cluster()
        except Exception:  # noqa: BLE001 - completion stays silent about the cluster
            return None
        return client

    def cluster_words(self, what: str) -> list[str]:
        """Runtime names and tags (`@` pins) or cluster job ids (`kill`),
        from an attached cluster only; remembered briefly, [] on any error."""
        import time

        hit = self._cluster_words.get(what)
        if hit is not None and time.monotonic() - hit[0] < CLUSTER_WORDS_TTL:
            return hit[1]
        client = self._cluster()
        words: list[str] = []
        if client is not None:
            from onesh.builtins.cluster import cluster_job_ids, pin_targets

            try:
                words = pin_targets(client) if what == "pin" else cluster_job_ids(client)
            except Exception:  # noqa: BLE001 - completion stays silent about the cluster
                words = []
        self._cluster_words[what] = (time.monotonic(), words)
        return words

    def listings(self) -> Listings:
        if self._listings is None:
            from onesh.engine.nsglob import Listings

            self._listings = Listings()
        return self._listings

    def _ns_dir(self, word: str) -> str:
        """The absolute namespace directory a path word's completions come from."""
        dirname = os.path.dirname(self.tilde(word.replace("\\ ", " ")))
        cwd = self.interp.state.get("PWD") or os.getcwd()
        return os.path.normpath(os.path.join(cwd, dirname or "."))

    def _ns_rows_sync(self, path: str) -> list[Entry]:
        client = self._cluster()
        if client is None:
            return []
        return self.listings().get_sync(client.boot, client.secret, path) or []

    # -------------------------------------------------------- completion
    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        yield from self._completions(document, self._ns_rows_sync)

    async def get_completions_async(self, document: Document,
                                    complete_event: CompleteEvent) -> AsyncGenerator[Completion, None]:
        """As get_completions, but a namespace listing is awaited on the
        running loop instead of blocking it."""
        rows: dict[str, list[Entry]] = {}
        word, what, _ = self._analyse(document)
        client = self._cluster() if what == "path" else None
        if client is not None:
            path = self._ns_dir(word)
            rows[path] = await self.listings().get(client.boot, client.secret, path) or []
        if what in ("pin", "job"):
            import asyncio

            await asyncio.to_thread(self.cluster_words, what)  # fills the cache off the loop
        for c in self._completions(document, lambda p: rows.get(p, [])):
            yield c

    def _analyse(self, document: Document) -> tuple[str, What, list[str]]:
        """(word under the cursor, what it is, words of the command before it)."""
        text = document.text_before_cursor
        toks = [t for t in tokens(text) if t.kind != "space"]
        at_space = not text or text[-1] in " \t\n;|&()<>"
        word = "" if at_space or not toks else toks[-1].text
        if at_space:
            prev = toks[-1] if toks else None
            cmd_pos = prev is None or prev.kind in ("op", "newline") or (
                prev.kind == "keyword" and prev.text in KEYWORDS_BEFORE_COMMAND)
            before = self._words_of_current_command(toks)
        else:
            cmd_pos = toks[-1].command_position or toks[-1].kind == "keyword"
            before = self._words_of_current_command(toks[:-1])
        cmd = before[0] if before else ""
        what: What
        if _VAR_RE.search(word) is not None:
            what = "var"
        elif word.startswith("@") and not cmd_pos and before:
            what = "pin"
        elif cmd == "kill" and not cmd_pos and not word.startswith("-") and "/" not in word:
            what = "job"
        elif cmd_pos and "/" not in word and not word.startswith("~"):
            what = "command"
        elif cmd == "set" and before[-1:] in (["-o"], ["+o"]):
            what = "set-o"
        elif word.startswith("-") and cmd in BUILTINS:
            what = "option"
        elif cmd in ("cd", "pushd", "rmdir"):
            what = "dir"
        elif cmd_pos:
            what = "command-path"
        else:
            what = "path"
        return word, what, before

    def _completions(self, document: Document, ns_rows: NsLookup) -> Iterator[Completion]:
        word, what, before = self._analyse(document)
        yield from self._complete(word, what, before, ns_rows)

    @staticmethod
    def _words_of_current_command(toks: list) -> list[str]:  # type: ignore[type-arg]
        out: list[str] = []
        for t in reversed(toks):
            if t.kind in ("op", "newline"):
                break
            out.append(t.text)
        return list(reversed(out))

    def _complete(self, word: str, what: What, before: list[str], ns_rows: NsLookup) -> Iterator[Completion]:
        if what == "var":
            m = _VAR_RE.search(word)
            assert m is not None
            prefix = m.group(1) or ""
            brace = word[m.start():].startswith("${")
            for name, _ in self.interp.state.all_vars():
                if name.startswith(prefix):
                    yield Completion(name + ("}" if brace else ""), start_position=-len(prefix), display=name)
            return
        if what == "command":
            seen: set[str] = set()
            for name in self.command_names():
                if name.startswith(word) and name not in seen:
                    seen.add(name)
                    yield Completion(name, start_position=-len(word))
            return
        if what == "pin":
            for target in self.cluster_words("pin"):
                if ("@" + target).startswith(word):
                    yield Completion("@" + target, start_position=-len(word))
            return
        if what == "job":
            jobs = [f"%{j}" for j in sorted(self.interp.jobs.jobs)] + self.cluster_words("job")
            for job in jobs:
                if job.startswith(word):
                    yield Completion(job, start_position=-len(word))
            return
        if what == "set-o":
            for opt in sorted(set(OPTION_LETTERS.values()) | set(LONG_ONLY_OPTIONS)):
                if opt.startswith(word):
                    yield Completion(opt, start_position=-len(word))
            return
        if what == "option":
            for opt in builtin_options(before[0]):
                if opt.startswith(word):
                    yield Completion(opt, start_position=-len(word))
            return
        # Only arguments get namespace paths: cd and rmdir are local, and a
        # namespace path is not something to execute.
        ns = ns_rows(self._ns_dir(word)) if what == "path" else []
        yield from self._paths(word, dirs_only=what == "dir", ns=ns)

    def _paths(self, word: str, *, dirs_only: bool, ns: list[Entry] | None = None) -> Iterator[Completion]:
        raw = word.replace("\\ ", " ")
        expanded = self.tilde(raw)
        dirname, base = os.path.split(expanded)
        shown_dir = os.path.split(raw)[0]
        found: dict[str, bool] = {}  # name → is a directory
        try:
            with os.scandir(dirname or ".") as it:
                for e in it:
                    if e.name.startswith(base):
                        try:
                            found[e.name] = e.is_dir()
                        except OSError:
                            found[e.name] = False
        except OSError:
            pass
        for name, kind in ns or ():
            found.setdefault(name, kind == "dir")
        for name in sorted(found):
            if not name.startswith(base):
                continue
            if name.startswith(".") and not base.startswith("."):
                continue
            is_dir = found[name]
            if dirs_only and not is_dir:
                continue
            full = os.path.join(shown_dir, name) if shown_dir else name
            full = full.replace(" ", "\\ ") + ("/" if is_dir else "")
            yield Completion(full, start_position=-len(word), display=name + ("/" if is_dir else ""))


_ASSIGN_RE = re.compile(r"[A-Za-z_]\w*(\[[^]]*\])?\+?=")


class CommandLexer(Lexer):
    """Syntax colours from the tolerant lexer (onesh.repl.highlight), plus
    the command word of each simple command marked as known (builtin,
    function, alias, executable) or unknown — the typo shows before Enter
    is pressed."""

    def __init__(self, completer: OneshCompleter) -> None:
        self.completer = completer

    def known(self, name: str) -> bool:
        st = self.completer.interp.state
        if "/" in name:
            path = self.completer.tilde(name)
            return os.path.isdir(path) or os.access(path, os.X_OK)
        return (name in BUILTINS or name in st.functions or name in st.aliases
                or name in self.completer.executable_set())

    def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
        from onesh.repl.highlight import highlight

        text = document.text
        marks: dict[int, str] = {}
        for t in tokens(text):
            # Words with expansions or quotes are only known after expansion.
            if (t.kind != "word" or not t.command_position or _ASSIGN_RE.match(t.text)
                    or any(c in t.text for c in "$`'\"\\*?[")):
                continue
            marks[t.span.start] = " class:command.known" if self.known(t.text) else " class:command.unknown"
        lines: list[StyleAndTextTuples] = [[]]
        for at, path, piece in highlight(text):
            style = "class:pygments." + path.lower() + marks.get(at, "")
            for k, part in enumerate(piece.split("\n")):
                if k:
                    lines.append([])
                if part:
                    lines[-1].append((style, part))

        def get_line(lineno: int) -> StyleAndTextTuples:
            return lines[lineno] if lineno < len(lines) else []

        return get_line
