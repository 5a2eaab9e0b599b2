"""The machine typing `onesh bootstrap` in the tests (a module of its own:
test modules cannot import from conftest reliably)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Controller:
    """The machine typing `onesh bootstrap`: its HOME (~/.ssh) and env."""

    home: Path
    env: dict[str, str]

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    def onesh(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "onesh", *args], env=self.env, capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=timeout, cwd=self.home)
