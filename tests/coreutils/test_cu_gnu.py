"""The builtin agents agree with GNU coreutils (LC_ALL=C) on stdout and
exit status: table-driven cases plus hypothesis-generated inputs/options.

Our side runs in-process (run_tool with BytesIO streams: fast); a sample
also runs as `python -m onesh.coreutils` to cover the real entry point."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onesh.coreutils.common import Io, run_tool

ENV = {**os.environ, "LC_ALL": "C"}
ENV.pop("ONESH_DEVICES", None)
TOOLS = ("cat", "grep", "head", "tail", "wc", "sort", "uniq", "tee", "cut", "tr")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS), reason="GNU coreutils missing")

TEXT = (b"banana 3\napple 10\ncherry 2\napple 10\n\n\nDate\tx:y:z\n  lead space\nbanana 3\n"
        b"zeta 1.5K\nalpha 200\nb 2M\nc -1K\nd 999\ne -5\nf 1e3\ng  07\nApple 10\n\x01ctl\xffhigh\n"
        b"max value=0.95 state=max\na:b:c:d\n:x:\nword-wordy words\nline without newline")


def ours(args: list[str], data: bytes, cwd: Path | None = None) -> tuple[bytes, int]:
    out, err = io.BytesIO(), io.BytesIO()
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        status = run_tool(args, Io(args[0], io.BytesIO(data), out, err))
    finally:
        os.chdir(old)
    assert b"Traceback" not in err.getvalue()
    return out.getvalue(), status


def gnu(args: list[str], data: bytes, cwd: Path | None = None) -> tuple[bytes, int]:
    p = subprocess.run(args, input=data, capture_output=True, env=ENV, timeout=30, cwd=cwd)
    return p.stdout, p.returncode


CASES: list[list[str]] = [
    # cat
    ["cat"], ["cat", "-n"], ["cat", "-b"], ["cat", "-s"], ["cat", "-A"], ["cat", "-E", "-T"], ["cat", "-v"],
    ["cat", "-e"], ["cat", "-t"], ["cat", "-sn"], ["cat", "-bE"], ["cat", "--number", "--squeeze-blank"],
    ["cat", "-u"], ["cat", "-"],
    # grep
    ["grep", "a"], ["grep", "-v", "a"], ["grep", "-c", "an"], ["grep", "-n", "-i", "APPLE"],
    ["grep", "-E", "ap+le|che"], ["grep", "-F", "1.5"], ["grep", "-w", "x"], ["grep", "-x", "banana 3"],
    ["grep", "-o", "[0-9]\\+"], ["grep", "-q", "zeta"], ["grep", "nomatch"], ["grep", "-m", "2", "a"],
    ["grep", "-e", "zeta", "-e", "Date"], ["grep", "\\(an\\)\\{2\\}"], ["grep", "x"], ["grep", "-c", "-v", "e"],
    ["grep", "-E", "(a|b)\\1"], ["grep", "[[:upper:]]"], ["grep", "[^a-z ]"], ["grep", "^a"], ["grep", "0$"],
    ["grep", "-E", "a{2,}"], ["grep", "-o", "b*"], ["grep", "-o", "-n", "an"], ["grep", "\\<wor"],
    ["grep", "-w", "word"], ["grep", "-w", "-o", "word[a-z]*"], ["grep", "-i", "-w", "APPLE"], ["grep", "-H", "a"],
    ["grep", "-h", "a"], ["grep", "-l", "a"], ["grep", "-L", "a"], ["grep", "-L", "qqq"], ["grep", "-c", "-m", "3", "a"],
    ["grep", "-v", "-o", "a"], ["grep", "-E", "^(a|b)"], ["grep", "-x", "-E", "[a-z]+ [0-9]+"], ["grep", "a.c"],
    ["grep", "\\."], ["grep", "-F", "-x", "apple 10"], ["grep", "-F", "-w", "-i", "word"], ["grep", "-e", ""],
    ["grep", "-E", "x+$"], ["grep", "*b"], ["grep", "-E", "a|"], ["grep", "\\(a\\)*"], ["grep", "[a-"],
    ["grep", "-E", "(ab"], ["grep", "a\\{1"], ["grep", "--color=never", "an"], ["grep", "--line-buffered", "an"],
    ["grep", "-s", "an"], ["grep", "-a", "ctl"], ["grep", "-y", "DATE"], ["grep", "\\w\\W\\w"],
    ["grep", "-E", "\\s[0-9]\\b"], ["grep", "-G", "a|b"], ["grep", "-E", "a\\|b"], ["grep", "[]:]"],
    ["grep", "-Z"], ["grep"], ["grep", "-m"], ["grep", "--nonsense", "a"], ["grep", "--count", "--inv", "a"],
    # head
    ["head"], ["head", "-n", "3"], ["head", "-3"], ["head", "-n", "-4"], ["head", "-c", "17"], ["head", "-c", "-5"],
    ["head", "-n", "0"], ["head", "-n3"], ["head", "--lines=2"], ["head", "-c", "1K"], ["head", "-v", "-n", "1"],
    ["head", "-n", "x"], ["head", "-q"], ["head", "-n", "-0"],
    # tail
    ["tail"], ["tail", "-n", "2"], ["tail", "-n", "+5"], ["tail", "-c", "9"], ["tail", "-c", "+9"], ["tail", "-2"],
    ["tail", "-n", "0"], ["tail", "-n", "+0"], ["tail", "-v", "-n", "1"], ["tail", "-n", "100"], ["tail", "-n", "z"],
    # wc
    ["wc"], ["wc", "-l"], ["wc", "-w"], ["wc", "-c"], ["wc", "-m"], ["wc", "-L"], ["wc", "-lw"], ["wc", "-lwmcL"],
    ["wc", "--lines", "--bytes"], ["wc", "-x"],
    # sort
    ["sort"], ["sort", "-r"], ["sort", "-n"], ["sort", "-u"], ["sort", "-k", "2", "-n"], ["sort", "-f"],
    ["sort", "-t", ":", "-k", "2"], ["sort", "-k", "1,1", "-r"], ["sort", "-h", "-k", "2"], ["sort", "-k2,2n", "-k1,1r"],
    ["sort", "-b", "-k", "2"], ["sort", "-k", "1.2,1.3"], ["sort", "-fu"], ["sort", "-nu"], ["sort", "-rn"],
    ["sort", "-k", "2,2", "-s"], ["sort", "-g", "-k", "2"], ["sort", "-d"], ["sort", "-i"], ["sort", "-k2nr", "-k1"],
    ["sort", "-c"], ["sort", "-C"], ["sort", "-k", "1.3b"], ["sort", "-k", "3"], ["sort", "-n", "-r", "-s"],
    ["sort", "-u", "-k", "1,1"], ["sort", "-hr", "-k2"], ["sort", "-k", "1.2b,2.2b"], ["sort", "-t", ":", "-k", "1.2,2.1"],
    ["sort", "-b"], ["sort", "-k", "0"], ["sort", "-t", "ab"], ["sort", "-k", "2,2", "-k", "1,1", "-r"],
    ["sort", "-m"], ["sort", "-S", "1M", "--parallel=2"], ["sort", "--key=2,2n"], ["sort", "-gn"],
    # uniq
    ["uniq"], ["uniq", "-c"], ["uniq", "-d"], ["uniq", "-u"], ["uniq", "-i"], ["uniq", "-f", "1"], ["uniq", "-s", "2"],
    ["uniq", "-w", "3"], ["uniq", "-D"], ["uniq", "--group"], ["uniq", "--group=both"], ["uniq", "--group=append"],
    ["uniq", "--group=prepend"], ["uniq", "-dc"], ["uniq", "-ic"], ["uniq", "-cD"], ["uniq", "-f", "x"],
    ["uniq", "--all-repeated"], ["uniq", "-f1", "-s1", "-c"],
    # cut
    ["cut", "-c", "1-3"], ["cut", "-d", " ", "-f", "2"], ["cut", "-d", ":", "-f", "2-", "-s"],
    ["cut", "-b", "2,4-5", "--complement"], ["cut", "-d", " ", "-f", "1,2", "--output-delimiter=|"],
    ["cut", "-c", "1,3-4,2", "--output-delimiter=_"], ["cut", "-c", "-2"], ["cut", "-c", "3-"], ["cut", "-f", "2"],
    ["cut", "-d", ":", "-f", "3,1"], ["cut", "-d", ":", "-f", "1-2,2-3"], ["cut", "-c", "0"], ["cut", "-c", "3-1"],
    ["cut", "-b", "1", "-d", ":"], ["cut", "-c", "2-3,5-", "--complement"], ["cut", "-d", ":", "--complement", "-f", "2"],
    ["cut", "-f", "-"], ["cut", "-c", "a"], ["cut"], ["cut", "-c", "1-3,2-5", "--output-delimiter=_"],
    ["cut", "-n", "-b", "2-4"], ["cut", "-s", "-c", "1"], ["cut", "-d", "::", "-f", "1"],
    # tr
    ["tr", "a-z", "A-Z"], ["tr", "-d", "[:digit:]"], ["tr", "-s", " \\n"], ["tr", "-c", "a-z\\n", "_"],
    ["tr", "-cd", "[:alpha:]"], ["tr", "-s", "a-z", "A-Z"], ["tr", "[:lower:]", "[:upper:]"], ["tr", "-t", "a-z", "AB"],
    ["tr", "a-z", "AB"], ["tr", "abc", "[x*]"], ["tr", "abc", "x[y*2]"], ["tr", "-ds", "a-c", "[:space:]"],
    ["tr", "\\\\", "/"], ["tr", "\\101-\\132", "x"], ["tr", "[=a=]", "Q"], ["tr", "-s", "[:space:]"],
    ["tr", "-d", "\\n\\t"], ["tr", "-C", "[:alnum:]", "."], ["tr", "a-z", "[:digit:]"], ["tr", "z-a", "x"], ["tr", "-s"],
    ["tr", "-d", "[:punct:]"], ["tr", "[:upper:]", "[:lower:]"], ["tr", "-d", "[:alnum:][:space:]"], ["tr", "a"],
    ["tr", "-d", "a", "b"], ["tr", "[:bogus:]", "x"], ["tr", "-s", "\\001-\\377"],
    # tee (no files: stdout only)
    ["tee"], ["tee", "-a"],
]


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_same_as_gnu(args: list[str]) -> None:
    assert ours(args, TEXT) == gnu(args, TEXT)


FILE_CASES: list[list[str]] = [
    ["grep", "x", "a", "missing"], ["grep", "-s", "x", "a", "missing"], ["grep", "-q", "x", "a", "missing"],
    ["grep", "-c", "x", "a", "b"], ["grep", "-l", "x", "a", "b", "c"], ["grep", "-L", "x", "a", "b", "c"],
    ["grep", "-h", "-n", "x", "a", "b"], ["grep", "x", "dir"], ["grep", "-H", "x", "a"], ["grep", "x", "-", "a"],
    ["grep", "-f", "pats", "a", "b"], ["grep", "-f", "missing", "a"], ["grep", "-r", "x", "a"],
    ["wc", "a", "b"], ["wc", "-l", "a", "b", "c"], ["wc", "a", "missing"], ["wc", "-c", "a"], ["wc", "dir"],
    ["wc", "-", "a"], ["wc", "-L", "a", "b"],
    ["head", "-n", "1", "a", "b"], ["head", "-q", "-n", "1", "a", "b"], ["head", "a", "missing", "b"],
    ["head", "-c", "3", "a", "c"], ["tail", "-n", "1", "a", "b"], ["tail", "-c", "4", "a", "b", "c"],
    ["tail", "-q", "a", "b"], ["tail", "-n", "+2", "a", "missing"], ["tail", "-n", "0", "a", "b"],
    ["cat", "missing"], ["cat", "a", "b", "c"], ["cat", "-n", "b", "a"], ["cat", "-s", "-n", "c", "b", "c"],
    ["cat", "dir", "a"], ["cat", "a", "-", "b"],
    ["sort", "a", "b"], ["sort", "-u", "a", "b", "a"], ["sort", "missing"], ["sort", "-c", "b"],
    ["uniq", "b"], ["uniq", "-c", "a"], ["uniq", "missing"], ["uniq", "a", "b", "c"],
    ["cut", "-c", "2", "a", "b"], ["cut", "-f", "1", "missing", "a"], ["tr", "a", "b", "c"],
]


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    (tmp_path / "a").write_bytes(b"x1\ny2\nx3\n\n\n\nlast x")
    (tmp_path / "b").write_bytes(b"zz\nx\tq\nzz\nzz\n")
    (tmp_path / "c").write_bytes(b"")
    (tmp_path / "pats").write_bytes(b"zz\n1$\n")
    (tmp_path / "dir").mkdir()
    return tmp_path


@pytest.mark.parametrize("args", FILE_CASES, ids=[" ".join(c) for c in FILE_CASES])
def test_files_same_as_gnu(args: list[str], files_dir: Path) -> None:
    if args == ["grep", "-r", "x", "a"]:
        assert ours(args, b"x\n", files_dir)[1] == 2  # -r is not supported: a usage error
        return
    assert ours(args, b"stdin x\n", files_dir) == gnu(args, b"stdin x\n", files_dir)


def test_outputs_to_files(tmp_path: Path) -> None:
    for args in (["sort", "-o", "out", "in"], ["uniq", "-c", "in", "out"], ["tee", "out", "out2"],
                 ["tee", "-a", "out"], ["sort", "-r", "-o", "in", "in"]):
        for who in ("gnu", "ours"):
            d = tmp_path / who
            d.mkdir(exist_ok=True)
            (d / "in").write_bytes(b"b\na\na\nc\n")
            (d / "out").write_bytes(b"old\n")
            (d / "out2").unlink(missing_ok=True)
            run = gnu if who == "gnu" else ours
            result = run(args, b"piped\n", d)
            contents = [(d / n).read_bytes() if (d / n).exists() else None for n in ("in", "out", "out2")]
            if who == "gnu":
                expected = (result, contents)
            else:
                assert (result, contents) == expected, args


@pytest.mark.parametrize("args", [["grep", "-n", "a"], ["sort", "-k", "2n"], ["cut", "-c", "2-"], ["wc"],
                                  ["tr", "a-z", "A-Z"], ["uniq", "-c"], ["cat", "-A"], ["tail", "-n", "3"]])
def test_entry_point_same_as_gnu(args: list[str]) -> None:
    p = subprocess.run([sys.executable, "-m", "onesh.coreutils", *args], input=TEXT, capture_output=True,
                       env=ENV, timeout=30)
    assert (p.stdout, p.returncode) == gnu(args, TEXT)
    assert p.stderr == b""


def test_usage_errors_are_short_and_gnu_like() -> None:
    for args, status in ((["head", "-Z"], 1), (["grep", "-Z"], 2), (["cut"], 1), (["sort", "--bogus"], 2),
                         (["tr"], 1), (["wc", "--lin=3"], 1)):
        p = subprocess.run([sys.executable, "-m", "onesh.coreutils", *args], input=b"", capture_output=True,
                           env=ENV, timeout=30)
        assert p.returncode == status == gnu(args, b"")[1], args
        assert p.stderr.startswith(args[0].encode() + b": "), p.stderr
        assert b"Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "onesh.coreutils", "nosuchtool"], capture_output=True, timeout=30)
    assert p.returncode == 2 and b"Traceback" not in p.stderr


def test_file_error_messages(tmp_path: Path) -> None:
    for tool in ("cat", "head", "tail", "wc", "sort", "uniq", "cut"):
        args = [tool, "missing"] if tool != "cut" else [tool, "-c1", "missing"]
        p = subprocess.run([sys.executable, "-m", "onesh.coreutils", *args], capture_output=True, cwd=tmp_path,
                           env=ENV, timeout=30)
        g = subprocess.run(args, capture_output=True, cwd=tmp_path, env=ENV, timeout=30)
        assert p.returncode == g.returncode
        assert p.stderr.startswith(f"{tool}: ".encode()) and b"No such file or directory" in p.stderr
    p = subprocess.run([sys.executable, "-m", "onesh.coreutils", "grep", "x", "missing"], capture_output=True,
                       cwd=tmp_path, timeout=30)
    assert p.stderr == b"grep: missing: No such file or directory\n" and p.returncode == 2


def test_binary_file_matches() -> None:
    data = b"x\na\0b\nab\n"
    assert ours(["grep", "a"], data) == gnu(["grep", "a"], data) == (b"", 0)
    assert ours(["grep", "-c", "a"], data) == gnu(["grep", "-c", "a"], data)
    assert ours(["grep", "-a", "a"], data) == gnu(["grep", "-a", "a"], data)


def test_big_input_in_blocks() -> None:
    data = b"".join(b"line %d %s\n" % (i, b"x" * (i % 7)) for i in range(60000))
    for args in (["cat"], ["grep", "-c", "xxx"], ["grep", "-v", "5"], ["wc"], ["head", "-n", "40000"],
                 ["tail", "-n", "3"], ["cut", "-d", " ", "-f", "2"], ["tr", "-s", "x"], ["sort", "-k2,2n"],
                 ["uniq", "-c", "-f", "2"], ["cat", "-n"]):
        assert ours(args, data) == gnu(args, data), args


# ----------------------------------------------------------------- hypothesis
lines = st.lists(st.text(alphabet="ab c:\t1.9-A\r", max_size=12), max_size=25).map(
    lambda ls: "".join(x + "\n" for x in ls).encode())
maybe_unterminated = st.tuples(lines, st.text(alphabet="ab c:1", max_size=4)).map(lambda t: t[0] + t[1].encode())
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                    derandomize=True)

atom = st.sampled_from(["a", "b", "c", " ", ".", "[ab]", "[^a ]", "1", ":", "[[:digit:]]", "A"])
piece = st.tuples(atom, st.sampled_from(["", "", "*", "\\{1,2\\}"])).map("".join)
bre = st.tuples(st.sampled_from(["", "^"]), st.lists(piece, min_size=1, max_size=4).map("".join),
                st.sampled_from(["", "$"])).map("".join)
grep_flags = st.lists(st.sampled_from(["-v", "-i", "-c", "-n", "-w", "-x", "-o", "-m2", "-h", "-H"]),
                      max_size=3, unique=True)


@SETTINGS
@given(data=maybe_unterminated, pattern=bre, flags=grep_flags)
def test_grep_random(data: bytes, pattern: str, flags: list[str]) -> None:
    args = ["grep", *flags, "-e", pattern]
    assert ours(args, data) == gnu(args, data)


@SETTINGS
@given(data=maybe_unterminated, words=st.lists(st.text(alphabet="abc1 ", min_size=1, max_size=3), min_size=1,
                                              max_size=3),
       flags=st.lists(st.sampled_from(["-v", "-i", "-c", "-w", "-x", "-n"]), max_size=2, unique=True))
def test_grep_fixed_random(data: bytes, words: list[str], flags: list[str]) -> None:
    args = ["grep", "-F", *flags, *[a for w in words for a in ("-e", w)]]
    assert ours(args, data) == gnu(args, data)


cut_list = st.lists(st.tuples(st.integers(1, 6), st.sampled_from(["", "-", "-2", "-5"])).map(
    lambda t: f"{t[0]}{t[1]}"), min_size=1, max_size=3).map(",".join)


@SETTINGS
@given(data=maybe_unterminated, mode=st.sampled_from(["-b", "-c", "-f"]), spec=cut_list,
       flags=st.lists(st.sampled_from(["-s", "--complement", "--output-delimiter=|", "-d:", "-d "]), max_size=2,
                      unique=True))
def test_cut_random(data: bytes, mode: str, spec: str, flags: list[str]) -> None:
    args = ["cut", mode, spec, *flags]
    assert ours(args, data) == gnu(args, data)


tr_set = st.lists(st.sampled_from(["a", "b", "c", "a-c", " ", "\\n", "[:digit:]", "[:space:]", "1-9", ":", "\\t",
                                   "[:alpha:]", "[:upper:]", "[:punct:]"]), min_size=1, max_size=3).map("".join)
tr_set2 = st.lists(st.sampled_from(["x", "y", "A-C", "_", "[z*]", "\\n", "0-9"]), min_size=1, max_size=3).map("".join)


@SETTINGS
@given(data=maybe_unterminated, set1=tr_set, set2=tr_set2,
       mode=st.sampled_from([[], ["-d"], ["-s"], ["-c"], ["-cd"], ["-ds"], ["-cs"], ["-t"]]))
def test_tr_random(data: bytes, set1: str, set2: str, mode: list[str]) -> None:
    args = ["tr", *mode, set1] if mode in (["-d"], ["-cd"]) else ["tr", *mode, set1, set2]
    assert ours(args, data) == gnu(args, data)


sort_key = st.tuples(st.integers(1, 3), st.sampled_from(["", ".2"]), st.sampled_from(["", ",1", ",2", ",3", ",2.1"]),
                     st.sampled_from(["", "n", "r", "b", "f", "nr"])).map(lambda t: "".join(map(str, t)))


@SETTINGS
@given(data=maybe_unterminated,
       flags=st.lists(st.sampled_from(["-n", "-r", "-u", "-f", "-s", "-b", "-t:", "-h", "-d"]), max_size=3,
                      unique=True),
       keys=st.lists(sort_key, max_size=2))
def test_sort_random(data: bytes, flags: list[str], keys: list[str]) -> None:
    if "-n" in flags and "-h" in flags:
        flags.remove("-h")
    args = ["sort", *flags, *[a for k in keys for a in ("-k", k)]]
    assert ours(args, data) == gnu(args, data)


@SETTINGS
@given(data=maybe_unterminated,
       flags=st.lists(st.sampled_from(["-c", "-d", "-u", "-i", "-f1", "-s1", "-w2", "-D", "--group"]), max_size=3,
                      unique=True))
def test_uniq_random(data: bytes, flags: list[str]) -> None:
    args = ["uniq", *flags]
    assert ours(args, data) == gnu(args, data)


@SETTINGS
@given(data=st.binary(max_size=200) | maybe_unterminated,
       flags=st.lists(st.sampled_from(["-l", "-w", "-c", "-m", "-L"]), max_size=3, unique=True))
def test_wc_random(data: bytes, flags: list[str]) -> None:
    args = ["wc", *flags]
    assert ours(args, data) == gnu(args, data)


@SETTINGS
@given(data=st.binary(max_size=120) | maybe_unterminated,
       args=st.sampled_from([["cat", "-A"], ["cat", "-sn"], ["cat", "-b"], ["cat", "-vT"], ["head", "-n", "3"],
                             ["head", "-c", "-7"], ["head", "-n", "-2"], ["tail", "-n", "3"], ["tail", "-c", "5"],
                             ["tail", "-n", "+2"], ["tail", "-c", "+3"]]))
def test_cat_head_tail_random(data: bytes, args: list[str]) -> None:
    assert ours(args, data) == gnu(args, data)
