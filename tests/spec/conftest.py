"""Spec tests as data (Oils style), each case run against bash AND onesh.

A file `tests/spec/<topic>.test.sh` holds cases:

    #### name
    code...
    ## stdout:
    expected lines
    ## status: N
    ## stderr-contains: text
    ## onesh-differs: reason        (then ## onesh-stdout: / ## onesh-status:)

Every case becomes two pytest items, `[bash]` and `[onesh]`, so the
expectation is checked against real bash in the same run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TIMEOUT = 20


@dataclass
class Case:
    name: str
    code: str
    line: int
    stdout: str = ""
    status: int = 0
    stderr_contains: list[str] = field(default_factory=list)
    differs: str | None = None
    onesh_stdout: str | None = None
    onesh_status: int | None = None


class SpecFormatError(Exception):
    pass


def parse_spec(path: Path) -> list[Case]:
    cases: list[Case] = []
    cur: Case | None = None
    block: str | None = None  # which multi-line block is being read
    buf: list[str] = []
    code: list[str] = []

    def close_block() -> None:
        nonlocal block, buf
        if cur is None or block is None:
            block, buf = None, []
            return
        text = "".join(line + "\n" for line in buf)
        if block == "stdout":
            cur.stdout = text
        elif block == "onesh-stdout":
            cur.onesh_stdout = text
        block, buf = None, []

    def finish() -> None:
        nonlocal code
        if block is not None and buf and buf[-1] == "":
            buf.pop()  # the blank line that separates cases
        close_block()
        if cur is not None:
            cur.code = "".join(code) if not cur.code else cur.code
            cases.append(cur)
        code = []

    lines = path.read_text().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    in_code = False
    for lineno, line in enumerate(lines, 1):
        if line.startswith("#### "):
            finish()
            cur = Case(line[5:].strip(), "", lineno)
            in_code = True
            continue
        if cur is None:
            if line.strip() and not line.startswith("#"):
                raise SpecFormatError(f"{path}:{lineno}: text before the first `#### name' line")
            continue
        if line.startswith("## "):
            if in_code:
                cur.code = "".join(code)
                in_code = False
            close_block()
            key, _, value = line[3:].partition(":")
            key, value = key.strip(), value.strip()
            if key in ("stdout", "STDOUT", "onesh-stdout"):
                if value:
                    raise SpecFormatError(f"{path}:{lineno}: `## {key}:' takes its lines below it")
                block = "onesh-stdout" if key == "onesh-stdout" else "stdout"
            elif key == "END":
                pass
            elif key == "stdout-json":
                cur.stdout = json.loads(value)
            elif key == "status":
                cur.status = int(value)
            elif key == "onesh-status":
                cur.onesh_status = int(value)
            elif key == "stderr-contains":
                cur.stderr_contains.append(value)
            elif key == "onesh-differs":
                cur.differs = value
            else:
                raise SpecFormatError(f"{path}:{lineno}: unknown key `## {key}:'")
            continue
        if in_code:
            code.append(line + "\n")
        elif block is not None:
            buf.append(line)
        elif line.strip():
            raise SpecFormatError(f"{path}:{lineno}: unexpected text after the expectations of `{cur.name}'")
    finish()
    names = [c.name for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SpecFormatError(f"{path}: duplicate case names: {sorted(dup)}")
    return cases


def shell_command(shell: str, code: str) -> list[str]:
    if shell == "bash":
        return ["bash", "--norc", "--noprofile", "-c", code]
    return [sys.executable, "-m", "onesh", "-c", code]


def run_case(shell: str, case: Case) -> subprocess.CompletedProcess[bytes]:
    tmp = tempfile.mkdtemp(prefix="onesh-spec-")
    try:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "LC_ALL": "C",
            "LANG": "C",
            "TMPDIR": tmp,
            "SPEC_TMP": tmp,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        return subprocess.run(shell_command(shell, case.code), cwd=tmp, env=env,
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class SpecFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            cases = parse_spec(self.path)
        except SpecFormatError as e:
            raise self.CollectError(str(e)) from None
        for case in cases:
            for shell in ("bash", "onesh"):
                if shell == "bash" and shutil.which("bash") is None:
                    continue
                yield SpecItem.from_parent(self, name=f"{case.name}[{shell}]", case=case, shell=shell)


class SpecItem(pytest.Item):
    def __init__(self, *, case: Case, shell: str, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.case = case
        self.shell = shell

    def runtest(self) -> None:
        c = self.case
        proc = run_case(self.shell, c)
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        want_out, want_status = c.stdout, c.status
        if self.shell == "onesh" and c.differs:
            if c.onesh_stdout is not None:
                want_out = c.onesh_stdout
            if c.onesh_status is not None:
                want_status = c.onesh_status
        problems = []
        if out != want_out:
            problems.append(f"stdout differs\n--- expected\n{want_out}--- got\n{out}---")
        if proc.returncode != want_status:
            problems.append(f"status {proc.returncode}, expected {want_status}")
        for s in c.stderr_contains:
            if s not in err:
                problems.append(f"stderr lacks {s!r}")
        if problems:
            raise SpecFailure("\n".join(problems) + f"\n--- code\n{c.code}--- stderr\n{err}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: object = None) -> str:
        if isinstance(excinfo.value, SpecFailure):
            return f"{self.path.name}:{self.case.line}: {self.case.name} [{self.shell}]\n{excinfo.value}"
        return str(super().repr_failure(excinfo))  # type: ignore[arg-type]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line, f"{self.case.name}[{self.shell}]"


class SpecFailure(Exception):
    pass


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.File | None:
    if file_path.name.endswith(".test.sh"):
        return SpecFile.from_parent(parent, path=file_path)
    return None
