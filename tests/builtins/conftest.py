"""A small real Shell for calling builtins directly: real pipes for the
three fds, a real ShellState, and a history list."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from onesh.builtins.api import IO
from onesh.engine.state import ShellState


@dataclass
class MiniShell:
    state: ShellState = field(default_factory=lambda: ShellState(environ={}))
    lines: list[str] = field(default_factory=list)
    sourcing: int = 0

    def run_text(self, text: str, name: str) -> int:
        raise NotImplementedError("builtin unit tests do not run shell text")

    def where(self) -> str:
        return "onesh: "

    def history(self) -> list[str]:
        return list(self.lines)

    def clear_history(self) -> None:
        self.lines.clear()

    # No cluster here: the Shell protocol's cluster side says so.
    cluster = None

    def cluster_attached(self) -> bool:
        return False

    def namespace_dir(self, path: str) -> bool:
        return False


@dataclass
class Result:
    status: int
    out: str
    err: str


def _drain(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 65536):
        data += chunk
    os.close(fd)
    return data


Runner = Callable[..., Result]


@pytest.fixture
def shell() -> MiniShell:
    return MiniShell()


@pytest.fixture
def run(shell: MiniShell) -> Runner:
    """run(fn, argv, stdin=b"") → Result, through real pipes."""

    def _run(fn: Callable[[list[str], IO], int], argv: list[str], stdin: bytes | None = b"") -> Result:
        r, w = os.pipe()
        er, ew = os.pipe()
        ir, iw = os.pipe()
        if stdin:
            os.write(iw, stdin)  # small inputs fit in the pipe buffer
        os.close(iw)
        try:
            status = fn(argv, IO(ir, w, ew, shell))
        finally:
            os.close(w)
            os.close(ew)
            os.close(ir)
        return Result(status, _drain(r).decode(), _drain(er).decode())

    return _run
