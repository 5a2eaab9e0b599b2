#!/usr/bin/env python3
"""A device in a network namespace: bootstrap time, then its pipes next to `ssh`.

    python benchmarks/bootstrap_device.py [--size MiB] [--lines N] [--rounds R] [--dial-out]

Needs root (ip netns).  Builds a second host as the tests do (a network
namespace with its own /tmp and HOME, joined by a veth pair, running an
asyncssh SSH server; tests/bootstrap/netdevice.py), starts a 3-runtime
cluster listening on this side of the veth pair, and prints:
- the time `onesh bootstrap` takes to add the device: cold (no wheel
  cache), then R rounds of warm (wheels cached here, a fresh device) and
  a re-run (upgrade in place);
- throughput through the device and back, `onesh -c 'cat @edge1'` (stdin
  a file: shell → edge1 → shell over TCP + Curve, a builtin `cat` on the
  device) vs `ssh edge1 cat` to the same namespace through the same
  asyncssh server and, when openssh-server is installed (`bash
  scripts/bench-deps.sh`), through an OpenSSH sshd started in the
  namespace; the runs alternate, R rounds, medians shown;
- one line there and back, p50/p99 of N round trips, the same three ways.

--dial-out: the device is behind a firewall (its namespace drops every
inbound connection but SSH's, as in tests/bootstrap/test_dialout_device.py)
and is bootstrapped with --dial-out: the onesh rows are then pipes the
device dials both ways, its control requests relayed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # (netns.py)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "bootstrap"))

import asyncssh
from netdevice import NetDevice, firewall_inbound, net_device, write_key

from onesh.runtime.localcluster import start_cluster, stop_cluster

SSHD = "/usr/sbin/sshd"


def onesh(env: dict[str, str], *args: str) -> float:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "onesh", *args], env=env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"onesh {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")
    return time.perf_counter() - t0


def through(cmd: list[str], src: str, env: dict[str, str]) -> float:
    with open(src, "rb") as fin, open(os.devnull, "wb") as fout:
        t0 = time.perf_counter()
        subprocess.run(cmd, stdin=fin, stdout=fout, check=True, env=env)
        return time.perf_counter() - t0


def line_latency(cmd: list[str], lines: int, env: dict[str, str]) -> list[float]:
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    assert proc.stdin is not None and proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    samples = []
    try:
        for i in range(lines + 20):
            t0 = time.perf_counter()
            os.write(proc.stdin.fileno(), f"line {i}\n".encode())
            got = b""
            while not got.endswith(b"\n"):
                if not sel.select(timeout=10):
                    raise RuntimeError(f"no echo within 10 s from {cmd[0]}")
                got += os.read(proc.stdout.fileno(), 65536)
            if i >= 20:  # warm-up: connections, first frames
                samples.append(time.perf_counter() - t0)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    return sorted(samples)


@contextlib.contextmanager
def openssh_in(device: NetDevice, workdir: Path, client_pub: str) -> Iterator[int | None]:
    """An OpenSSH sshd in the device's namespace (port 22); None without one."""
    if not (os.access(SSHD, os.X_OK) and shutil.which("ssh")):
        yield None
        return
    d = workdir / "sshd"
    d.mkdir(mode=0o700)
    write_key(asyncssh.generate_private_key("ssh-ed25519"), d / "host")
    (d / "authorized_keys").write_text(client_pub)
    (d / "sshd_config").write_text(
        f"ListenAddress {device.addr}:22\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
        f"PermitRootLogin prohibit-password\nPidFile {d}/sshd.pid\n")
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege-separation directory
    proc = subprocess.Popen(["ip", "netns", "exec", device.ns, SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as c:
                c.settimeout(0.5)
                if c.connect_ex((device.addr, 22)) == 0:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                yield None
                return
            time.sleep(0.05)
        host = (d / "host.pub").read_text().split()[:2]
        yield 22 if host else None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="MiB per throughput run (default 256)")
    ap.add_argument("--lines", type=int, default=500, help="round trips for the latency (default 500)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds (default 3)")
    ap.add_argument("--dial-out", action="store_true", help="a firewalled device, bootstrapped with --dial-out")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = work / "home"
        (home / ".ssh").mkdir(parents=True, mode=0o700)
        key = asyncssh.generate_private_key("ssh-ed25519")
        write_key(key, home / ".ssh" / "id_ed25519")
        src = str(work / "in.bin")
        block = os.urandom(1 << 20)
        with open(src, "wb") as f:
            for _ in range(args.size):
                f.write(block)
        with net_device(work, [key.convert_to_public()]) as device:
            if args.dial_out:
                firewall_inbound(device, also_open=(22,))
            (home / ".ssh" / "config").write_text(
                f"Host edge1\n    HostName {device.addr}\n    Port {device.port}\n    User root\n"
                f"Host edge1-openssh\n    HostName {device.addr}\n    Port 22\n    User root\n"
                f"Host *\n    IdentityFile {home}/.ssh/id_ed25519\n    IdentitiesOnly yes\n    BatchMode yes\n"
                f"    UserKnownHostsFile {home}/.ssh/known_hosts\n")
            # (`ssh` reads the config of the passwd home, not $HOME's: -F.)
            ssh = ["ssh", "-F", str(home / ".ssh" / "config")]
            info = start_cluster(str(work / "c"), nodes=3, listen=device.host_addr)
            env = {k: v for k, v in os.environ.items() if not k.startswith(("ONESH_", "XDG_"))}
            env.update(HOME=str(home), XDG_CACHE_HOME=str(work / "cache"), ONESH_CLUSTER=info.directory)
            try:
                edge = ["bootstrap", "edge1", "--accept-new", "--device", "sensor:9=sim:sine",
                        *(["--dial-out"] if args.dial_out else [])]
                cold = onesh(env, *edge)
                warm: list[float] = []
                again: list[float] = []
                for _ in range(args.rounds):
                    onesh(env, "bootstrap", "--remove", "edge1")
                    warm.append(onesh(env, *edge))
                    again.append(onesh(env, *edge))
                pub = key.convert_to_public().export_public_key().decode()
                with openssh_in(device, work, pub) as openssh:
                    if openssh is not None:
                        with (home / ".ssh" / "known_hosts").open("a") as f:
                            f.write(f"{device.addr} {(work / 'sshd' / 'host.pub').read_text().split()[0]} "
                                    f"{(work / 'sshd' / 'host.pub').read_text().split()[1]}\n")
                    label = "dialled out" if args.dial_out else "TCP + Curve"
                    ways = {f"onesh -c 'cat @edge1' ({label})": [sys.executable, "-m", "onesh", "-c", "cat @edge1"],
                            "ssh edge1 cat (asyncssh server)": [*ssh, "edge1", "cat"]}
                    if openssh is not None:
                        ways["ssh edge1 cat (OpenSSH sshd)"] = [*ssh, "edge1-openssh", "cat"]
                    times: dict[str, list[float]] = {w: [] for w in ways}
                    for _ in range(args.rounds):
                        for w, cmd in ways.items():
                            times[w].append(through(cmd, src, env))
                    lat = {w: line_latency(cmd, args.lines, env) for w, cmd in ways.items()}
                onesh(env, "bootstrap", "--remove", "edge1")
            finally:
                stop_cluster(info)
    if args.dial_out:
        print("the device is firewalled (inbound connections dropped) and dials out")
    print(f"bootstrap of a device in a network namespace: cold (no wheel cache) {cold:.1f} s; "
          f"warm (a fresh device, wheels cached here) median {statistics.median(warm):.1f} s "
          f"(min {min(warm):.1f}); re-run (upgrade in place) median {statistics.median(again):.1f} s "
          f"(min {min(again):.1f}), {args.rounds} rounds")
    if openssh is None:
        print("(no OpenSSH row: `bash scripts/bench-deps.sh` installs openssh-server)")
    base = "ssh edge1 cat (OpenSSH sshd)" if openssh is not None else "ssh edge1 cat (asyncssh server)"
    print(f"\n{'there and back (' + str(args.size) + ' MiB, median of ' + str(args.rounds) + ')':<44} "
          f"{'MiB/s':>8} {'vs ' + base.split('(')[1].rstrip(')'):>16}")
    med = {w: statistics.median(t) for w, t in times.items()}
    for w in ways:
        print(f"{w:<44} {args.size / med[w]:>8.0f} {med[base] / med[w]:>15.2f}x")
    print(f"\none line there and back, {args.lines} round trips:")
    for w, s in lat.items():
        print(f"{w:<44} p50 {statistics.median(s) * 1000:6.2f} ms   p99 {s[int(len(s) * 0.99) - 1] * 1000:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
