"""A second host for real: a network namespace joined to this one by a veth
pair on a private /24, running a real SSH server (device_sshd.py) with a
disk of its own.  Created here, always removed (the namespace, the veth
pair, every process left in the namespace), even when a test fails.

Shared by tests/bootstrap and benchmarks/bootstrap_device.py.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
from netns import NoNamespaces as NoNamespaces  # (re-exported: the bootstrap tests skip on it)
from netns import Veth, veth_namespace

SERVER = Path(__file__).with_name("device_sshd.py")


@dataclass
class NetDevice(Veth):  # (host_addr: where the cluster listens; addr: the device's)
    port: int
    home: str  # the device's HOME, as the device sees it
    host_key: asyncssh.SSHKey  # the server's public host key
    proc: subprocess.Popen[bytes]

    def path(self, device_path: str) -> Path:
        """A device path seen from here: through the server's root, in its
        mount namespace (its private tmpfs)."""
        return Path(f"/proc/{self.proc.pid}/root") / device_path.lstrip("/")

    def enter(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        """Run a command in the device's network and mount namespaces."""
        return subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "-n", *argv],
                              capture_output=True, check=check)

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]


class NoFirewall(Exception):
    """nftables is not installed (scripts/ci-deps.sh installs it)."""


def firewall_inbound(device: NetDevice, also_open: tuple[int, ...] = ()) -> None:
    """Make the device unreachable the way NAT or a home router makes a
    device unreachable: inside its namespace, drop every connection (TCP
    or UDP) that does not belong to one the device opened itself; only its
    SSH server's port stays open (that is how the bootstrap comes in), and
    the TCP ports `also_open` (a benchmark's OpenSSH sshd).
    The drop rule counts what it drops (`dropped_inbound`)."""
    import shutil

    nft = shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)
    if nft is None:
        raise NoFirewall("nft not found: scripts/ci-deps.sh installs Debian's nftables")
    rules = f"""table inet onesh_device {{
    chain input {{
        type filter hook input priority 0; policy accept;
        iif "lo" accept
        ct state established,related accept
        tcp dport {{ {", ".join(str(p) for p in (device.port, *also_open))} }} accept
        counter drop
    }}
}}
"""
    r = subprocess.run(["ip", "netns", "exec", device.ns, nft, "-f", "-"], input=rules, capture_output=True, text=True)
    if r.returncode != 0:
        raise NoFirewall(f"nft: {r.stderr.strip()}")


def dropped_inbound(device: NetDevice) -> int:
    """Packets the device's firewall dropped so far."""
    out = subprocess.run(["ip", "netns", "exec", device.ns, "nft", "list", "chain", "inet", "onesh_device", "input"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if "counter packets" in line:
            return int(line.split("counter packets", 1)[1].split()[0])
    return 0


def write_key(key: asyncssh.SSHKey, path: Path) -> Path:
    key.write_private_key(str(path))
    os.chmod(path, 0o600)
    key.write_public_key(str(path) + ".pub")
    return path


@contextlib.contextmanager
def net_device(workdir: Path, authorized: list[asyncssh.SSHKey], *, port: int = 2222) -> Iterator[NetDevice]:
    """A device at 10.231.N.2 (this side 10.231.N.1) running the SSH server."""
    with veth_namespace("dev", 231) as net:
        key = asyncssh.generate_private_key("ssh-ed25519")
        keyfile = write_key(key, workdir / "device_host_key")
        auth = workdir / "authorized_keys"
        auth.write_bytes(b"".join(k.export_public_key() for k in authorized))
        home = f"/tmp/device-home-{net.ns.rsplit('-', 1)[1]}"  # on the device's private tmpfs
        proc = subprocess.Popen(["ip", "netns", "exec", net.ns, sys.executable, str(SERVER), "--listen", net.addr,
                                 "--port", str(port), "--host-key", str(keyfile), "--authorized-keys", str(auth),
                                 "--home", home], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        try:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != b"READY":
                raise RuntimeError(f"the device's SSH server did not start (status {proc.wait(10)})")
            yield NetDevice(net.ns, net.veth, net.host_addr, net.addr, port, home, key.convert_to_public(), proc)
        finally:
            # (the server first, and politely: the namespace's teardown
            # then stops whatever else is left in it)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
