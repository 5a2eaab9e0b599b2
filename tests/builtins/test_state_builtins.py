"""State-level builtins called directly (real pipes, real ShellState).
`read` is compared with bash itself: same input, same variables."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any

import pytest

from onesh.builtins import alias, core, dirs, help, read, vars
from onesh.engine.control import BreakLoop, ContinueLoop, ExitShell, ReturnFromFunction

# fixtures `run` and `shell` come from conftest.py (MiniShell, Runner there)
MiniShell = Any
Runner = Any

HAVE_BASH = shutil.which("bash") is not None

# (options and IFS, input, names) — bash prints each variable bracketed.
READ_CASES = [
    ([], b"one two three\n", ["a", "b"]),
    ([], b"x\\ y z\n", ["a", "b"]),
    (["-r"], b"x\\ y z\n", ["a", "b"]),
    ([], b"x\\\ny z\n", ["a"]),
    ([], b"  lead  trail  \n", ["a"]),
    ([], b"abc", ["a"]),
    ([], b"", ["a"]),
    (["-n", "3"], b"hello\n", ["a"]),
    (["-n", "3"], b"h\nello\n", ["a"]),
    (["-N", "4"], b"h\nello\n", ["a"]),
    (["-n", "0"], b"abc\n", ["a"]),
    (["-d", ";"], b"a,b;c\n", ["a"]),
    (["-d", ""], b"a\0b", ["a"]),
    (["IFS=:"], b"x::y\n", ["a", "b", "c"]),
    (["IFS=:"], b"x:y:\n", ["a", "b"]),
    (["IFS=:"], b"x:y:z:\n", ["a", "b"]),
    (["IFS=:"], b"x:y::\n", ["a", "b"]),
    (["IFS= :"], b" x : y : \n", ["a", "b"]),
    (["IFS="], b"  sp  \n", ["a"]),
    ([], b"aa a b\n", ["a", "b", "c"]),
    ([], b"a   b\n", ["a", "b", "c"]),
]


def _bash_read(opts: list[str], data: bytes, names: list[str]) -> tuple[str, int]:
    ifs = [o for o in opts if o.startswith("IFS=")]
    flags = [o for o in opts if not o.startswith("IFS=")]
    prefix = f"IFS='{ifs[0][4:]}' " if ifs else ""
    quoted = " ".join(f"'{f}'" for f in flags)
    script = f'{prefix}read {quoted} {" ".join(names)}; s=$?; printf "[%s]" ' + " ".join(f'"${n}"' for n in names) + "; exit $s"
    p = subprocess.run(["bash", "--norc", "-c", script], input=data, capture_output=True, timeout=10,
                       env={"LC_ALL": "C", "PATH": os.environ["PATH"]})
    return p.stdout.decode(), p.returncode


@pytest.mark.skipif(not HAVE_BASH, reason="bash not installed")
@pytest.mark.parametrize("opts,data,names", READ_CASES, ids=[repr(c) for c in READ_CASES])
def test_read_matches_bash(run: Runner, shell: MiniShell, opts: list[str], data: bytes, names: list[str]) -> None:
    for o in opts:
        if o.startswith("IFS="):
            shell.state.set("IFS", o[4:])
    flags = [o for o in opts if not o.startswith("IFS=")]
    r = run(read.read, ["read", *flags, *names], data)
    got = "".join(f"[{shell.state.get(n) or ''}]" for n in names)
    assert (got, r.status) == _bash_read(opts, data, names)


def test_read_leaves_rest_of_pipe(run: Runner, shell: MiniShell) -> None:
    r, w = os.pipe()
    os.write(w, b"first\nsecond\n")
    os.close(w)
    from onesh.builtins.api import IO

    assert read.read(["read", "x"], IO(r, 1, 2, shell)) == 0
    assert os.read(r, 100) == b"second\n"
    os.close(r)
    assert shell.state.get("x") == "first"


def test_read_regular_file_seeks_back(shell: MiniShell) -> None:
    from onesh.builtins.api import IO

    with tempfile.TemporaryFile() as f:
        f.write(b"l1\nl2\n")
        f.seek(0)
        assert read.read(["read", "x"], IO(f.fileno(), 1, 2, shell)) == 0
        assert f.read() == b"l2\n"
    assert shell.state.get("x") == "l1"


def test_read_array_reply_and_timeout(run: Runner, shell: MiniShell) -> None:
    assert run(read.read, ["read", "-a", "arr"], b"x\\ y z\n").status == 0
    assert shell.state.get_array("arr") == {0: "x y", 1: "z"}
    assert run(read.read, ["read"], b"  keep \\n  \n").status == 0
    assert shell.state.get("REPLY") == "  keep n  "
    rr, ww = os.pipe()  # nothing ever arrives: -t must give up with 142
    from onesh.builtins.api import IO

    try:
        assert read.read(["read", "-t", "0.1", "x"], IO(rr, 1, 2, shell)) == 142
    finally:
        os.close(rr)
        os.close(ww)
    bad = run(read.read, ["read", "1x"], b"y\n")
    assert bad.status == 1 and "not a valid identifier" in bad.err
    assert run(read.read, ["read", "-q"], b"").status == 2


CONTROL = [
    (["exit", "3"], ExitShell, 3), (["exit", "abc"], ExitShell, 2), (["exit", "256"], ExitShell, 0),
    (["exit", "1", "2"], ExitShell, 1), (["break", "2"], BreakLoop, 2), (["continue"], ContinueLoop, 1),
]


@pytest.mark.parametrize("argv,exc,value", CONTROL, ids=[" ".join(c[0]) for c in CONTROL])
def test_control_builtins_raise(run: Runner, shell: MiniShell, argv: list[str], exc: type[Exception], value: int) -> None:
    shell.state.loop_depth = 2
    fn = {"exit": core.exit_, "break": core.break_, "continue": core.continue_}[argv[0]]
    with pytest.raises(exc) as info:
        run(fn, argv)
    assert getattr(info.value, "status", None) == value or getattr(info.value, "levels", None) == value


def test_control_errors(run: Runner, shell: MiniShell) -> None:
    r = run(core.return_, ["return"])
    assert r.status != 0 and "return" in r.err  # outside a function
    shell.state.push_frame("f", [])
    with pytest.raises(ReturnFromFunction):
        run(core.return_, ["return", "4"])
    shell.state.pop_frame()
    shell.state.loop_depth = 1
    assert run(core.break_, ["break", "0"]).status == 1
    shell.state.positional = ["a", "b", "c"]
    assert run(core.shift, ["shift", "2"]).status == 0 and shell.state.positional == ["c"]
    assert run(core.shift, ["shift", "5"]).status == 1 and shell.state.positional == ["c"]


def test_cd_pwd(run: Runner, shell: MiniShell) -> None:
    start = os.getcwd()
    try:
        with tempfile.TemporaryDirectory() as d:
            real = os.path.realpath(d)
            os.mkdir(os.path.join(real, "sub"))
            os.symlink(os.path.join(real, "sub"), os.path.join(real, "lnk"))
            shell.state.set("PWD", start)
            assert run(dirs.cd, ["cd", real]).status == 0
            assert run(dirs.cd, ["cd", "lnk"]).status == 0
            assert shell.state.get("PWD") == os.path.join(real, "lnk")
            assert run(dirs.pwd, ["pwd"]).out == os.path.join(real, "lnk") + "\n"
            assert run(dirs.pwd, ["pwd", "-P"]).out == os.path.join(real, "sub") + "\n"
            back = run(dirs.cd, ["cd", "-"])
            assert back.out == real + "\n" and shell.state.get("OLDPWD") == os.path.join(real, "lnk")
            shell.state.set("CDPATH", real)
            assert run(dirs.cd, ["cd", "/"]).status == 0
            via = run(dirs.cd, ["cd", "sub"])
            assert via.status == 0 and via.out == os.path.join(real, "sub") + "\n"
            nope = run(dirs.cd, ["cd", "/nope"])
            assert nope.status == 1 and nope.err == "onesh: cd: /nope: No such file or directory\n"
            assert run(dirs.cd, ["cd", "a", "b"]).err == "onesh: cd: too many arguments\n"
    finally:
        os.chdir(start)


def test_umask(run: Runner) -> None:
    old = os.umask(0o022)
    try:
        assert run(dirs.umask, ["umask"]).out == "0022\n"
        assert run(dirs.umask, ["umask", "-S"]).out == "u=rwx,g=rx,o=rx\n"
        assert run(dirs.umask, ["umask", "-p"]).out == "umask 0022\n"
        assert run(dirs.umask, ["umask", "u=rwx,g=rx,o="]).status == 0
        assert run(dirs.umask, ["umask"]).out == "0027\n"
        assert run(dirs.umask, ["umask", "g+w"]).status == 0
        assert run(dirs.umask, ["umask"]).out == "0007\n"
        assert run(dirs.umask, ["umask", "9"]).status == 1
    finally:
        os.umask(old)


def test_variables(run: Runner, shell: MiniShell) -> None:
    st = shell.state
    assert run(vars.export, ["export", "A=1", "B"]).status == 0
    assert 'declare -x A="1"' in run(vars.export, ["export", "-p"]).out
    assert run(vars.declare, ["declare", "-i", "n=3+4"]).status == 0 and st.get("n") == "7"
    assert run(vars.declare, ["declare", "-p", "n"]).out == 'declare -i n="7"\n'
    st.set("nl", "a\nb")
    assert run(vars.declare, ["declare", "-p", "nl"]).out == "declare -- nl=$'a\\nb'\n"
    assert run(vars.readonly, ["readonly", "r=5"]).status == 0
    assert run(vars.declare, ["declare", "r=6"]).status == 1 and st.get("r") == "5"
    assert run(vars.unset, ["unset", "r"]).status == 1
    assert run(vars.unset, ["unset", "A"]).status == 0 and st.get("A") is None
    assert run(vars.declare, ["declare", "-p", "nope"]).status == 1
    bad = run(vars.export, ["export", "1x=2"])
    assert bad.status == 1 and "not a valid identifier" in bad.err
    assert run(vars.export, ["export", "-f", "nofunc"]).status == 1
    st.set("q", "it's")
    assert "q='it'\\''s'\n" in run(vars.set_, ["set"]).out


def test_set_options_and_positionals(run: Runner, shell: MiniShell) -> None:
    st = shell.state
    assert run(vars.set_, ["set", "-eu", "-o", "pipefail"]).status == 0
    assert "errexit" in st.options and "nounset" in st.options and "pipefail" in st.options
    listing = run(vars.set_, ["set", "+o"]).out
    assert "set -o errexit\n" in listing and "set +o noglob\n" in listing
    assert "pipefail       \ton\n" in run(vars.set_, ["set", "-o"]).out
    assert run(vars.set_, ["set", "+e"]).status == 0 and "errexit" not in st.options
    assert run(vars.set_, ["set", "--", "a", "b"]).status == 0 and st.positional == ["a", "b"]
    assert run(vars.set_, ["set", "--"]).status == 0 and st.positional == []
    assert run(vars.set_, ["set", "-o", "bogus"]).status in (1, 2)


def test_alias_help_history(run: Runner, shell: MiniShell) -> None:
    assert run(alias.alias, ["alias", "ll=ls -l", "q=a'b"]).status == 0
    assert run(alias.alias, ["alias"]).out == "alias ll='ls -l'\nalias q='a'\\''b'\n"
    assert run(alias.alias, ["alias", "nope"]).status == 1
    assert run(alias.unalias, ["unalias", "ll"]).status == 0 and "ll" not in shell.state.aliases
    assert run(alias.unalias, ["unalias", "zz"]).status == 1
    assert run(help.help, ["help", "-s", "echo"]).out == "echo: echo [-neE] [arg ...]\n"
    assert run(help.help, ["help", "nope"]).status == 1
    shell.lines[:] = ["ls", "pwd", "echo hi"]
    assert run(help.history, ["history"]).out == "    1  ls\n    2  pwd\n    3  echo hi\n"
    assert run(help.history, ["history", "1"]).out == "    3  echo hi\n"
    assert run(help.history, ["history", "-c"]).status == 0 and shell.lines == []


def test_attribute_listings_and_usage_errors(run: Runner, shell: MiniShell) -> None:
    st = shell.state
    st.set("plain", "1")
    run(vars.export, ["export", "ex=2"])
    listing = run(vars.declare, ["declare", "-x"]).out
    assert 'declare -x ex="2"' in listing and "plain" not in listing
    assert run(vars.readonly, ["readonly", "-a", "ra=(1 2)"]).status == 0
    assert run(vars.declare, ["declare", "-p", "ra"]).out == 'declare -ar ra=([0]="1" [1]="2")\n'
    assert run(vars.readonly, ["readonly", "-q"]).status == 2
    assert run(alias.alias, ["alias", "-x"]).status == 2
    assert "dotglob" not in run(vars.set_, ["set", "-o"]).out  # a shopt option in bash
    old = os.umask(0o022)
    try:
        assert run(dirs.umask, ["umask", "-S", "027"]).out == "u=rwx,g=rx,o=\n"
        assert run(dirs.umask, ["umask", "-p", "-S"]).out == "umask -S u=rwx,g=rx,o=\n"
    finally:
        os.umask(old)


def test_read_t0_bad_fd_and_tty_prompt(run: Runner, shell: MiniShell) -> None:
    from onesh.builtins.api import IO

    assert run(read.read, ["read", "-t", "0"], b"waiting\n").status == 0
    assert run(read.read, ["read", "-t", "0"], b"").status == 0  # EOF counts as readable, like bash
    bad = run(read.read, ["read", "-u", "987", "x"], b"")
    assert bad.status == 1 and "invalid file descriptor" in bad.err
    import pty
    import termios

    master, slave = pty.openpty()
    er, ew = os.pipe()
    try:
        os.write(master, b"hidden\n")
        assert read.read(["read", "-s", "-p", "pw: ", "x"], IO(slave, 1, ew, shell)) == 0
        assert termios.tcgetattr(slave)[3] & termios.ECHO  # echo restored
    finally:
        os.close(ew)
        prompt = os.read(er, 100)
        os.close(er)
        os.close(master)
        os.close(slave)
    assert prompt == b"pw: " and shell.state.get("x") == "hidden"


def test_shopt_and_local_listing(run: Runner, shell: MiniShell) -> None:
    st = shell.state
    assert run(vars.shopt, ["shopt", "-s", "nullglob"]).status == 0 and "nullglob" in st.options
    assert run(vars.shopt, ["shopt", "-q", "nullglob"]).status == 0
    assert run(vars.shopt, ["shopt", "-p", "nullglob", "dotglob"]).out == "shopt -s nullglob\nshopt -u dotglob\n"
    assert run(vars.shopt, ["shopt", "dotglob"]).status == 1
    assert run(vars.shopt, ["shopt", "-s", "bogus"]).status == 1
    assert run(vars.shopt, ["shopt", "-u", "nullglob"]).status == 0 and "nullglob" not in st.options
    st.push_frame("f", [])
    try:
        run(vars.local, ["local", "a=1", "b"])
        assert run(vars.local, ["local"]).out == 'declare -- a="1"\ndeclare -- b\n'
        assert run(vars.local, ["local", "-"]).status == 0
    finally:
        st.pop_frame()


def test_read_n_counts_utf8_characters(run: Runner, shell: MiniShell) -> None:
    assert run(read.read, ["read", "-n", "2", "x"], "\u00e9ab\n".encode()).status == 0
    assert shell.state.get("x") == "\u00e9a"
    assert run(read.read, ["read", "-N", "1", "x"], "\U0001F600z".encode()).status == 0
    assert shell.state.get("x") == "\U0001F600"


@pytest.mark.skipif(not HAVE_BASH, reason="bash not installed")
def test_read_random_lines_vs_bash(shell: MiniShell) -> None:
    """Seeded random lines of letters, blanks, colons and backslashes under
    several IFS values, with and without -r, into 1 to 3 names: one bash run
    gives the expected variables."""
    import random
    import shlex

    from onesh.builtins.api import IO

    rng = random.Random(4)
    cases = []
    for _ in range(600):
        line = "".join(rng.choices(["a", "b", " ", " ", ":", "\\", "\t", "x"], k=rng.randint(0, 9)))
        cases.append((line, rng.choice([None, ":", " :", "", ": ", "a"]), rng.random() < 0.3,
                      ["v1", "v2", "v3"][:rng.randint(1, 3)]))
    lines = []
    for line, ifs, raw, names in cases:
        pre = "" if ifs is None else f"IFS={shlex.quote(ifs)} "
        lines.append(f"unset v1 v2 v3; {pre}read {'-r ' if raw else ''}{' '.join(names)} <<< {shlex.quote(line)}; "
                     "printf '[%s]' " + " ".join(f'"${n}"' for n in names) + "; echo")
    p = subprocess.run(["bash", "--norc"], input="\n".join(lines).encode(), capture_output=True, timeout=60,
                       env={"LC_ALL": "C", "PATH": os.environ["PATH"]})
    want = p.stdout.decode().split("\n")[:len(cases)]
    mismatches = []
    for (line, ifs, raw, names), expected in zip(cases, want, strict=True):
        st = shell.state
        st.unset("IFS")
        for n in names:
            st.unset(n)
        if ifs is not None:
            st.set("IFS", ifs)
        r, w = os.pipe()
        os.write(w, (line + "\n").encode())
        os.close(w)
        try:
            read.read(["read", *(["-r"] if raw else []), *names], IO(r, 1, 2, shell))
        finally:
            os.close(r)
        got = "".join(f"[{st.get(n) or ''}]" for n in names)
        if got != expected:
            mismatches.append((line, ifs, raw, names, expected, got))
    assert mismatches == []
