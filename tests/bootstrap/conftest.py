"""Fixtures for `onesh bootstrap` against a real second host: a network
namespace with an SSH server (netdevice.py), a 3-runtime cluster listening
on this side of the veth pair, and a controller HOME with its own ~/.ssh.
Wheels are built once per session (a shared XDG_CACHE_HOME)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest
from controller import Controller
from netdevice import NetDevice, NoNamespaces, net_device, write_key

from onesh.runtime.localcluster import ClusterInfo, start_cluster, stop_cluster


@pytest.fixture(scope="session")
def wheel_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(scope="module")
def client_key() -> asyncssh.SSHKey:
    return asyncssh.generate_private_key("ssh-ed25519")


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory, client_key: asyncssh.SSHKey) -> Iterator[NetDevice]:
    cm = net_device(tmp_path_factory.mktemp("device"), [client_key.convert_to_public()])
    try:
        dev = cm.__enter__()
    except NoNamespaces as e:
        pytest.skip(f"the kernel does not let us create a network namespace here: {e}")
    try:
        yield dev
    finally:
        cm.__exit__(None, None, None)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, device: NetDevice) -> Iterator[ClusterInfo]:
    info = start_cluster(str(tmp_path_factory.mktemp("cluster") / "c"), nodes=3, listen=device.host_addr)
    try:
        yield info
    finally:
        stop_cluster(info)


@pytest.fixture
def controller(tmp_path: Path, wheel_cache: Path, client_key: asyncssh.SSHKey, device: NetDevice,
               cluster: ClusterInfo) -> Controller:
    home = tmp_path / "home"
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    write_key(client_key, ssh / "id_ed25519")
    (ssh / "config").write_text(f"Host edge1\n    HostName {device.addr}\n    Port {device.port}\n"
                                "    User root\n    IdentityFile ~/.ssh/id_ed25519\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONESH_", "SSH_", "XDG_"))}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(wheel_cache), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CONFIG_HOME=str(home / ".config"), ONESH_CLUSTER=cluster.directory)
    return Controller(home, env)


@pytest.fixture
def clean_device(device: NetDevice) -> Iterator[NetDevice]:
    """The device as new before and after a test: no runtime, no ~/.onesh."""
    _clean(device)
    yield device
    _clean(device)


def _clean(device: NetDevice) -> None:
    import signal

    for pid in device.pids():
        if pid != device.proc.pid and _cmdline(pid).startswith(b"/tmp/device-home"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    device.enter("umount", f"{device.home}/.onesh", check=False)
    device.enter("rm", "-rf", f"{device.home}/.onesh")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(p != device.proc.pid for p in device.pids()):
        time.sleep(0.05)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""
