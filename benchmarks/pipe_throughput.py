#!/usr/bin/env python3
"""Network-pipe throughput, side by side in one run (loopback only).

    python benchmarks/pipe_throughput.py [--size MiB] [--rounds N] [--lines N]

Prints MiB/s and the ratio to raw pyzmq over TCP (plaintext), run right
before each measured run and the ratio taken within that pair (median of
--rounds pairs, absolute figures beside it), for:
- raw pyzmq PUSH/PULL, 64 KiB messages, two processes: TCP plaintext,
  TCP + Curve, and ipc (a Unix socket);
- an onesh pipe (PipeSender → PipeReceiver: 64 KiB frames, sequence
  numbers, acks, credit) between two processes, as runtimes on one host
  wire it (a Unix socket in a private directory, no crypto) and as runtimes
  on different hosts do: TLS 1.3, and ZeroMQ + Curve (a tree without TLS
  pipes, e.g. an older checkout run with PYTHONPATH, prints n/a);
- local `cat file | cat > /dev/null` (OS pipes);
- `cat file | ssh 127.0.0.1 'cat > /dev/null'` through a private sshd the
  script starts on a loopback port (skipped when openssh-server is not
  installed: `bash scripts/bench-deps.sh`).

and the round trip of one short line, p50/p99 over N lines (each written
and awaited before the next), to an echo process and back — two hops:
- raw pyzmq DEALER ⇄ ROUTER with Curve;
- onesh pipes, same host and between hosts, each transport (PipeSender.write + flush →
  PipeReceiver.read, the echo process writes it back through a second
  pipe).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import multiprocessing as mp
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import zmq

MSG = 64 * 1024
HAS_TLS = importlib.util.find_spec("onesh.net.tlslink") is not None


def _bind(same_host: bool, transport: str) -> str:
    """Where the benchmark's receiver binds, on this tree or an older one
    (whose pipe_bind is in samehost and knows only ZeroMQ + Curve)."""
    if importlib.util.find_spec("onesh.net.transport") is not None:
        from onesh.net.transport import pipe_bind

        return pipe_bind("127.0.0.1", same_host, transport)
    from onesh.net.samehost import pipe_bind as old_bind  # type: ignore[attr-defined]

    return str(old_bind("127.0.0.1", same_host))


def _curve(sock: Any, keys: tuple[bytes, bytes, bytes, bytes] | None, server: bool) -> None:
    if keys is None:
        return
    spub, ssec, cpub, csec = keys
    if server:
        sock.curve_server = True
        sock.curve_secretkey, sock.curve_publickey = ssec, spub
    else:
        sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = spub, cpub, csec


def _pull(endpoint: str, total: int, keys: Any, q: Any) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    _curve(s, keys, False)
    s.connect(endpoint)
    got = 0
    while got < total:
        got += len(s.recv(copy=False))
    q.put(time.perf_counter())
    ctx.destroy(linger=0)


def raw_zmq(total: int, curve: bool, ipc_dir: str | None = None) -> float:
    keys = (*zmq.curve_keypair(), *zmq.curve_keypair()) if curve else None
    ctx = zmq.Context()
    s = ctx.socket(zmq.PUSH)
    _curve(s, keys, True)
    if ipc_dir is not None:
        endpoint = f"ipc://{ipc_dir}/raw"
        s.bind(endpoint)
    else:
        endpoint = f"tcp://127.0.0.1:{s.bind_to_random_port('tcp://127.0.0.1')}"
    q: Any = mp.Queue()
    p = mp.Process(target=_pull, args=(endpoint, total, keys, q))
    p.start()
    time.sleep(0.3)
    data = os.urandom(MSG)
    t0 = time.perf_counter()
    for _ in range(total // MSG):
        s.send(data, copy=False)
    end = float(q.get())
    p.join()
    ctx.destroy(linger=0)
    return total / (end - t0)


def _pipe_sender(secret: str, endpoint: str, total: int) -> None:
    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret
    from onesh.net.pipes import PipeSender

    async def main() -> None:
        ctx = zmq.asyncio.Context()
        tx = PipeSender(ctx, ClusterKeys.from_secret(load_secret(secret)), "bench", endpoint)
        await tx.start()
        block = os.urandom(256 * 1024)
        for _ in range(total // len(block)):
            await tx.write(block)
        await tx.close()
        ctx.destroy(linger=0)

    asyncio.run(main())


def onesh_pipe(total: int, workdir: str, same_host: bool, transport: str = "tls") -> float:
    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, create_secret, load_secret, start_authenticator
    from onesh.net.pipes import PipeReceiver

    secret = os.path.join(workdir, "secret")
    if not os.path.exists(secret):
        create_secret(secret)
    keys = ClusterKeys.from_secret(load_secret(secret))

    async def main() -> float:
        ctx = zmq.asyncio.Context()
        auth = start_authenticator(ctx, keys)
        rx = PipeReceiver(ctx, keys, "bench", bind=_bind(same_host, transport))
        endpoint = await rx.start()
        p = mp.Process(target=_pipe_sender, args=(secret, endpoint, total))
        t0 = time.perf_counter()
        p.start()
        n = 0
        while block := await rx.read():
            n += len(block)
        dt = time.perf_counter() - t0
        await rx.close()
        await asyncio.to_thread(p.join)  # (a blocking join would stall our loop)
        auth.stop()
        ctx.destroy(linger=0)
        assert n == total
        return n / dt

    return asyncio.run(main())


def _raw_echo(port: int, keys: Any) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    _curve(s, keys, False)
    s.connect(f"tcp://127.0.0.1:{port}")
    s.send(b"hi")
    while (msg := s.recv()) != b"":
        s.send(msg)
    ctx.destroy(linger=0)


def raw_latency(lines: int) -> list[float]:
    keys = (*zmq.curve_keypair(), *zmq.curve_keypair())
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    _curve(s, keys, True)
    port = s.bind_to_random_port("tcp://127.0.0.1")
    p = mp.Process(target=_raw_echo, args=(port, keys))
    p.start()
    peer, _ = s.recv_multipart()
    samples = []
    for i in range(lines + 20):
        t0 = time.perf_counter()
        s.send_multipart([peer, f"line {i}\n".encode()])
        s.recv_multipart()
        if i >= 20:
            samples.append(time.perf_counter() - t0)
    s.send_multipart([peer, b""])
    p.join()
    ctx.destroy(linger=0)
    return samples


def _pipe_echo(secret: str, back: str, same_host: bool, transport: str, q: Any) -> None:
    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret, start_authenticator
    from onesh.net.pipes import PipeReceiver, PipeSender

    async def main() -> None:
        ctx = zmq.asyncio.Context()
        keys = ClusterKeys.from_secret(load_secret(secret))
        auth = start_authenticator(ctx, keys)
        rx = PipeReceiver(ctx, keys, "there", bind=_bind(same_host, transport))
        q.put(await rx.start())
        tx = PipeSender(ctx, keys, "back", back)
        await tx.start()
        while line := await rx.read():
            await tx.write(line)
            await tx.flush()
        await tx.close()
        await rx.close()
        auth.stop()
        ctx.destroy(linger=0)

    asyncio.run(main())


def pipe_latency(lines: int, workdir: str, same_host: bool, transport: str = "tls") -> list[float]:
    import zmq.asyncio

    from onesh.net.keys import ClusterKeys, load_secret, start_authenticator
    from onesh.net.pipes import PipeReceiver, PipeSender

    secret = os.path.join(workdir, "secret")
    keys = ClusterKeys.from_secret(load_secret(secret))

    async def main() -> list[float]:
        ctx = zmq.asyncio.Context()
        auth = start_authenticator(ctx, keys)
        rx = PipeReceiver(ctx, keys, "back", bind=_bind(same_host, transport))
        q: Any = mp.Queue()
        p = mp.Process(target=_pipe_echo, args=(secret, await rx.start(), same_host, transport, q))
        p.start()
        tx = PipeSender(ctx, keys, "there", await asyncio.to_thread(q.get))
        await tx.start()
        samples = []
        for i in range(lines + 20):
            t0 = time.perf_counter()
            await tx.write(f"line {i}\n".encode())
            await tx.flush()
            await rx.read()
            if i >= 20:
                samples.append(time.perf_counter() - t0)
        await tx.close()
        while await rx.read():
            pass
        await rx.close()
        await asyncio.to_thread(p.join)
        auth.stop()
        ctx.destroy(linger=0)
        return samples

    return asyncio.run(main())


def _p50_p99(samples: list[float]) -> str:
    s = sorted(samples)
    return f"p50 {statistics.median(s) * 1000:.3f} ms, p99 {s[int(len(s) * 0.99) - 1] * 1000:.3f} ms"


def shell_pipe(cmd: str, src: str, total: int) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdin=open(src, "rb"))  # noqa: SIM115
    return total / (time.perf_counter() - t0)


SSHD = "/usr/sbin/sshd"


@contextlib.contextmanager
def private_sshd(workdir: str) -> Iterator[list[str] | None]:
    """An sshd of our own on a loopback port (fresh host and client keys,
    the host key pinned in a known_hosts file): yields the ssh argv prefix
    to reach it, or None when there is no sshd binary (`bash
    scripts/bench-deps.sh` installs openssh-server)."""
    if not (os.access(SSHD, os.X_OK) and shutil.which("ssh") and shutil.which("ssh-keygen")):
        yield None
        return
    d = os.path.join(workdir, "sshd")
    os.makedirs(d, mode=0o700)
    for key in ("host", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, key)], check=True)
    shutil.copy(os.path.join(d, "id.pub"), os.path.join(d, "authorized_keys"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with open(os.path.join(d, "host.pub")) as f:
        host_pub = " ".join(f.read().split()[:2])
    with open(os.path.join(d, "known_hosts"), "w") as f:
        f.write(f"[127.0.0.1]:{port} {host_pub}\n")
    with open(os.path.join(d, "sshd_config"), "w") as f:
        f.write(f"ListenAddress 127.0.0.1:{port}\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n"
                "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                f"PermitRootLogin prohibit-password\nPidFile {d}/sshd.pid\n")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # its privilege-separation directory
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", os.path.join(d, "sshd_config")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as c:
                if c.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline or proc.poll() is not None:
                yield None
                return
            time.sleep(0.05)
        yield ["ssh", "-p", str(port), "-i", os.path.join(d, "id"), "-o", "IdentitiesOnly=yes",
               "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
               "-o", f"UserKnownHostsFile={d}/known_hosts", "127.0.0.1"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024, help="MiB per run (default 1024)")
    ap.add_argument("--rounds", type=int, default=3, help="(baseline, measured) pairs per row (default 3)")
    ap.add_argument("--lines", type=int, default=2000, help="round trips for the latency (default 2000)")
    args = ap.parse_args()
    total = args.size * 1024 * 1024
    tls: list[tuple[str, Any]] = []
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.bin")
        with open(src, "wb") as f:
            block = os.urandom(1 << 20)
            for _ in range(args.size):
                f.write(block)
        with private_sshd(d) as ssh:
            cmd = " ".join([*ssh, "'cat > /dev/null'"]) if ssh else ""
            if HAS_TLS:
                tls = [("onesh pipe, between hosts (TLS 1.3)", lambda: onesh_pipe(total, d, False, "tls"))]
            measured: list[tuple[str, Any]] = [
                ("raw pyzmq PUSH/PULL 64 KiB, tcp + Curve", lambda: raw_zmq(total, curve=True)),
                ("raw pyzmq PUSH/PULL 64 KiB, ipc", lambda: raw_zmq(total, curve=False, ipc_dir=d)),
                ("onesh pipe, same host (unix socket)", lambda: onesh_pipe(total, d, True)),
                *tls,
                ("onesh pipe, between hosts (ZeroMQ + Curve)", lambda: onesh_pipe(total, d, False, "zmq")),
                ("local cat | cat (OS pipes)", lambda: shell_pipe("cat | cat > /dev/null", src, total)),
                ("cat | ssh 127.0.0.1 'cat > /dev/null'",
                 (lambda: shell_pipe(f"cat | {cmd}", src, total)) if ssh else None),
            ]
            pairs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in measured}
            for _ in range(args.rounds):
                for name, run in measured:
                    if run is not None:
                        base = raw_zmq(total, curve=False)  # the reference, right before each
                        pairs[name].append((base, run()))
            # The choice of default between hosts: the two, back to back.
            head = [(onesh_pipe(total, d, False, "zmq"), onesh_pipe(total, d, False, "tls"))
                    for _ in range(args.rounds if HAS_TLS else 0)]
        lat = [("raw pyzmq DEALER/ROUTER + Curve", raw_latency(args.lines)),
               ("onesh pipes, same host (unix socket)", pipe_latency(args.lines, d, True))]
        if HAS_TLS:
            lat.append(("onesh pipes, between hosts (TLS 1.3)", pipe_latency(args.lines, d, False, "tls")))
        lat.append(("onesh pipes, between hosts (ZeroMQ + Curve)", pipe_latency(args.lines, d, False, "zmq")))
    import onesh

    print(f"code under test: {os.path.dirname(os.path.dirname(os.path.abspath(onesh.__file__ or '')))}"
          f"  ({args.rounds} rounds, raw zmq tcp run right before each measured run)")
    print(f"{'path (' + str(args.size) + ' MiB, 2 processes)':<46} {'MiB/s':>8} {'vs raw zmq tcp':>15}"
          f"  {'(raw zmq tcp MiB/s)':>20}")
    for name, _ in measured:
        got = pairs[name]
        if not got:
            print(f"{name:<46} {'skipped: no sshd (bash scripts/bench-deps.sh)':>20}")
            continue
        rate = statistics.median(r for _, r in got)
        ratio = statistics.median(r / b for b, r in got)
        base = statistics.median(b for b, _ in got)
        print(f"{name:<46} {rate / 2**20:>8.0f} {ratio:>14.2f}x  {base / 2**20:>20.0f}")
    if not HAS_TLS:
        print(f"{'onesh pipe, between hosts (TLS 1.3)':<46} {'n/a':>8}  (this tree has no TLS pipes)")
    if head:
        print(f"TLS 1.3 / ZeroMQ + Curve, back to back: {statistics.median(t / z for z, t in head):.2f}x "
              f"(pairs, MiB/s: {', '.join(f'{t / 2**20:.0f}/{z / 2**20:.0f}' for z, t in head)})")
    print(f"one line to an echo process and back (2 hops), {args.lines} round trips:")
    for name, samples in lat:
        print(f"  {name:<44} {_p50_p99(samples)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
