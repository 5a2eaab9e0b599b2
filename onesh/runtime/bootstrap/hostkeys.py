"""Host keys against ~/.ssh/known_hosts, as `ssh` judges them.

A device's key is *known* (a line for this host lists it), *unknown* (no
line names the host: ask, or --accept-new records it), *changed* (lines
name the host with other keys: refused, naming those lines, because that
is what a man in the middle looks like) or *revoked* (@revoked).  Each
line is parsed and matched on its own by asyncssh's known_hosts code
(hashed names, wildcards, `[host]:port`), so a verdict can say which line
of which file it rests on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import Enum

import asyncssh


class Verdict(Enum):
    KNOWN = "known"
    UNKNOWN = "unknown"
    CHANGED = "changed"
    REVOKED = "revoked"


@dataclass(frozen=True)
class KnownLine:
    path: str
    lineno: int
    key: asyncssh.SSHKey

    def describe(self) -> str:
        return f"{self.path}:{self.lineno} ({self.key.get_algorithm()} {fingerprint(self.key)})"


@dataclass
class Lookup:
    """The known_hosts lines that name one host."""

    trusted: list[KnownLine] = field(default_factory=list)
    revoked: list[KnownLine] = field(default_factory=list)

    def verdict(self, key: asyncssh.SSHKey) -> Verdict:
        if any(k.key == key for k in self.revoked):
            return Verdict.REVOKED
        if any(k.key == key for k in self.trusted):
            return Verdict.KNOWN
        return Verdict.CHANGED if self.trusted else Verdict.UNKNOWN

    def host_key_algs(self) -> list[str]:
        """The host key algorithms to ask the server for: those of the keys
        we know (else the server's choice), as `ssh` orders them."""
        algs: list[str] = []
        for line in self.trusted:
            for a in line.key.sig_algorithms:
                if a.decode() not in algs:
                    algs.append(a.decode())
        return algs


def fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def lookup(files: tuple[str, ...], host: str, addr: str, port: int) -> Lookup:
    """Every line of `files` that names host (or its address) and port."""
    found = Lookup()
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for lineno, line in enumerate(lines, 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            try:
                entry = asyncssh.import_known_hosts(text)
            except (ValueError, asyncssh.KeyImportError):
                continue  # `ssh` skips a line it cannot read too
            keys, _ca, revoked, *_ = entry.match(host, addr, port if port != 22 else None)
            found.trusted += [KnownLine(path, lineno, k) for k in keys]
            found.revoked += [KnownLine(path, lineno, k) for k in revoked]
    return found


def known_hosts_line(name: str, port: int, key: asyncssh.SSHKey) -> str:
    pattern = name if port == 22 else f"[{name}]:{port}"
    alg, blob = key.export_public_key("openssh").decode().split()[:2]
    return f"{pattern} {alg} {blob}\n"


def record(path: str, name: str, port: int, key: asyncssh.SSHKey) -> int:
    """Append the key for `name` (what --accept-new and a "yes" do);
    returns the line number it got."""
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        with open(path, "rb") as f:
            existing = f.read()
    except FileNotFoundError:
        existing = b""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        prefix = b"\n" if existing and not existing.endswith(b"\n") else b""
        os.write(fd, prefix + known_hosts_line(name, port, key).encode())
    finally:
        os.close(fd)
    return existing.count(b"\n") + (1 if prefix else 0) + 1
