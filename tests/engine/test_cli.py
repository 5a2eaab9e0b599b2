"""The `onesh` command line end to end: -c, scripts, stdin, exit statuses,
error reporting without tracebacks."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ONESH = [sys.executable, "-m", "onesh"]


def run(*args: str, input: bytes | None = None, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*ONESH, *args], input=input, capture_output=True, cwd=cwd, env=env, timeout=60)


def test_issue_acceptance_pipeline(tmp_path: Path) -> None:
    p = run("-c", "for i in 1 2 3; do echo $i; done | grep -v 2 > out; cat out", cwd=tmp_path)
    assert p.stdout == b"1\n3\n" and p.returncode == 0


def test_issue_acceptance_caret(tmp_path: Path) -> None:
    p = run("-c", 'echo "unterminated')
    assert p.returncode == 2
    err = p.stderr.decode()
    assert "syntax error" in err and 'echo "unterminated' in err
    assert err.splitlines()[2].index("^") == err.splitlines()[1].index('"')
    assert "Traceback" not in err


def test_dollar_zero_and_args() -> None:
    p = run("-c", 'echo "$0|$1|$#"', "name", "a", "b")
    assert p.stdout == b"name|a|2\n"


def test_script_file_with_shebang_and_args(tmp_path: Path) -> None:
    script = tmp_path / "s.onesh"
    script.write_text("#!/usr/bin/env onesh\necho \"$0 got $1\"\nexit 7\n")
    p = run(str(script), "arg")
    assert p.stdout.decode() == f"{script} got arg\n" and p.returncode == 7


def test_script_from_stdin() -> None:
    p = run(input=b"x=5\necho $((x*2))\n")
    assert p.stdout == b"10\n"


def test_missing_script_is_127(tmp_path: Path) -> None:
    p = run(str(tmp_path / "nope.onesh"))
    assert p.returncode == 127 and b"No such file" in p.stderr


def test_flags_e_x_and_pipefail() -> None:
    assert run("-e", "-c", "false; echo no").returncode == 1
    p = run("-x", "-c", "echo hi")
    assert b"+ echo hi" in p.stderr
    assert run("-o", "pipefail", "-c", "false | true").returncode == 1


def test_version_and_help() -> None:
    assert run("--version").stdout.startswith(b"onesh ")
    assert b"usage: onesh" in run("--help").stdout


def test_invalid_option() -> None:
    p = run("-Z")
    assert p.returncode == 2 and b"invalid option" in p.stderr


def test_reserved_subcommand_without_cluster_support_is_clear() -> None:
    p = run("bootstrap", "--help")
    assert b"Traceback" not in p.stderr


def test_large_binary_pipeline_integrity(tmp_path: Path) -> None:
    data = os.urandom(8 * 1024 * 1024)
    (tmp_path / "in").write_bytes(data)
    p = run("-c", "cat in | cat | cat > out", cwd=tmp_path)
    assert p.returncode == 0
    assert hashlib.sha256((tmp_path / "out").read_bytes()).digest() == hashlib.sha256(data).digest()


def test_no_traceback_on_internal_error_unless_debug(tmp_path: Path) -> None:
    # A deeply recursive function hits the nesting limit with a clear message.
    p = run("-c", "f() { f; }; f")
    assert p.returncode != 0 and b"Traceback" not in p.stderr
    assert b"maximum function nesting level" in p.stderr


def test_unicode_and_binary_safe_arguments(tmp_path: Path) -> None:
    p = run("-c", "printf '%s\\n' \"$1\"", "_", "héllo wörld")
    assert p.stdout.decode() == "héllo wörld\n"


@pytest.mark.parametrize(("code", "status"), [
    ("exit 300", 44), ("sh -c 'kill -INT $$'", 130), ("nosuchcmd_zz", 127), ("/", 126),
    ("true | false", 1), ("! true", 1), ("(exit 9)", 9),
])
def test_exit_statuses(code: str, status: int) -> None:
    assert run("-c", code).returncode == status


def test_background_job_and_wait_status() -> None:
    p = run("-c", "sleep 0.1 & (exit 3) & wait $!; echo $?; wait; echo done")
    assert p.stdout == b"3\ndone\n"


def test_kill_job_spec() -> None:
    """`kill %1` kills the command itself, not a child shell that waits
    for it (which left it running on its own, holding the test's pipe)."""
    p = run("-c", "sleep 23.25 >/dev/null 2>&1 & sleep 0.3; kill %1; wait %1; echo $?")
    assert p.stdout == b"143\n"
    left = subprocess.run(["pgrep", "-f", "^sleep 23.25$"], capture_output=True)
    assert left.stdout == b"", left.stdout


def test_env_is_passed_to_children() -> None:
    env = dict(os.environ, FROM_PARENT="yes")
    p = run("-c", "sh -c 'echo $FROM_PARENT'; X=1 sh -c 'echo $X'", env=env)
    assert p.stdout == b"yes\n1\n"


def test_eval_and_source_errors_do_not_crash(tmp_path: Path) -> None:
    p = run("-c", "eval 'echo )'; echo after $?; . ./missing; echo $?", cwd=tmp_path)
    assert p.stdout == b"after 2\n1\n"
    assert b"syntax error" in p.stderr


@pytest.mark.skipif(not os.path.exists("/bin/bash"), reason="bash not installed")
def test_a_script_s_errors_name_the_file_and_line_like_bash(tmp_path: Path) -> None:
    """`FILE: line N: cmd: message`, as bash: a builtin's error, a command
    not found, one inside a function (its own line), one in `eval` (the
    eval's line) and one in a sourced file (that file's line)."""
    (tmp_path / "lib.sh").write_text("true\ncd /nonexistent-lib\n")
    script = tmp_path / "s.sh"
    script.write_text("echo start\n\ncd /nonexistent-1\neval 'cd /nonexistent-2'\nf() {\n  cd /nonexistent-3\n}\n"
                      "f\nnosuchcmd_zz\nsource lib.sh\nread 1bad < /dev/null\necho end\n")
    onesh = run("s.sh", cwd=tmp_path)
    bash = subprocess.run(["/bin/bash", "s.sh"], cwd=tmp_path, capture_output=True)
    assert onesh.stdout == bash.stdout == b"start\nend\n"
    assert onesh.stderr.decode() == bash.stderr.decode()
    assert b"s.sh: line 6: cd: /nonexistent-3" in onesh.stderr
