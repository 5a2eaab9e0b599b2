"""The parts of `onesh bootstrap` that need no second host: targets, the
known_hosts verdicts, the wheels, the progress displays."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
import zipfile
from pathlib import Path

import asyncssh
import pytest

from onesh.runtime.bootstrap import hostkeys, wheels
from onesh.runtime.bootstrap.progress import PlainProgress, TerminalProgress
from onesh.runtime.bootstrap.steps import default_name
from onesh.runtime.bootstrap.target import Target, TargetError, parse_target, resolve


@pytest.mark.parametrize(("text", "want"), [
    ("edge1", Target("edge1")),
    ("pi@edge1:2222", Target("edge1", "pi", 2222)),
    ("root@10.0.0.7", Target("10.0.0.7", "root")),
    ("[fd00::2]:22", Target("fd00::2", None, 22)),
])
def test_parse_target(text: str, want: Target) -> None:
    assert parse_target(text) == want


@pytest.mark.parametrize("text", ["", "a@", "host:99999", "a b", "host:port"])
def test_parse_target_rejects(text: str) -> None:
    with pytest.raises(TargetError):
        parse_target(text)


def test_ssh_config_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ssh = tmp_path / ".ssh"
    ssh.mkdir()
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(ssh / "edge_key"))
    (ssh / "config").write_text("Host edge*\n    HostName 192.0.2.77\n    Port 2200\n    User pi\n"
                                "    IdentityFile ~/.ssh/edge_key\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    dev = resolve(parse_target("edge1"))
    assert (dev.host, dev.port, dev.username) == ("192.0.2.77", 2200, "pi")
    assert "edge_key" in dev.identities
    assert dev.known_hosts == (str(ssh / "known_hosts"),)
    dev = resolve(parse_target("root@edge1:22"))  # the command line wins
    assert (dev.host, dev.port, dev.username) == ("192.0.2.77", 22, "root")


def test_known_hosts_verdicts_name_the_line(tmp_path: Path) -> None:
    good = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    other = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    path = tmp_path / "known_hosts"
    path.write_text("# comment\n"
                    + hostkeys.known_hosts_line("edge1", 22, good)
                    + hostkeys.known_hosts_line("10.0.0.9", 2222, other))
    files = (str(path),)
    assert hostkeys.lookup(files, "edge1", "10.0.0.1", 22).verdict(good) is hostkeys.Verdict.KNOWN
    changed = hostkeys.lookup(files, "edge1", "10.0.0.1", 22)
    assert changed.verdict(other) is hostkeys.Verdict.CHANGED
    assert changed.trusted[0].describe().startswith(f"{path}:2 (ssh-ed25519 SHA256:")
    assert hostkeys.lookup(files, "10.0.0.9", "10.0.0.9", 2222).trusted[0].lineno == 3
    assert hostkeys.lookup(files, "edge2", "10.0.0.2", 22).verdict(good) is hostkeys.Verdict.UNKNOWN
    assert hostkeys.lookup(files, "edge1", "10.0.0.1", 22).host_key_algs() == ["ssh-ed25519"]
    # Appending keeps earlier lines and says where the key went.
    assert hostkeys.record(str(path), "edge2", 22, other) == 4
    assert hostkeys.lookup(files, "edge2", "10.0.0.2", 22).verdict(other) is hostkeys.Verdict.KNOWN
    assert path.stat().st_mode & 0o777 in (0o600, 0o644)


def test_hashed_and_revoked_known_hosts(tmp_path: Path) -> None:
    import hmac

    key = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    salt = os.urandom(20)
    digest = hmac.new(salt, b"edge1", hashlib.sha1).digest()
    name = f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"
    alg, blob = key.export_public_key().decode().split()[:2]
    path = tmp_path / "known_hosts"
    path.write_text(f"{name} {alg} {blob}\n@revoked * {alg} {blob}\n")
    found = hostkeys.lookup((str(path),), "edge1", "10.0.0.1", 22)
    assert found.trusted and found.verdict(key) is hostkeys.Verdict.REVOKED


def test_default_name() -> None:
    assert default_name("edge1.lan") == "edge1"
    assert default_name("10.0.0.7") == "dev-10-0-0-7"


def test_onesh_wheel_is_a_valid_wheel_of_the_running_code(tmp_path: Path) -> None:
    import onesh

    w = wheels.build_onesh_wheel(tmp_path)
    again = wheels.build_onesh_wheel(tmp_path / "again")
    assert w.sha256 == again.sha256, "the same files must give the same bytes (nothing re-sent)"
    with zipfile.ZipFile(w.path) as z:
        names = z.namelist()
        record = z.read(next(n for n in names if n.endswith(".dist-info/RECORD"))).decode()
        for line in record.splitlines():
            path, digest, size = line.rsplit(",", 2)
            if digest:
                data = z.read(path)
                assert digest == "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                assert int(size) == len(data)
        assert z.read("onesh/runtime/bootstrap/steps.py") == (Path(onesh.__file__).parent / "runtime" / "bootstrap" / "steps.py").read_bytes()
        assert "Tag: py3-none-any" in z.read(next(n for n in names if n.endswith("/WHEEL"))).decode()
        assert "onesh = onesh.cli:main" in z.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
        assert not [n for n in names if "__pycache__" in n]


def test_dependency_wheels_are_repacked_from_the_installation(tmp_path: Path) -> None:
    deps = {d.metadata["Name"].lower() for d in wheels.dependency_closure("onesh")}
    assert {"pyzmq", "pysyncobj", "asyncssh", "cryptography"} <= deps
    import importlib.metadata as md

    assert wheels.is_pure(md.distribution("pysyncobj")) and not wheels.is_pure(md.distribution("msgpack"))
    path = wheels.repack(md.distribution("msgpack"), tmp_path)
    assert path.name.startswith("msgpack-") and "-cp3" in path.name
    with zipfile.ZipFile(path) as z:
        assert any(n.startswith("msgpack/") and n.endswith(".so") for n in z.namelist())
    # pip takes it as is, offline, and the code imports.
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                    str(target), str(path)], check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-c", "import msgpack; print(msgpack.unpackb(msgpack.packb([1])))"],
                         env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[1]"


def test_platform_tags_for_other_devices() -> None:
    pi = wheels.PythonInfo((3, 11, 2), "cpython", "linux-aarch64", "glibc", "2.31", "Linux", "aarch64", "/h", "py")
    tags = wheels.platform_tags(pi)
    assert tags[0] == "manylinux_2_31_aarch64" and "manylinux_2_17_aarch64" in tags
    assert "manylinux2014_aarch64" in tags and tags[-1] == "linux_aarch64"
    here = wheels.local_python()
    assert not pi.can_use_wheels_of(here) or here.platform == "linux-aarch64"
    assert here.can_use_wheels_of(here)
    alpine = wheels.PythonInfo((3, 12, 1), "cpython", "linux-x86_64", "musl", "1.2", "Linux", "x86_64", "/h", "py")
    assert wheels.platform_tags(alpine)[:3] == ["musllinux_1_2_x86_64", "musllinux_1_1_x86_64", "musllinux_1_0_x86_64"]


def test_plain_progress_lines() -> None:
    out = io.StringIO()
    p = PlainProgress(out, "edge1")
    p.start(2, 6, "ship wheels")
    p.copy(10, 20)
    p.done("9.4 MiB in 14 wheels")
    assert out.getvalue().startswith("edge1: [2/6] ship wheels: 9.4 MiB in 14 wheels (")


def test_terminal_progress_draws_steps_and_bytes() -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    try:
        with open(slave, "w", closefd=False) as tty:
            p = TerminalProgress(tty, "edge1")
            p.start(1, 6, "check python")
            p.done("cpython 3.11")
            p.start(2, 6, "ship wheels")
            p.copy(3 * 1024 * 1024, 6 * 1024 * 1024)
            time.sleep(0.3)  # the display redraws on its own thread
            p.close()
        seen = b""
        while select.select([master], [], [], 0.2)[0]:
            seen += os.read(master, 65536)
    finally:
        os.close(master)
        os.close(slave)
    text = seen.decode(errors="replace")
    assert "onesh bootstrap edge1" in text
    assert "[1/6] check python: cpython 3.11" in text
    assert "3.0 MiB/6.0 MiB" in text


@pytest.mark.parametrize(("addr", "message"), [
    ("0.0.0.0", "is a wildcard"),
    ("198.51.100.77", "cannot listen on 198.51.100.77"),  # TEST-NET-2: not an address of ours
    ("edge1", "is not an IP address"),
])
def test_cluster_up_listen_needs_an_address_of_this_machine(addr: str, message: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "onesh", "cluster", "up", "--listen", addr, "--data-dir",
                        str(tmp_path / "c")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not (tmp_path / "c").exists()
