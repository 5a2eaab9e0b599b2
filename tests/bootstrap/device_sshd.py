"""A device for the bootstrap tests: a real SSH server (asyncssh) run
inside a network namespace, with a disk of its own.

    ip netns exec NS python device_sshd.py --listen ADDR --port P \
        --host-key FILE --authorized-keys FILE --home DIR

It reads its keys, then mounts a fresh tmpfs over the temporary directory
(in the private mount namespace `ip netns exec` gives it), so nothing the
cluster keeps there — data, secret, pipe sockets — is visible to the
device, and its HOME lives on that tmpfs: ~/.onesh, the venv and the data
are the device's own.  Commands run with `/bin/sh -c` in a clean
environment (HOME, PATH, USER); SFTP is asyncssh's server.  Prints READY
once it listens; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile

import asyncssh


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--listen", required=True)
    p.add_argument("--port", type=int, default=22)
    p.add_argument("--host-key", required=True)
    p.add_argument("--authorized-keys", required=True)
    p.add_argument("--home", required=True, help="created on the private tmpfs")
    return p.parse_args(argv)


def private_tmp() -> None:
    tmp = tempfile.gettempdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=1777,size=1g", "onesh-device", tmp], check=True)


async def copy(reader: asyncio.StreamReader | asyncssh.SSHReader[bytes], writer: asyncio.StreamWriter | asyncssh.SSHWriter[bytes],
               close: bool) -> None:
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    if close:
        writer.write_eof()


async def main(a: argparse.Namespace) -> None:
    host_key = asyncssh.read_private_key(a.host_key)
    authorized = asyncssh.read_authorized_keys(a.authorized_keys)
    private_tmp()
    os.makedirs(a.home, mode=0o700, exist_ok=True)
    os.chdir(a.home)

    async def run(process: asyncssh.SSHServerProcess[bytes]) -> None:
        command = process.command
        if command is None:
            process.stderr.write(b"this test device runs commands only\n")
            process.exit(1)
            return
        peer, pport = process.get_extra_info("peername")[:2]
        local, lport = process.get_extra_info("sockname")[:2]
        user = process.get_extra_info("username") or "root"
        env = {"HOME": a.home, "USER": user, "LOGNAME": user, "SHELL": "/bin/sh", "LANG": "C.UTF-8",
               "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "SSH_CONNECTION": f"{peer} {pport} {local} {lport}"}
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd=a.home, start_new_session=True)
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        feed = asyncio.create_task(copy(process.stdin, proc.stdin, close=True))
        try:
            await asyncio.gather(copy(proc.stdout, process.stdout, close=False),
                                 copy(proc.stderr, process.stderr, close=False))
            status = await proc.wait()
        finally:
            feed.cancel()
            await asyncio.gather(feed, return_exceptions=True)
        process.exit(status if status >= 0 else 128 - status)

    server = await asyncssh.listen(a.listen, a.port, server_host_keys=[host_key], authorized_client_keys=authorized,
                                   process_factory=run, sftp_factory=True, encoding=None, allow_scp=False,
                                   password_auth=False, kbdint_auth=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
