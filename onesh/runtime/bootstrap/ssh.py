"""One verified SSH connection to a device.

The host key is fetched first (a handshake without logging in), judged
against known_hosts (onesh.runtime.bootstrap.hostkeys) and, if new, shown
with its SHA256 fingerprint for a yes at the prompt (or recorded with
--accept-new).  Only then do we log in, pinning exactly that key: a
changed key never gets as far as authentication, let alone an install.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import asyncssh

from onesh.errors import OneshError
from onesh.runtime.bootstrap import hostkeys
from onesh.runtime.bootstrap.target import Resolved

CONNECT_TIMEOUT = 15.0

# Asks the user a yes/no question; None when there is nobody to ask.
Confirm = Callable[[str], "bool | None"]


class SshError(OneshError):
    status = 1


async def connect(dev: Resolved, *, accept_new: bool, confirm: Confirm,
                  notify: Callable[[str], None]) -> asyncssh.SSHClientConnection:
    addr = await _address(dev)
    known = hostkeys.lookup(dev.known_hosts, dev.key_name, addr, dev.port)
    key = await _host_key(dev, known.host_key_algs())
    if key is None:  # the server has none of the key types we know for it
        key = await _host_key(dev, [])
        if key is None:
            raise SshError(f"{dev.alias} ({dev.where}) presented no host key")
    verdict = known.verdict(key)
    shown = f"{key.get_algorithm()} key {hostkeys.fingerprint(key)}"
    if verdict is hostkeys.Verdict.REVOKED:
        line = next(k for k in known.revoked if k.key == key)
        raise SshError(f"the host key of {dev.alias} ({dev.where}) is revoked in {line.path}:{line.lineno}; "
                       "refusing to connect. Nothing was installed.")
    if verdict is hostkeys.Verdict.CHANGED:
        lines = "; ".join(k.describe() for k in known.trusted)
        raise SshError(
            f"HOST KEY CHANGED for {dev.alias} ({dev.where}): it now presents {shown}, "
            f"but known_hosts says otherwise ({lines}). Someone may be intercepting the connection, or the "
            f"device was reinstalled. Refusing to connect; nothing was installed. If the change is expected, "
            f"remove the old key (ssh-keygen -R {_pattern(dev)}) and run again.")
    if verdict is hostkeys.Verdict.UNKNOWN:
        if not accept_new:
            answer = confirm(f"The authenticity of host '{dev.alias} ({dev.where})' can't be established.\n"
                             f"{shown}.\nAre you sure you want to continue connecting (yes/no)? ")
            if answer is None:
                raise SshError(f"the host key of {dev.alias} ({dev.where}) is not known: {shown}. "
                               "Check it, then run again with --accept-new to record it (or answer the "
                               "prompt on a terminal). Nothing was installed.")
            if not answer:
                raise SshError(f"host key of {dev.alias} not accepted; nothing was installed")
        lineno = hostkeys.record(dev.known_hosts[0], dev.key_name, dev.port, key)
        notify(f"recorded the host key of {dev.alias} ({shown}) in {dev.known_hosts[0]}:{lineno}")
    return await _login(dev, key)


async def _address(dev: Resolved) -> str:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(dev.host, dev.port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise SshError(f"cannot resolve {dev.host}: {e.strerror or e}") from None
    return str(infos[0][4][0])


async def _host_key(dev: Resolved, algs: list[str]) -> asyncssh.SSHKey | None:
    try:
        return await asyncio.wait_for(
            asyncssh.get_server_host_key(dev.host, dev.port, server_host_key_algs=algs or ()), CONNECT_TIMEOUT)
    except asyncssh.KeyExchangeFailed:
        if algs:
            return None
        raise SshError(f"{dev.alias} ({dev.where}): no common host key algorithm") from None
    except (OSError, asyncssh.Error, TimeoutError) as e:
        raise SshError(f"cannot connect to {dev.alias} ({dev.where}): {_reason(e)}") from None


async def _login(dev: Resolved, key: asyncssh.SSHKey) -> asyncssh.SSHClientConnection:
    try:
        return await asyncio.wait_for(
            asyncssh.connect(dev.alias, options=dev.options, known_hosts=([key], [], []),
                             server_host_key_algs=[a.decode() for a in key.sig_algorithms]),
            CONNECT_TIMEOUT)
    except asyncssh.PermissionDenied:
        raise SshError(f"authentication failed for {dev.username}@{dev.alias} ({dev.where}): the device "
                       f"accepted none of {dev.identities}. Add your public key to the device's "
                       "~/.ssh/authorized_keys, or pass --identity KEY.") from None
    except asyncssh.HostKeyNotVerifiable:
        raise SshError(f"the host key of {dev.alias} changed while connecting; refusing. "
                       "Nothing was installed.") from None
    except (OSError, asyncssh.Error, TimeoutError) as e:
        raise SshError(f"cannot connect to {dev.alias} ({dev.where}): {_reason(e)}") from None


def _pattern(dev: Resolved) -> str:
    return dev.key_name if dev.port == 22 else f"'[{dev.key_name}]:{dev.port}'"


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return f"timed out after {CONNECT_TIMEOUT:g}s"
    if isinstance(e, asyncssh.DisconnectError):
        return e.reason
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
