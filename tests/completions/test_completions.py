"""Each completion script is loaded into its real shell and asked for a
completion.  CI installs bash-completion, zsh and fish (scripts/ci-deps.sh);
where a shell is missing its test is skipped with the reason."""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPLETIONS = ROOT / "completions"


def bash_complete(line: str, tmp: Path) -> list[str]:
    words = line.split(" ")
    script = f"""
source {COMPLETIONS / 'onesh.bash'}
COMP_WORDS=({' '.join(repr(w) if w else "''" for w in words)})
COMP_CWORD={len(words) - 1}
COMP_LINE={line!r}
COMP_POINT={len(line)}
_onesh
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                       cwd=tmp, timeout=20)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")
def test_bash_completion(tmp_path: Path) -> None:
    (tmp_path / "job.onesh").write_text("echo hi\n")
    assert "cluster" in bash_complete("onesh cl", tmp_path)
    assert set(bash_complete("onesh cluster ", tmp_path)) >= {"up", "status", "down"}
    assert "--nodes" in bash_complete("onesh cluster up --n", tmp_path)
    assert "--listen" in bash_complete("onesh cluster up --l", tmp_path)
    assert "--accept-new" in bash_complete("onesh bootstrap --acc", tmp_path)
    assert "pipefail" in bash_complete("onesh -o pi", tmp_path)
    assert "job.onesh" in bash_complete("onesh jo", tmp_path)


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish not installed")
def test_fish_completion(tmp_path: Path) -> None:
    def complete(line: str) -> list[str]:
        p = subprocess.run(["fish", "--no-config", "-c", f"source {COMPLETIONS / 'onesh.fish'}; complete -C '{line}'"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=20)
        assert p.returncode == 0, p.stderr
        return [line.split("\t")[0] for line in p.stdout.splitlines()]

    assert "cluster" in complete("onesh cl")
    assert set(complete("onesh cluster ")) >= {"up", "status", "down"}
    assert "--nodes" in complete("onesh cluster up --")
    assert "--accept-new" in complete("onesh bootstrap edge1 --")


_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x07")


def _pty_zsh(tmp: Path, typed: str, want: bytes, timeout: float = 20.0) -> bytes:
    env = {"HOME": str(tmp), "ZDOTDIR": str(tmp), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "TERM": "dumb", "PS1": "%% "}
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(tmp)
        os.execvpe("zsh", ["zsh", "-f", "-i"], env)
    out = b""
    try:
        os.write(fd, f"fpath=({COMPLETIONS} $fpath); autoload -U compinit; compinit -u -D; echo READY\n".encode())
        deadline = time.monotonic() + timeout
        sent = False
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    break
            if not sent and b"READY\r\n" in out:
                os.write(fd, typed.encode())
                sent = True
                mark = len(out)
            shown = _ANSI.sub(b"", out[mark:]) if sent else b""
            if sent and want in shown:
                return shown
        raise AssertionError(f"zsh never showed {want!r}: {out[-800:]!r}")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not installed")
def test_zsh_completion(tmp_path: Path) -> None:
    _pty_zsh(tmp_path, "onesh cl\t", b"onesh cluster")
    shown = _pty_zsh(tmp_path, "onesh cluster \t", b"status")
    assert b"down" in shown
