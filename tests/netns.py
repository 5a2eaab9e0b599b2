"""A second host for real: a network namespace joined to this one by a veth
pair on a private /24, created here and always removed, with every process
left in it, even when a test fails.  Shared by the SSH device of
tests/bootstrap (netdevice.py) and the partition of tests/cluster
(netsplit.py)."""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass


class NoNamespaces(Exception):
    """The kernel (or the sandbox) does not let us create one."""


@dataclass
class Veth:
    ns: str
    veth: str
    host_addr: str  # this side of the veth pair
    addr: str  # the namespace's side


@contextlib.contextmanager
def veth_namespace(prefix: str, net: int) -> Iterator[Veth]:
    """A namespace `onesh-PREFIX-…` at 10.NET.N.2, this side 10.NET.N.1 (N
    a /24 no interface here uses yet)."""
    tag = secrets.token_hex(3)
    ns, veth, peer = f"onesh-{prefix}-{tag}", f"o{prefix[:2]}{tag}a", f"o{prefix[:2]}{tag}b"
    used = subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True).stdout
    n = next(k for k in random.sample(range(1, 255), 254) if f"10.{net}.{k}." not in used)
    host_addr, addr = f"10.{net}.{n}.1", f"10.{net}.{n}.2"
    r = subprocess.run(["ip", "netns", "add", ns], capture_output=True, text=True)
    if r.returncode != 0:
        raise NoNamespaces(f"ip netns add: {r.stderr.strip() or r.returncode}")
    try:
        ip("link", "add", veth, "type", "veth", "peer", "name", peer)
        ip("link", "set", peer, "netns", ns)
        ip("addr", "add", f"{host_addr}/24", "dev", veth)
        ip("link", "set", veth, "up")
        ip("addr", "add", f"{addr}/24", "dev", peer, ns=ns)
        ip("link", "set", peer, "up", ns=ns)
        ip("link", "set", "lo", "up", ns=ns)
        yield Veth(ns, veth, host_addr, addr)
    finally:
        _teardown(ns, veth)


def ip(*argv: str, ns: str | None = None) -> None:
    cmd = ["ip", "netns", "exec", ns, "ip", *argv] if ns else ["ip", *argv]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")


def ns_pids(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _teardown(ns: str, veth: str) -> None:
    # Whatever still runs in the namespace is ours (a runtime, a shell or
    # a server left by a failed test): SIGTERM, a moment, SIGKILL.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = ns_pids(ns)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 3
        while pids and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)  # (ours: else a zombie stays listed)
            pids = ns_pids(ns)
            time.sleep(0.05)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "link", "del", veth], capture_output=True)  # gone with the namespace, normally
