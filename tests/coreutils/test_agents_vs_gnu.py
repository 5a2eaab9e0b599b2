"""The builtin agents agree with GNU coreutils (LC_ALL=C) on output and status."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ENV = {**os.environ, "LC_ALL": "C"}
TEXT = (b"banana 3\napple 10\ncherry 2\napple 10\n\n\nDate\tx:y:z\n  lead space\nbanana 3\n"
        b"zeta 1.5K\nalpha 200\nmax value=0.95 state=max\nline without newline")

CASES = [
    ["cat"], ["cat", "-n"], ["cat", "-b"], ["cat", "-s"], ["cat", "-A"], ["cat", "-E", "-T"],
    ["grep", "a"], ["grep", "-v", "a"], ["grep", "-c", "an"], ["grep", "-n", "-i", "APPLE"],
    ["grep", "-E", "ap+le|che"], ["grep", "-F", "1.5"], ["grep", "-w", "x"], ["grep", "-x", "banana 3"],
    ["grep", "-o", "[0-9]\\+"], ["grep", "-q", "zeta"], ["grep", "nomatch"], ["grep", "-m", "2", "a"],
    ["grep", "-e", "zeta", "-e", "Date"], ["grep", "\\(an\\)\\{2\\}"], ["grep", "x"],
    ["head"], ["head", "-n", "3"], ["head", "-3"], ["head", "-n", "-4"], ["head", "-c", "17"],
    ["tail"], ["tail", "-n", "2"], ["tail", "-n", "+5"], ["tail", "-c", "9"],
    ["wc"], ["wc", "-l"], ["wc", "-w"], ["wc", "-c"], ["wc", "-L"], ["wc", "-lw"],
    ["sort"], ["sort", "-r"], ["sort", "-n"], ["sort", "-u"], ["sort", "-k", "2", "-n"], ["sort", "-f"],
    ["sort", "-t", ":", "-k", "2"], ["sort", "-k", "1,1", "-r"], ["sort", "-h", "-k", "2"],
    ["uniq"], ["uniq", "-c"], ["uniq", "-d"], ["uniq", "-u"], ["uniq", "-i"], ["uniq", "-f", "1"],
    ["cut", "-c", "1-3"], ["cut", "-d", " ", "-f", "2"], ["cut", "-d", ":", "-f", "2-", "-s"],
    ["cut", "-b", "2,4-5", "--complement"], ["cut", "-d", " ", "-f", "1,2", "--output-delimiter=|"],
    ["tr", "a-z", "A-Z"], ["tr", "-d", "[:digit:]"], ["tr", "-s", " \\n"], ["tr", "-c", "a-z\\n", "_"],
    ["tr", "-cd", "[:alpha:]"], ["tr", "-s", "a-z", "A-Z"],
]


def agent(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "onesh.coreutils", *args], input=data, capture_output=True,
                          env=ENV, timeout=30)


def gnu(args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, input=data, capture_output=True, env=ENV, timeout=30)


@pytest.mark.parametrize("args", CASES, ids=[" ".join(c) for c in CASES])
def test_same_as_gnu(args: list[str]) -> None:
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} not installed")
    ours, theirs = agent(args, TEXT), gnu(args, TEXT)
    assert (ours.stdout, ours.returncode) == (theirs.stdout, theirs.returncode), ours.stderr


def test_files_and_errors(tmp_path: Path) -> None:
    a = tmp_path / "a"
    a.write_bytes(b"x1\ny2\nx3\n")
    for args in (["grep", "x", str(a), str(tmp_path / "missing")], ["wc", str(a), str(a)],
                 ["head", "-n", "1", str(a), str(a)], ["cat", str(tmp_path / "missing")]):
        ours, theirs = agent(args, b""), gnu(args, b"")
        assert ours.stdout == theirs.stdout and ours.returncode == theirs.returncode, (args, ours.stderr)
        assert b"Traceback" not in ours.stderr
    bad = agent(["head", "-Z"], b"")
    assert bad.returncode == 1 and bad.stderr.startswith(b"head: invalid option -- 'Z'")


lines = st.lists(st.text(alphabet="ab c:\t1.9-", max_size=12), max_size=25).map(
    lambda ls: "".join(x + "\n" for x in ls).encode())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=lines, args=st.sampled_from([
    ["grep", "a"], ["grep", "-v", "b c"], ["grep", "-c", "1"], ["sort"], ["sort", "-n"], ["sort", "-r", "-k", "2"],
    ["uniq", "-c"], ["wc"], ["cut", "-d", ":", "-f", "1,3"], ["cut", "-c", "2-4"], ["tr", "a-c", "x"],
    ["tr", "-s", "ab"], ["sort", "-u", "-t", ":", "-k", "2"]]))
def test_random_inputs_agree(data: bytes, args: list[str]) -> None:
    ours, theirs = agent(args, data), gnu(args, data)
    assert (ours.stdout, ours.returncode) == (theirs.stdout, theirs.returncode)


def test_sigpipe_is_quiet_141() -> None:
    p = subprocess.run(f"{sys.executable} -m onesh.coreutils cat /dev/zero | head -c 10 >/dev/null; "
                       "echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True, timeout=30)
    assert p.stdout == b"141\n" and b"Traceback" not in p.stderr


def test_sensor_device_head_is_deterministic() -> None:
    env = {**ENV, "ONESH_DEVICES": "sensor:1=sim:sine,rate=200"}
    out = subprocess.run([sys.executable, "-m", "onesh.coreutils", "head", "-n", "5", "/dev/sensor/1"],
                         capture_output=True, env=env, timeout=30)
    assert out.returncode == 0
    local = subprocess.run([sys.executable, "-m", "onesh.runtime.devices", "sensor:1=sim:sine,rate=200",
                            "--count", "5", "--no-pace"], capture_output=True, timeout=30)
    assert out.stdout == local.stdout and out.stdout.count(b"\n") == 5
    assert out.stdout.startswith(b"seq=0 t=0.000 value=")
