"""`onesh bootstrap` into a second host for real: a network namespace
(its own address, its own disk) running an SSH server, joined to a
3-runtime cluster that listens on this side of the veth pair."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest
from controller import Controller
from netdevice import NetDevice, write_key

from onesh.net.keys import create_secret
from onesh.runtime.localcluster import ClusterInfo

pytestmark = pytest.mark.slow

EDGE = ["--name", "edge1", "--tags", "zone=edge,kind=sensor", "--device", "sensor:9=sim:sine"]


def nothing_installed(device: NetDevice) -> bool:
    return not device.path(f"{device.home}/.onesh").exists()


def test_bootstrap_run_a_pipeline_on_the_device_and_remove_it(controller: Controller, clean_device: NetDevice,
                                                              tmp_path: Path) -> None:
    device = clean_device
    onesh_dir = f"{device.home}/.onesh"
    # A failure midway: the device's disk is read-only where onesh goes.
    device.enter("mkdir", "-p", onesh_dir)
    device.enter("mount", "--bind", "-o", "ro", onesh_dir, onesh_dir)
    r = controller.onesh("bootstrap", "edge1", "--accept-new", *EDGE)
    assert r.returncode == 1, r.stderr
    assert "edge1: step 2/6 (ship wheels) failed: cannot write" in r.stderr
    assert "Traceback" not in r.stderr
    device.enter("umount", onesh_dir)

    # Re-running succeeds: every step on its own line, the runtime joins.
    r = controller.onesh("bootstrap", "edge1", *EDGE)
    assert r.returncode == 0, r.stderr
    for i, step in enumerate(("check python", "ship wheels", "install", "write secret", "start runtime",
                              "join cluster"), 1):
        assert f"edge1: [{i}/6] {step}: " in r.stderr
    assert "~/.onesh/venv created" in r.stderr
    assert f"joined the cluster at tcp://{device.addr}:" in r.stdout
    secret = device.path(f"{onesh_dir}/secret")
    assert secret.stat().st_mode & 0o777 == 0o600
    assert secret.read_text() == Path(controller.env["ONESH_CLUSTER"], "secret").read_text()

    r = controller.onesh("-c", "nodes")
    row = next(line for line in r.stdout.splitlines() if line.startswith("edge1 "))
    assert f"tcp://{device.addr}:" in row and "kind=sensor,zone=edge" in row and row.split()[5] == "yes", r.stdout

    # The headline pipeline, its source on the device.
    peers = headline_pipeline(controller, device, tmp_path, timeout=20)
    # The stage host on the device talks to the cluster's address over TCP
    # (the device cannot even see this side's pipe sockets: its /tmp is its own).
    assert device.host_addr in peers, peers
    check_edge_log(controller)

    # Again: an upgrade in place, nothing shipped twice.
    r = controller.onesh("bootstrap", "edge1", *EDGE)
    assert r.returncode == 0, r.stderr
    assert "nothing to send" in r.stderr and "upgraded in place" in r.stderr

    # Removed with the builtin, from a shell attached to the cluster.
    r = controller.onesh("-c", "bootstrap --remove edge1")
    assert r.returncode == 0, r.stderr
    assert "removed runtime edge1 from edge1" in r.stdout
    assert nothing_installed(device)
    r = controller.onesh("-c", "nodes")
    assert "edge1" not in r.stdout
    deadline = time.monotonic() + 10
    while device.pids() != [device.proc.pid] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert device.pids() == [device.proc.pid], "processes left on the device"


def check_edge_log(controller: Controller) -> list[str]:
    """/data/edge.log, written by the headline pipeline, is the device's
    sensor readings filtered by grep x: the same readings made here.
    Its lines."""
    r = controller.onesh("-c", "cat /data/edge.log")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines and all("x" in line for line in lines)
    last_seq = int(lines[-1].split("seq=")[1].split()[0])
    local = subprocess.run(f"{sys.executable} -m onesh.runtime.devices sensor:9=sim:sine --count {last_seq + 1} "
                           "--no-pace | grep x", shell=True, capture_output=True, text=True, check=True)
    assert r.stdout == local.stdout
    return lines


def headline_pipeline(controller: Controller, device: NetDevice, cwd: Path, timeout: float) -> set[str]:
    """`cat /dev/sensor/9 @edge1 | grep x > /data/edge.log` for 3 s of
    readings, ended by ^C (130): the TCP peers of its stage on the device."""
    proc = subprocess.Popen([sys.executable, "-m", "onesh", "-c", "cat /dev/sensor/9 @edge1 | grep x > /data/edge.log"],
                            env=controller.env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        peers = stage_tcp_peers(device, timeout=timeout)
        time.sleep(3)  # readings flow at 20/s
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    return peers


def stage_tcp_peers(device: NetDevice, timeout: float) -> set[str]:
    """Remote addresses of the established TCP connections of the stage
    host running on the device (waits for it to start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in device.pids():
            try:
                # (forked from its runtime's zygote, it keeps the zygote's
                # command line and is named by its comm)
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                comm = Path(f"/proc/{pid}/comm").read_bytes().strip()
                if b"onesh.runtime.stagehost" not in cmdline and comm != b"onesh-stagehost":
                    continue
                peers = _tcp_peers(pid)
            except OSError:
                continue
            if peers:
                return peers
        time.sleep(0.1)
    raise AssertionError("no stage host with a TCP connection on the device")


def _tcp_peers(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        link = os.readlink(f"/proc/{pid}/fd/{fd}")
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    peers = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[3] == "01" and f[9] in inodes:  # ESTABLISHED, one of its sockets
            raw = bytes.fromhex(f[2].split(":")[0])
            peers.add(".".join(str(b) for b in reversed(raw)))
    return peers


def test_changed_host_key_is_refused(controller: Controller, clean_device: NetDevice) -> None:
    impostor = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    blob = impostor.export_public_key().decode().split()[1]
    controller.known_hosts.write_text(f"# devices\n[{clean_device.addr}]:{clean_device.port} ssh-ed25519 {blob}\n")
    r = controller.onesh("bootstrap", "edge1", "--accept-new", *EDGE)
    assert r.returncode == 1
    assert "HOST KEY CHANGED for edge1" in r.stderr
    assert f"{controller.known_hosts}:2" in r.stderr
    assert clean_device.host_key.get_fingerprint("sha256") in r.stderr
    assert nothing_installed(clean_device)
    assert "Traceback" not in r.stderr


def test_unknown_host_key_needs_a_yes_or_accept_new(controller: Controller, clean_device: NetDevice) -> None:
    r = controller.onesh("bootstrap", "edge1", *EDGE)  # no terminal to ask on
    assert r.returncode == 1
    assert clean_device.host_key.get_fingerprint("sha256") in r.stderr and "--accept-new" in r.stderr
    assert not controller.known_hosts.exists()
    assert nothing_installed(clean_device)


def test_wrong_key_is_a_clear_authentication_error(controller: Controller, clean_device: NetDevice) -> None:
    stranger = write_key(asyncssh.generate_private_key("ssh-ed25519"), controller.home / "stranger")
    r = controller.onesh("bootstrap", "edge1", "--accept-new", "--identity", str(stranger), *EDGE)
    assert r.returncode == 1
    assert f"authentication failed for root@edge1 ({clean_device.addr}:{clean_device.port})" in r.stderr
    assert str(stranger) in r.stderr
    assert nothing_installed(clean_device)


def test_missing_python_names_the_step(controller: Controller, clean_device: NetDevice) -> None:
    r = controller.onesh("bootstrap", "edge1", "--accept-new", "--python", "python3.99", *EDGE)
    assert r.returncode == 1
    assert "edge1: step 1/6 (check python) failed: python3.99 not found on edge1: install it or pass --python" \
        in r.stderr
    assert nothing_installed(clean_device)


def test_a_loopback_cluster_is_refused(controller: Controller, clean_device: NetDevice, tmp_path: Path) -> None:
    loopback = tmp_path / "loopback"
    create_secret(str(loopback / "secret"))
    ClusterInfo(str(loopback), ["tcp://127.0.0.1:9"], str(loopback / "secret"), {}).save()
    r = controller.onesh("bootstrap", "edge1", "--accept-new", "--cluster", str(loopback), *EDGE)
    assert r.returncode == 1
    assert "listens on loopback only" in r.stderr and "onesh cluster up --listen ADDR" in r.stderr
    assert nothing_installed(clean_device)


def on_terminal(controller: Controller, argv: list[str], answer: bytes) -> tuple[int, str]:
    """Run `onesh` on a pseudo-terminal; answer the host-key question."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(controller.home)
        os.execvpe(sys.executable, [sys.executable, "-m", "onesh", *argv], controller.env)
    out = b""
    answered = False
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if not select.select([fd], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if not answered and b"(yes/no)? " in out:
                os.write(fd, answer + b"\r")
                answered = True
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_unknown_host_key_prompt_on_a_terminal(controller: Controller, clean_device: NetDevice) -> None:
    fingerprint = clean_device.host_key.get_fingerprint("sha256")
    argv = ["bootstrap", "edge1", "--python", "python3.99", *EDGE]
    status, out = on_terminal(controller, argv, b"no")
    assert status == 1 and fingerprint in out and "not accepted" in out, out
    assert not controller.known_hosts.exists()
    # "yes" records the key; the run goes on (with the progress display)
    # to the first step, which fails for want of that Python.
    status, out = on_terminal(controller, argv, b"yes")
    assert status == 1, out
    assert "onesh bootstrap edge1" in out and "[1/6] check python" in out  # the display's title and step
    assert "python3.99 not found on edge1" in out
    assert f"[{clean_device.addr}]:{clean_device.port} ssh-ed25519" in controller.known_hosts.read_text()
    assert nothing_installed(clean_device)


def test_remove_takes_a_dead_runtime_out_of_membership(controller: Controller, clean_device: NetDevice) -> None:
    r = controller.onesh("bootstrap", "edge1", "--accept-new", *EDGE)
    assert r.returncode == 0, r.stderr
    pid = int(clean_device.path(f"{clean_device.home}/.onesh/runtime.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # the device's runtime dies: it cannot leave by itself
    r = controller.onesh("bootstrap", "--remove", "edge1")
    assert r.returncode == 0, r.stderr
    assert "edge1: [2/3] leave cluster: edge1 taken out of membership" in r.stderr
    assert "edge1" not in controller.onesh("-c", "nodes").stdout
    assert nothing_installed(clean_device)
