"""Which pipeline stages are Python or Node.js programs (run as agents).

A stage is a Python program when its command is `python3 [OPTS] x.py`,
`python3 [OPTS] -m module`, a `.py` file (`./filter.py`), or a file whose
`#!` line names python3; a Node.js program for `node [OPTS] x.js`, a
`.js`/`.cjs`/`.mjs` file, or a `#!` naming node.  Such a stage runs in the
onesh context on a runtime that has the interpreter
(onesh.runtime.agent, onesh.runtime.nodeagent); anything else a program
is given (`python3 -c ...`, `node -e ...`, an interactive interpreter)
stays an external command.  Pure: the caller reads the `#!` line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_PYTHON_RE = re.compile(r"^python(3(\.\d+)?)?$")
_NODE_NAMES = ("node", "nodejs")
# Python options kept for the interpreter that runs the launcher
_PY_FLAGS = frozenset("uBOEsbqdvI")
_PY_VALUED = ("-W", "-X")
# Node options taking a separate value
_NODE_VALUED = frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader", "--conditions",
                          "-C", "--input-type", "--env-file"})
_NODE_NOT_A_SCRIPT = frozenset({"-e", "--eval", "-p", "--print", "-i", "--interactive", "-c", "--check",
                                "--test", "--run", "-v", "--version", "-h", "--help", "-"})
SUFFIXES = {".py": "python", ".js": "node", ".cjs": "node", ".mjs": "node"}
INTERPRETER = {"python": "python3", "node": "node"}


@dataclass
class Program:
    kind: str  # "python" | "node"
    flags: list[str] = field(default_factory=list)  # interpreter options, kept
    script: str | None = None  # as the user wrote it
    module: str | None = None  # python3 -m MODULE
    args: list[str] = field(default_factory=list)
    source: str = "runtime"  # where the script is: "namespace" | "local" (the shell's host) | "runtime"
    script_path: str = ""  # absolute

    @property
    def interpreter(self) -> str:
        return INTERPRETER[self.kind]

    @property
    def context(self) -> str:
        return f"{self.kind} agent"

    def wire(self) -> dict[str, Any]:
        return {"kind": self.kind, "flags": self.flags, "script": self.script, "module": self.module,
                "args": self.args, "source": self.source}


def _python(words: list[str]) -> Program | None:
    flags: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _PY_VALUED and i + 1 < len(words):
            flags += [w, words[i + 1]]
            i += 2
        elif w.startswith(_PY_VALUED) and len(w) > 2:
            flags.append(w)
            i += 1
        elif w == "-m" and i + 1 < len(words):
            return Program("python", flags, module=words[i + 1], args=words[i + 2:])
        elif w == "-OO" or (len(w) > 1 and w[0] == "-" and w[1] != "-" and set(w[1:]) <= _PY_FLAGS):
            flags.append(w)
            i += 1
        elif w.startswith("-"):
            return None  # -c, -i, -, --version...: not a program file
        else:
            return Program("python", flags, script=w, args=words[i + 1:])
    return None


def _node(words: list[str]) -> Program | None:
    flags: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in _NODE_NOT_A_SCRIPT or w.split("=", 1)[0] in _NODE_NOT_A_SCRIPT:
            return None
        if w in _NODE_VALUED and i + 1 < len(words):
            flags.append(f"{w}={words[i + 1]}" if w.startswith("--") else w + words[i + 1])
            i += 2
        elif w.startswith("--"):
            flags.append(w)
            i += 1
        elif w.startswith("-"):
            return None
        else:
            return Program("node", flags, script=w, args=words[i + 1:])
    return None


def _interpreter(name: str) -> str | None:
    base = os.path.basename(name)
    if _PYTHON_RE.match(base):
        return "python"
    if base in _NODE_NAMES:
        return "node"
    return None


def shebang(head: bytes) -> list[str] | None:
    """The interpreter words of a `#!` line (`#!/usr/bin/env -S node --x`
    → ["node", "--x"])."""
    if not head.startswith(b"#!"):
        return None
    line = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    words = line.split()
    if words and os.path.basename(words[0]) == "env":
        words = [w for w in words[1:] if w != "-S" and "=" not in w]
    return words or None


def recognize(argv: list[str], read_head: Callable[[str], bytes | None]) -> Program | None:
    """The program a stage runs, or None for an external command.
    `read_head(path)` gives the first bytes of a local file (None if none)."""
    if not argv:
        return None
    kind = _interpreter(argv[0])
    if kind == "python":
        return _python(argv[1:])
    if kind == "node":
        return _node(argv[1:])
    suffix = os.path.splitext(argv[0])[1]
    if suffix in SUFFIXES:
        return Program(SUFFIXES[suffix], script=argv[0], args=argv[1:])
    if "/" in argv[0]:
        head = read_head(argv[0])
        words = shebang(head) if head else None
        if words and _interpreter(words[0]):
            inner = recognize([*words, argv[0], *argv[1:]], read_head)
            if inner is not None and inner.script == argv[0]:
                return inner
    return None


def read_local_head(path: str, cwd: str) -> bytes | None:
    """The first line's worth of a local file, for its `#!`."""
    try:
        with open(os.path.join(cwd, path), "rb") as f:
            return f.read(256)
    except OSError:
        return None
