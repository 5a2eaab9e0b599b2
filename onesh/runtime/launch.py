"""How a stage host starts a Python or Node.js program stage.

The planner marks such a stage `mode: "python" | "node"` with its program
(interpreter options, script or module, arguments, and for a local script
of a shell on another host the shipped bundle).  It runs under this
runtime's own Python with the onesh launcher (onesh.runtime.agent), or
under `node` with the onesh preload (onesh.runtime.nodeagent).
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any


class BadProgram(ValueError):
    pass


def program_argv(stage: dict[str, Any], runtime: str) -> list[str] | str:
    """The argv to execute, or an error message (no such interpreter here)."""
    prog = stage.get("program")
    if not isinstance(prog, dict):
        raise BadProgram("a program stage needs its program")
    kind = prog.get("kind")
    flags = [str(f) for f in prog.get("flags") or []]
    args = [str(a) for a in prog.get("args") or []]
    script, module = prog.get("script"), prog.get("module")
    if kind == "node" and shutil.which("node") is None:
        return f"onesh: node: command not found (on {runtime})\n"
    # Where the planner found the script: unless it is the namespace's, the
    # launcher need not ask (a filter that opens no file then never
    # starts a namespace client).
    head = [] if prog.get("source") == "namespace" else ["--on-host"]
    bundle = prog.get("bundle")
    if isinstance(bundle, dict) and bundle:
        from onesh.runtime import bundles

        cache = bundles.job_cache("shipped")
        try:
            bundles.write(bundle, cache)
        except (OSError, ValueError) as e:
            shutil.rmtree(cache, ignore_errors=True)
            return f"onesh: {script}: cannot unpack the shipped program: {e} (on {runtime})\n"
        script = os.path.join(cache, os.path.basename(str(script)))
        head = ["--on-host", "--cleanup", cache]  # the launcher removes it when the program ends
    if kind == "python":
        if module:
            return [sys.executable, *flags, "-m", "onesh.runtime.agent", *head, "-m", str(module), *args]
        if not script:
            raise BadProgram("a Python stage needs a script or a module")
        return [sys.executable, *flags, "-m", "onesh.runtime.agent", *head, str(script), *args]
    if kind == "node":
        if not script:
            raise BadProgram("a Node.js stage needs a script")
        options = [w for f in flags for w in ("--node-option", f)]
        return [sys.executable, "-m", "onesh.runtime.nodeagent", *head, *options, str(script), *args]
    raise BadProgram(f"unknown program kind {kind!r}")
