"""Real scripts as a test source: the system's own `#!/bin/sh` and
`#!/bin/bash` scripts (gzip's z-tools, which, ldd, the *-config scripts,
lesspipe ...), run under bash and under onesh with the same arguments, in
the same scratch directory: stdout and exit status must agree.

Nothing here knows what the scripts print on this machine; bash is the
oracle.  A script that is not installed, or is not a shell script here, is
skipped.  The scripts run with `bash SCRIPT` / `onesh SCRIPT`, so a
`#!/bin/sh` script is read by the shell under test, not by dash.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# (script, arguments); files named here are made by the `files` fixture.
INVOCATIONS: list[tuple[str, list[str]]] = [
    ("zcat", ["a.gz"]),
    ("zcat", ["a.gz", "b.gz"]),
    ("zgrep", ["two", "a.gz"]),
    ("zgrep", ["-c", "o", "a.gz", "b.gz"]),
    ("zgrep", ["-h", "-e", "one", "-e", "six", "a.gz", "b.gz"]),
    ("zgrep", ["nomatch", "a.gz"]),
    ("zegrep", ["t(wo|hree)", "a.gz"]),
    ("zfgrep", ["four", "b.gz"]),
    ("zdiff", ["a.gz", "b.gz"]),
    ("zdiff", ["a.gz", "a.gz"]),
    ("zcmp", ["a.gz", "b.gz"]),
    ("zcmp", ["a.gz", "a.gz"]),
    ("gunzip", ["-c", "a.gz"]),
    ("uncompress", ["-c", "b.gz"]),
    ("zforce", ["--help"]),
    ("znew", ["--help"]),
    ("gzexe", ["--help"]),
    ("zmore", ["--help"]),
    ("xzgrep", ["two", "a.gz"]),
    ("bzgrep", ["--help"]),
    ("which", ["ls"]),
    ("which", ["-a", "sh"]),
    ("which", ["no-such-command-here"]),
    ("ldd", ["--version"]),
    ("ldd", ["/bin/ls"]),
    ("lsb_release", ["-a"]),
    ("lesspipe", []),
    ("lesspipe", ["a.gz"]),
    ("lessfile", []),
    ("ncursesw6-config", ["--version"]),
    ("ncursesw6-config", ["--libs"]),
    ("python3-config", ["--prefix"]),
    ("python3-config", ["--includes"]),
    ("xml2-config", ["--version"]),
    ("xml2-config", ["--cflags"]),
    ("libpng-config", ["--version"]),
    ("gpgrt-config", ["--version"]),
    ("libgcrypt-config", ["--version"]),
    ("xslt-config", ["--libs"]),
    ("nspr-config", ["--version"]),
]

# ldd prints load addresses, which the kernel randomises on every run.
_ADDRESS = re.compile(rb"0x[0-9a-f]+")


@pytest.fixture
def files(tmp_path: Path) -> Path:
    with gzip.open(tmp_path / "a.gz", "wb") as f:
        f.write(b"one\ntwo\nthree\n")
    with gzip.open(tmp_path / "b.gz", "wb") as f:
        f.write(b"one\nfour\nsix\n")
    return tmp_path


def _shell_script(name: str) -> str | None:
    path = shutil.which(name)
    if path is None:
        return None
    with open(path, "rb") as f:
        head = f.readline()
    shebang = head.removeprefix(b"#!").strip().split()
    if not head.startswith(b"#!") or not shebang or shebang[0] not in (b"/bin/sh", b"/bin/bash",
                                                                       b"/usr/bin/sh", b"/usr/bin/bash"):
        return None
    return path


def _run(shell: list[str], script: str, args: list[str], cwd: Path) -> tuple[bytes, int]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(cwd), "LC_ALL": "C", "LANG": "C",
           "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([*shell, script, *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)
    return _ADDRESS.sub(b"0xADDR", proc.stdout), proc.returncode


@pytest.mark.parametrize(("name", "args"), INVOCATIONS, ids=[f"{n} {' '.join(a)}" for n, a in INVOCATIONS])
def test_system_script_behaves_as_under_bash(files: Path, name: str, args: list[str]) -> None:
    script = _shell_script(name)
    if script is None:
        pytest.skip(f"{name}: not installed as a shell script here")
    want = _run(["bash"], script, args, files)
    got = _run([sys.executable, "-m", "onesh"], script, args, files)
    assert got == want, f"{name} {' '.join(args)}: bash gave {want!r}, onesh {got!r}"
