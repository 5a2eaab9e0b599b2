"""The Raft port's encryptor (kernel.raftcrypt): libsodium's XChaCha20-
Poly1305 in pysyncobj's place for Fernet.  A token that was not sealed
with the cluster's key, or was changed in any byte, is refused before
pysyncobj would unpickle it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from onesh.kernel import raftcrypt
from onesh.net import aead


@pytest.fixture
def encryptor() -> raftcrypt.RaftEncryptor:
    sodium = aead.xchacha()
    if sodium is None:
        pytest.skip("no libsodium mapped in this process")
    return raftcrypt.RaftEncryptor("a" * 64, sodium)


def test_a_token_opens_with_its_timestamp(encryptor: raftcrypt.RaftEncryptor) -> None:
    for size in (0, 1, 100, 70_000):
        data = os.urandom(size)
        token = encryptor.encrypt_at_time(data, 1234)
        assert encryptor.extract_timestamp(token) == 1234
        assert encryptor.decrypt(token) == data
        assert encryptor.decrypt(token) == data  # (and again: nothing kept from the first)
    a, b = encryptor.encrypt_at_time(b"same", 1), encryptor.encrypt_at_time(b"same", 1)
    assert a != b  # a fresh nonce each time


def test_any_change_and_any_other_key_is_refused(encryptor: raftcrypt.RaftEncryptor) -> None:
    token = encryptor.encrypt_at_time(b"append entries", 7)
    for i in range(len(token)):  # version, timestamp, nonce, ciphertext, tag
        changed = bytearray(token)
        changed[i] ^= 0x01
        with pytest.raises(raftcrypt.InvalidToken):
            encryptor.extract_timestamp(bytes(changed))
        with pytest.raises(raftcrypt.InvalidToken):
            encryptor.decrypt(bytes(changed))
    other = raftcrypt.RaftEncryptor("b" * 64, encryptor.sodium)
    for bad in (token[:-1], token[:20], b"", other.encrypt_at_time(b"append entries", 7)):
        with pytest.raises(raftcrypt.InvalidToken):
            encryptor.extract_timestamp(bad)
        with pytest.raises(raftcrypt.InvalidToken):
            encryptor.decrypt(bad)


def test_pysyncobj_uses_it_and_a_voter_never_loads_cryptography() -> None:
    code = ("import sys\n"
            "import onesh.kernel.membership\n"
            "import pysyncobj.syncobj as s\n"
            "enc = s.getEncryptor('x' * 64)\n"
            "print(type(enc).__name__, any(m.split('.')[0] == 'cryptography' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    if aead.xchacha() is None:
        pytest.skip("no libsodium: pysyncobj keeps Fernet")
    assert out.stdout.split() == ["RaftEncryptor", "False"]
