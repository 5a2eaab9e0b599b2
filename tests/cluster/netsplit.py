"""A real network partition for cluster tests.

`second_host()` is a network namespace joined to this one by a veth pair
on a private /24, created here and always removed (with every process
left in it), even when a test fails.  `split_cluster()` starts a cluster
across the two: voters r1 and r2 on this side of the veth pair, voter r3
in the namespace, each with its RPC endpoint, Raft port and lease channel
on its side's address.  `Host.cut()` drops every packet that enters or
leaves the namespace other than on its loopback (nftables, silently: the
peers see no reset, as with a pulled cable); `Host.heal()` removes that
rule (`Host.heal_but()` first keeps one peer's port cut off).  Processes
in the namespace still reach each other (a shell there talks to r3), as
on a host cut off from the rest of the network.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from netns import NoNamespaces, Veth, veth_namespace

from onesh.runtime.localcluster import ClusterInfo, RuntimeSpec, free_ports

TABLE = "onesh_cut"


@dataclass
class Host(Veth):
    nft: str  # the nft binary that cuts it off

    def argv(self, *argv: str) -> list[str]:
        """`argv` run inside the namespace (`ip netns exec` execs it: same pid)."""
        return ["ip", "netns", "exec", self.ns, *argv]

    def cut(self) -> None:
        rules = f"""table inet {TABLE} {{
    chain input {{ type filter hook input priority 0; policy accept; iif "lo" accept; counter drop; }}
    chain output {{ type filter hook output priority 0; policy accept; oif "lo" accept; counter drop; }}
}}
"""
        r = subprocess.run(self.argv(self.nft, "-f", "-"), input=rules, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nft: {r.stderr.strip()}")

    def heal_but(self, addr: str, port: int) -> None:
        """Heal all but the TCP connections between the namespace and
        `addr:port` (a peer's listening port on this side): a partition
        that heals unevenly.  `heal()` heals the rest."""
        rules = f"""delete table inet {TABLE}
table inet {TABLE} {{
    chain input {{ type filter hook input priority 0; policy accept; ip saddr {addr} tcp sport {port} counter drop; }}
    chain output {{ type filter hook output priority 0; policy accept; ip daddr {addr} tcp dport {port} counter drop; }}
}}
"""
        r = subprocess.run(self.argv(self.nft, "-f", "-"), input=rules, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"nft: {r.stderr.strip()}")

    def heal(self) -> None:
        subprocess.run(self.argv(self.nft, "delete", "table", "inet", TABLE), capture_output=True, check=True)

    def dropped(self) -> int:
        """Packets the cut dropped so far (both directions)."""
        out = subprocess.run(self.argv(self.nft, "list", "table", "inet", TABLE), capture_output=True,
                             text=True).stdout
        return sum(int(line.split("counter packets", 1)[1].split()[0])
                   for line in out.splitlines() if "counter packets" in line)


@contextlib.contextmanager
def second_host() -> Iterator[Host]:
    """A namespace at 10.232.N.2, this side 10.232.N.1."""
    nft = shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)
    if nft is None:
        raise NoNamespaces("nft not found: scripts/ci-deps.sh installs Debian's nftables")
    with veth_namespace("split", 232) as net:
        yield Host(net.ns, net.veth, net.host_addr, net.addr, nft)


def split_cluster(directory: str, host: Host, members: int = 0) -> ClusterInfo:
    """Start 3 voters: r1 and r2 on this side, r3 in the namespace, and
    `members` more runtimes on this side, r4, r5, ... (not waited for: the
    caller waits until they formed)."""
    from onesh.net.keys import create_secret

    os.makedirs(directory, mode=0o700)
    secret = os.path.join(directory, "secret")
    create_secret(secret)
    info = ClusterInfo(directory, [], secret, {})
    for name, addr in (("r1", host.host_addr), ("r2", host.host_addr), ("r3", host.addr)):
        # (ports of the namespace's address are free: nothing runs there yet)
        rpc, raft = free_ports(2, host.host_addr) if addr == host.host_addr else free_ports(2, "127.0.0.1")
        info.runtimes[name] = RuntimeSpec(name, f"tcp://{addr}:{rpc}", f"{addr}:{raft}")
    info.boot = [r.listen for r in info.runtimes.values()]
    for k in range(members):
        (rpc,) = free_ports(1, host.host_addr)
        info.runtimes[f"r{4 + k}"] = RuntimeSpec(f"r{4 + k}", f"tcp://{host.host_addr}:{rpc}")
    for name in info.runtimes:
        rdir = os.path.join(directory, name)
        os.makedirs(rdir, mode=0o700)
        argv = info.argv(name)
        if name == "r3":
            argv = host.argv(*argv)
        with open(os.path.join(rdir, "runtime.log"), "ab") as logf:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    start_new_session=True, close_fds=True)
        info.pids[name] = proc.pid
    info.save()
    return info


def onesh_in(host: Host, info: ClusterInfo, runtime: str, code: str,
             timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    """`onesh -c code` run in the namespace, attached to `runtime` alone
    (--cluster tcp://ITS-ENDPOINT); its result and how long it took."""
    env = dict(os.environ, ONESH_SECRET=info.secret)
    t0 = time.monotonic()
    p = subprocess.run(host.argv(sys.executable, "-m", "onesh", "--cluster", info.runtimes[runtime].listen,
                                 "-c", code), capture_output=True, text=True, env=env, timeout=timeout,
                       stdin=subprocess.DEVNULL, cwd="/")
    return p, time.monotonic() - t0
