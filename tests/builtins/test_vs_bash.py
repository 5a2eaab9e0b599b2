"""printf, echo and test compared argument-for-argument with bash's own
builtins: same stdout, same status."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from onesh.builtins import test as test_builtin
from onesh.builtins.api import IO
from onesh.builtins.echo import echo
from onesh.builtins.printf import printf
from onesh.engine.state import ShellState

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash not installed")


class _Shell:
    def __init__(self) -> None:
        self.state = ShellState(environ={})
        self.sourcing = 0

    def run_text(self, text: str, name: str) -> int:
        raise NotImplementedError

    def where(self) -> str:
        return "onesh: "

    def history(self) -> list[str]:
        return []

    cluster = None

    def namespace_dir(self, path: str) -> bool:
        return False


def call(fn, argv: list[str]) -> tuple[bytes, int]:  # type: ignore[no-untyped-def]
    r, w = os.pipe()
    er, ew = os.pipe()
    try:
        status = fn(argv, IO(0, w, ew, _Shell()))
    finally:
        os.close(w)
        os.close(ew)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    while os.read(er, 65536):
        pass
    os.close(er)
    return out, status


def bash(builtin: str, args: list[str]) -> tuple[bytes, int]:
    p = subprocess.run(["bash", "--norc", "-c", f'{builtin} "$@"', "_", *args], capture_output=True,
                       env={"LC_ALL": "C", "PATH": os.environ["PATH"]}, timeout=10)
    return p.stdout, p.returncode


PRINTF_CASES = [
    ["%s\n", "a", "b"], ["%5s|%-5s|%.1s\n", "ab", "cd", "xyz"], ["%d %i %u\n", "42", "-3", "7"],
    ["%x %X %o %#o %#x\n", "255", "255", "8", "8", "255"], ["%05d|%+d|% d\n", "42", "5", "5"],
    ["%.3f|%10.2f|%-8.1f|\n", "3.14159", "2.5", "1"], ["%e %E %g %G\n", "12345.678", "0.5", "1e-5", "1e10"],
    ["%c|%c\n", "hello", ""], ["%c|"], ["%%|%s\n", "x"], ["%b\n", "a\\tb\\x41\\0101"], ["%q\n", "a b'c"],
    ["%d\n", "'A"], ["%d\n", "0x1f"], ["%d\n", "017"], ["%s %s %s\n", "only"], ["no newline"],
    ["%*d|%-*d|\n", "5", "1", "4", "2"], ["%.*f\n", "2", "3.14159"], ["tab\\there\\n"], ["%x\n", "-1"],
    ["%d\n", "12abc"], ["%s\n"], ["%5.2s|\n", "abc"], ["\\101\\x42\\u0043\n"], ["%b", "stop\\cnot"],
    ["%#x %#X %#o\n", "0", "0", "0"], ["%d\n", "99999999999999999999"], ["%u %x\n", "18446744073709551615", "-1"],
    ["%f\n", "1.5abc"], ["%q\n", "~x", "#a", "a#", "x=~", "a,b", "a:b"], ["%(%Y-%m-%d)T|%10(%H)T|\n", "0", "3600"],
    ["%.0f %.0f %.0f\n", "0.5", "1.5", "2.5"], ["%g %g %g\n", "100000", "1000000", "0.00001"], ["%c\n", "65"],
    ["%0-5d|%-5x|\n", "3", "10"], ["%ld %hd\n", "1", "2"], ["a%"], ["%z"], ["\\x4g\\q\n"],
    ["%a %A %.0a %.2a %#a|%12.0a|%-+10a|%010a\n", "1", "-2.25", "1e3", "31", "0", "42", "0.5", "3"],
    ["%05.1e|%-6f|%+F|%e\n", "inf", "-inf", "nan", "-nan"],
]


@pytest.mark.parametrize("args", PRINTF_CASES, ids=[repr(c) for c in PRINTF_CASES])
def test_printf_matches_bash(args: list[str]) -> None:
    assert call(printf, ["printf", *args]) == bash("printf", args)


ECHO_CASES = [["a", "b"], ["-n", "x"], ["-e", "a\\tb\\n"], ["-E", "a\\tb"], ["-ne", "x\\ny"], ["-z"],
              ["--", "x"], ["-e", "\\0101\\x41"], ["-e", "stop\\cmore"], ["-nn", "y"], ["-en", "\\t|"], []]


@pytest.mark.parametrize("args", ECHO_CASES, ids=[repr(c) for c in ECHO_CASES])
def test_echo_matches_bash(args: list[str]) -> None:
    assert call(echo, ["echo", *args]) == bash("echo", args)


TEST_CASES = [
    [], ["x"], [""], ["-n", ""], ["-z", ""], ["a", "=", "a"], ["a", "!=", "a"], ["1", "-lt", "2"],
    ["3", "-ge", "4"], ["x", "-eq", "1"], ["!", "x"], ["!", ""], ["-e", "/"], ["-d", "/"], ["-f", "/"],
    ["(", "x", ")"], ["a", "-a", ""], ["a", "-o", ""], ["!", "a", "=", "b"], ["a", "<", "b"],
    ["-q", "x"], ["a", "b", "c"], ["1", "-eq", "1", "-a", "2", "-eq", "2"], ["(", "1", "-eq", "2", ")"],
    ["-x", "/bin/sh"], ["-s", "/etc/passwd"], ["-L", "/nonexistent"], [" 5 ", "-eq", "5"], ["-t", "99"],
    ["99999999999999999999", "-gt", "1"], ["010", "-eq", "10"], ["-5", "-lt", "3"], ["-R", "x"], ["!", "!", "x"],
    ["(", "=", ")"], ["-a"], ["-a", "-a"], ["x", "="], ["a", "-a", "b", "-o", ""], ["!", "a", "=", "b", "-a", "c"],
    ["(", "(", "x", ")", ")"], ["1", "-eq", "1", "-o", "x"], ["-e", ""], ["a", "==", "a"], ["a", "=~", "a"],
]


@pytest.mark.parametrize("args", TEST_CASES, ids=[repr(c) for c in TEST_CASES])
def test_test_matches_bash(args: list[str]) -> None:
    assert call(test_builtin.test, ["test", *args])[1] == bash("test", args)[1]
    assert call(test_builtin.bracket, ["[", *args, "]"])[1] == bash("[", [*args, "]"])[1]


UTF8_PRINTF_CASES = [["%c%.2s|\n", "\u00e9a", "h\u00e9llo"], ["%5s|%-4s|\n", "\u00e9", "\u00e9"], ["%b\n", "\\u263a"]]


@pytest.mark.parametrize("args", UTF8_PRINTF_CASES, ids=[repr(c) for c in UTF8_PRINTF_CASES])
def test_printf_utf8_counts_bytes_like_bash(args: list[str]) -> None:
    p = subprocess.run(["bash", "--norc", "-c", 'printf "$@"', "_", *args], capture_output=True,
                       env={"LC_ALL": "C.UTF-8", "PATH": os.environ["PATH"]}, timeout=10)
    assert call(printf, ["printf", *args]) == (p.stdout, p.returncode)


def test_test_grammar_exhaustive_vs_bash() -> None:
    """Every argument list of up to 3 tokens, and seeded random 4- and
    5-token lists, from operator-heavy tokens: same status as bash."""
    import itertools
    import random
    import shlex

    toks = ["!", "(", ")", "-a", "-o", "-n", "-z", "=", "x", "", "1", "-eq", "-f", "/", "<"]
    rng = random.Random(1)
    combos = [list(c) for n in range(4) for c in itertools.product(toks, repeat=n)]
    combos += [rng.choices(toks, k=4) for _ in range(1500)] + [rng.choices(toks, k=5) for _ in range(500)]
    script = "\n".join("test " + " ".join(shlex.quote(a) for a in c) + " 2>/dev/null; echo $?" for c in combos)
    p = subprocess.run(["bash", "--norc"], input=script.encode(), capture_output=True, timeout=60,
                       env={"LC_ALL": "C", "PATH": os.environ["PATH"]})
    want = [int(w) for w in p.stdout.split()]
    assert len(want) == len(combos)
    got = [call(test_builtin.test, ["test", *c])[1] for c in combos]
    mismatches = [(c, w, g) for c, w, g in zip(combos, want, got, strict=True) if w != g]
    assert mismatches == []


def test_printf_random_formats_vs_bash() -> None:
    """Seeded random conversions (flags, width, precision) over awkward
    arguments, all run by one bash: same bytes and status."""
    import random
    import re
    import shlex

    rng = random.Random(2)
    args = ["0", "1", "-1", "42", "3.5", "-2.25", "abc", "", "0x1F", "077", "'A", "1e3", "12abc", " 7", "a b",
            "\\t", "99999"]
    cases: list[list[str]] = []
    for _ in range(800):
        spec = ("%" + "".join(rng.sample("-+ #0", rng.randint(0, 2))) + rng.choice(["", "5", "1", "12"])
                + rng.choice(["", ".0", ".2", ".", ".10"]) + rng.choice("diouxXeEfgGcsbq"))
        cases.append(["[" + spec + "]" + rng.choice(["", "\\n", "%s"]), *rng.sample(args, rng.randint(0, 3))])
    script = "\n".join("printf " + " ".join(shlex.quote(a) for a in c) + ' 2>/dev/null; echo "<$?>"' for c in cases)
    p = subprocess.run(["bash", "--norc"], input=script.encode(), capture_output=True, timeout=60,
                       env={"LC_ALL": "C", "PATH": os.environ["PATH"]})
    want = [(o, int(st)) for o, st in re.findall(rb"(.*?)<(\d+)>\n", p.stdout, re.S)]
    assert len(want) == len(cases)
    mismatches = [(c, w, g) for c, w in zip(cases, want, strict=True) if (g := call(printf, ["printf", *c])) != w]
    assert mismatches == []


def test_echo_random_words_vs_bash() -> None:
    """Seeded random mixes of option words and escapes (bytes >= 0x80
    included) through one bash: same bytes."""
    import random
    import re
    import shlex

    rng = random.Random(3)
    toks = ["-n", "-e", "-E", "-ne", "-en", "-x", "--", "-", "a", "\\t", "\\c", "\\0101", "\\x4", "\\x41z",
            "\\\\", "\\q", "\\e", "\\a", "\\01", "\\1", "-nE", "\\0377", "\\xfe"]
    cases = [rng.sample(toks, rng.randint(0, 4)) for _ in range(800)]
    script = "\n".join("echo " + " ".join(shlex.quote(a) for a in c) + '; echo "<$?>"' for c in cases)
    p = subprocess.run(["bash", "--norc"], input=script.encode(), capture_output=True, timeout=60,
                       env={"LC_ALL": "C", "PATH": os.environ["PATH"]})
    want = [(o, int(st)) for o, st in re.findall(rb"(.*?)<(\d+)>\n", p.stdout, re.S)]
    assert len(want) == len(cases)
    mismatches = [(c, w, g) for c, w in zip(cases, want, strict=True) if (g := call(echo, ["echo", *c])) != w]
    assert mismatches == []
