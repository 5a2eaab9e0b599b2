"""Where to connect: `[user@]host[:port]` plus what ~/.ssh/config says.

The config is OpenSSH's own file, read by asyncssh the way `ssh` reads it
(first match wins): HostName, Port, User, IdentityFile, UserKnownHostsFile
and HostKeyAlias.  What the command line gives explicitly (`user@`,
`:port`, `--identity`) wins over the config, as with `ssh`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import asyncssh

from onesh.errors import OneshError

_TARGET = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^@:\s\[\]]+))(?::(?P<port>\d+))?$")


class TargetError(OneshError):
    status = 2


@dataclass(frozen=True)
class Target:
    """What the user typed."""

    alias: str  # the host as typed: an ~/.ssh/config Host, a name or an address
    user: str | None = None
    port: int | None = None


def parse_target(text: str) -> Target:
    m = _TARGET.match(text)
    if m is None:
        raise TargetError(f"{text!r}: expected [user@]host[:port]")
    port = int(m["port"]) if m["port"] else None
    if port is not None and not 0 < port < 65536:
        raise TargetError(f"{text!r}: port {port} out of range")
    return Target(alias=m["v6"] or m["host"], user=m["user"], port=port)


@dataclass(frozen=True)
class Resolved:
    """The target after ~/.ssh/config: what we connect to and as whom."""

    alias: str
    host: str  # HostName (or the alias)
    port: int
    username: str
    key_name: str  # the name host keys are recorded under (HostKeyAlias or host)
    known_hosts: tuple[str, ...]  # user known_hosts files; the first one is written to
    identities: str  # which keys we offer, for an authentication error
    options: asyncssh.SSHClientConnectionOptions

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}" if self.port != 22 else self.host


def resolve(target: Target, identity: str | None = None) -> Resolved:
    """Apply ~/.ssh/config; load the identities (--identity, IdentityFile,
    else the default ~/.ssh/id_* keys; the agent too unless --identity)."""
    if identity is not None and not os.path.isfile(os.path.expanduser(identity)):
        raise TargetError(f"--identity {identity}: no such key file")
    kw: dict[str, object] = {}
    if target.user is not None:
        kw["username"] = target.user
    if target.port is not None:
        kw["port"] = target.port
    if identity is not None:
        kw["client_keys"] = [os.path.expanduser(identity)]
        kw["agent_path"] = None
    try:
        # config=(): read ~/.ssh/config as `asyncssh.connect` does by default.
        options = asyncssh.SSHClientConnectionOptions(host=target.alias, config=(), **kw)
    except (OSError, ValueError, asyncssh.KeyImportError) as e:
        raise TargetError(f"{target.alias}: ssh configuration: {e}") from None
    files = options.known_hosts if isinstance(options.known_hosts, list) else None
    known = tuple(os.path.expanduser(str(f)) for f in files) if files else (
        os.path.expanduser(os.path.join("~", ".ssh", "known_hosts")),)
    host = str(options.host)
    configured = options.config.get("IdentityFile")
    if identity is not None:
        identities = f"the key {identity}"
    elif isinstance(configured, list) and configured:
        identities = "the keys " + ", ".join(map(str, configured))
    else:
        identities = "the keys in ~/.ssh (id_ed25519, id_ecdsa, id_rsa) or the ssh agent"
    return Resolved(alias=target.alias, host=host, port=int(options.port), username=str(options.username),
                    key_name=str(options.host_key_alias or host), known_hosts=known, identities=identities,
                    options=options)
