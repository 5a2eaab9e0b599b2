"""Start-up guard: what `onesh -c ...` imports for purely local work.

Timing is measured by benchmarks/shell_startup.py, never asserted here;
this test checks the cause instead, which is deterministic: the modules in
`sys.modules` when the shell exits.  Python runs with -S (no site, so no
editable-install finder preloading `re` and friends) and the source tree on
PYTHONPATH: the local path needs nothing outside the standard library.
What Python imports for `pass` the same way is subtracted.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Never for local work: the REPL stack, the cluster stack, and the stdlib
# modules that used to cost start-up (dataclasses pulls in inspect).
FORBIDDEN = ("asyncio", "zmq", "prompt_toolkit", "pygments", "msgpack", "platformdirs",
             "onesh.kernel", "onesh.net", "onesh.runtime", "onesh.repl",
             "dataclasses", "inspect", "tempfile", "re", "contextlib", "json", "random", "typing")
# Only once a program runs (fork, wait, signal dispositions).
FOR_PROGRAMS = ("signal", "enum")

ROOT = Path(__file__).resolve().parents[2]
DUMP = """
import atexit, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write("\\n".join(sorted(sys.modules))))
CODE
"""


def _modules(tmp_path: Path, code: str) -> set[str]:
    out = tmp_path / "modules.json"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LC_ALL": "C", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-S", "-c", DUMP.replace("CODE", code), str(out)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(out.read_text().split("\n"))


@pytest.mark.parametrize(("command", "runs_programs"), [
    ("true", False), ("for i in 1 2; do x=$i; done", False), ("f() { echo $1; }; f x >/dev/null", False),
    ("echo hi | cat >/dev/null", True), ("cat <<EOF >/dev/null\nhi\nEOF", True)])
def test_local_commands_import_no_cluster_or_repl_code(tmp_path: Path, command: str, runs_programs: bool) -> None:
    baseline = _modules(tmp_path, "pass")
    run = f"from onesh.cli import main\nsys.exit(main(['-c', {command!r}]))"
    extra = _modules(tmp_path, run) - baseline
    assert "onesh.engine.interp" in extra  # the dump really saw the shell run
    forbidden = FORBIDDEN if runs_programs else FORBIDDEN + FOR_PROGRAMS
    bad = sorted(m for m in extra if any(m == f or m.startswith(f + ".") for f in forbidden))
    assert bad == [], f"`onesh -c {command!r}` imported {bad}"
