"""A program and the modules beside it, carried to the runtime that runs it.

A Python or Node.js program is rarely one file: `import helper` and
`require('./lib/util')` read its neighbours.  So wherever the program
comes from, its *bundle* comes with it — the script, the files with its
language's suffixes in its directory, and the subdirectories it may import
from (Python packages, for Node any subdirectory but node_modules):

- stored in the namespace: the launcher on the runtime fetches the bundle
  into a per-job cache directory before the program starts (`fetch`);
- a local file of the shell's host, the stage placed on another host: the
  shell reads the bundle (`read_local`) and ships it in the stage spec,
  and the stage host writes it into a per-job cache (`write`).

A bundle stops at MAX_FILES files or MAX_BYTES bytes (the rest is named on
stderr, never silently dropped).
"""

from __future__ import annotations

import atexit
import base64
import os
import posixpath
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from onesh.runtime.evalctx import Context, Found

SUFFIXES = {"python": (".py", ".pyi", ".json", ".txt", ".cfg", ".toml"),
            "node": (".js", ".cjs", ".mjs", ".json")}
MAX_FILES = 500
MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 4

# (name, is a directory, size): one directory's listing, from either side
Listing = Callable[[str], list[tuple[str, bool, int]]]


def select(list_dir: Listing, script: str, kind: str) -> tuple[list[str], list[str]]:
    """(paths relative to the script's directory to carry, paths left out
    over the limits).  The script comes first."""
    top = posixpath.dirname(script)
    name = posixpath.basename(script)
    chosen, left, total = [name], [], 0
    suffixes = SUFFIXES[kind]

    def walk(rel: str, depth: int) -> None:
        nonlocal total
        rows = sorted(list_dir(posixpath.join(top, rel) if rel else top))
        names = {n for n, _, _ in rows}
        if kind == "python" and rel and "__init__.py" not in names:
            return  # only packages are importable from a subdirectory
        for n, is_dir, size in rows:
            path = posixpath.join(rel, n) if rel else n
            if is_dir:
                if depth < MAX_DEPTH and not n.startswith(".") and n not in ("node_modules", "__pycache__"):
                    walk(path, depth + 1)
            elif path != name and (n.endswith(suffixes) or (kind == "node" and n == "package.json")):
                if len(chosen) >= MAX_FILES or total + size > MAX_BYTES:
                    left.append(path)
                else:
                    chosen.append(path)
                    total += size

    walk("", 0)
    return chosen, left


def _say_left(left: list[str], where: str) -> None:
    if left:
        shown = ", ".join(left[:5]) + (" ..." if len(left) > 5 else "")
        sys.stderr.write(f"onesh: {len(left)} file(s) beside {where} not carried with it "
                         f"(over {MAX_FILES} files or {MAX_BYTES >> 20} MiB): {shown}\n")


def read_local(script: str, kind: str) -> dict[str, str]:
    """The bundle of a local script: relative path → base64 content."""

    def list_dir(path: str) -> list[tuple[str, bool, int]]:
        out = []
        with os.scandir(path) as it:
            for d in it:
                try:
                    out.append((d.name, d.is_dir(), 0 if d.is_dir() else d.stat().st_size))
                except OSError:
                    continue
        return out

    chosen, left = select(list_dir, os.path.abspath(script), kind)
    _say_left(left, script)
    top = os.path.dirname(os.path.abspath(script))
    files = {}
    for rel in chosen:
        with open(os.path.join(top, rel), "rb") as f:
            files[rel] = base64.b64encode(f.read()).decode("ascii")
    return files


def write(files: dict[str, Any], dest: str) -> None:
    """A shipped bundle (relative path → base64) into directory `dest`."""
    for rel, data in files.items():
        rel = str(rel)
        if rel.startswith("/") or ".." in rel.split("/"):
            raise ValueError(f"bad path in a program bundle: {rel!r}")
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))


def fetch(ctx: Context, found: Found, kind: str, dest: str) -> str:
    """The bundle of a namespace script into `dest`; the script's path there."""
    from onesh.runtime.evalctx import Found

    pns = ctx.pns
    entries: dict[str, dict[str, Any]] = {}

    def list_dir(path: str) -> list[tuple[str, bool, int]]:
        out = []
        for r in pns.run(pns.ns.listdir(path)):
            name = str(r.get("name") or posixpath.basename(str(r.get("path", ""))))
            entries[posixpath.join(path, name)] = r
            out.append((name, r.get("kind") == "dir", int(r.get("size") or 0)))
        return out

    chosen, left = select(list_dir, found.path, kind)
    _say_left(left, found.path)
    top = posixpath.dirname(found.path)
    for rel in chosen:
        full = posixpath.join(top, rel)
        entry = entries.get(full) or found.entry
        data = ctx.read_bytes(Found(full, entry))
        path = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return os.path.join(dest, chosen[0])


def job_cache(stage: str) -> str:
    """A new private (0700) directory for one stage's program files."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", stage)[-40:] or "job"
    return tempfile.mkdtemp(prefix=f"onesh-job-{tag}-")


def remove_at_exit(path: str) -> None:
    pid = os.getpid()

    def remove() -> None:
        if os.getpid() == pid:  # (not from a forked child)
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
