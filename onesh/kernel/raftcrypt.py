"""The Raft port's encryption: libsodium's XChaCha20-Poly1305 in place of
pysyncobj's Fernet.

pysyncobj seals every message on its TCP port with an *encryptor* made
from the cluster's Raft password: `cryptography`'s Fernet (AES-128-CBC
and HMAC-SHA256) behind a 100,000-round PBKDF2.  Loading `cryptography`'s
Rust extension for it costs each voter about 9 MB of RSS, and the PBKDF2
a tenth of a second at every start.  Every runtime already has libsodium
mapped (libzmq links it for CurveZMQ), so a voter seals the same messages
with libsodium's XChaCha20-Poly1305 (IETF) instead: an AEAD, so a message
that was not sealed with the cluster's key, or was changed on the way, is
refused before pysyncobj unpickles it, as Fernet's HMAC refuses it.

    token = version (1 byte) | timestamp (8, big-endian) | nonce (24, random)
            | ciphertext and tag (16)
    associated data = version | timestamp

The key is BLAKE2b of the password (itself 256 bits derived from the
cluster secret: no stretching needed).  A 192-bit random nonce never
repeats in practice, however many messages a long-lived cluster sends
under its one key.  pysyncobj's own defences stay as they are: a random
key per connection that every message must carry (no replay from another
connection), and timestamps that never go back within one.

pysyncobj imports its encryptor module, and with it `cryptography`, when
it is imported; `install()` puts this module's in its place first.  With
no libsodium to call (no such library mapped), pysyncobj keeps its own:
a cluster's voters all run on one machine with the same libraries, so
they always agree on which.
"""

from __future__ import annotations

import os
import sys
import types
from _blake2 import blake2b
from typing import Any

VERSION = b"\x01"
HEAD = 1 + 8  # version, timestamp
NONCE = 24


class InvalidToken(Exception):
    """Not sealed with this cluster's key (pysyncobj drops the connection)."""


class RaftEncryptor:
    """pysyncobj's encryptor interface (what it uses of Fernet's)."""

    def __init__(self, password: str | bytes, sodium: Any) -> None:
        raw = password if isinstance(password, bytes) else password.encode()
        self.key = blake2b(raw, digest_size=32, person=b"onesh-raft-xcp").digest()
        self.sodium = sodium
        self._opened: tuple[bytes, bytes] | None = None  # (token, plaintext): the last one authenticated

    def encrypt_at_time(self, data: bytes, current_time: int) -> bytes:
        head = VERSION + int(current_time).to_bytes(8, "big")
        nonce = os.urandom(NONCE)
        return head + nonce + bytes(self.sodium.encrypt(self.key, nonce, bytes(data), head))

    def _open(self, token: bytes) -> bytes:
        from onesh.net.aead import AeadError

        token = bytes(token)
        if self._opened is not None and self._opened[0] == token:
            return self._opened[1]
        if len(token) < HEAD + NONCE or token[:1] != VERSION:
            raise InvalidToken("not a onesh Raft token")
        try:
            plain = bytes(self.sodium.decrypt(self.key, token[HEAD:HEAD + NONCE], token[HEAD + NONCE:],
                                              token[:HEAD]))
        except AeadError:
            raise InvalidToken("not sealed with this cluster's key") from None
        self._opened = (token, plain)
        return plain

    def extract_timestamp(self, token: bytes) -> int:
        """The timestamp, once the token is authenticated (as Fernet's)."""
        self._open(token)
        return int.from_bytes(bytes(token)[1:HEAD], "big")

    def decrypt(self, token: bytes, ttl: int | None = None) -> bytes:
        # (pysyncobj calls extract_timestamp, then this, on each message:
        # the second call takes the plaintext the first one authenticated)
        try:
            return self._open(token)
        finally:
            self._opened = None


def install() -> bool:
    """Make pysyncobj use RaftEncryptor; call before pysyncobj is first
    imported.  False: no libsodium here, pysyncobj keeps Fernet."""
    if "pysyncobj.encryptor" in sys.modules:
        return isinstance(getattr(sys.modules["pysyncobj.encryptor"], "onesh", None), bool)
    from onesh.net.aead import xchacha

    sodium = xchacha()
    if sodium is None:
        return False
    module = types.ModuleType("pysyncobj.encryptor", "onesh: pysyncobj's Raft encryption by libsodium")
    module.HAS_CRYPTO = True  # type: ignore[attr-defined]
    module.getEncryptor = lambda password: RaftEncryptor(password, sodium)  # type: ignore[attr-defined]
    module.onesh = True  # type: ignore[attr-defined]
    sys.modules["pysyncobj.encryptor"] = module
    return True
