"""AES-256-GCM of the lease datagrams: libsodium's (through ctypes) and
cryptography's give the same bytes, and neither opens anything altered."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from onesh.net import aead


def sodium() -> aead.Sodium:
    import zmq  # noqa: F401  (maps libzmq's libsodium)

    path = aead._mapped_libsodium()
    if path is None:
        pytest.skip("no libsodium mapped in this process")
    try:
        return aead.Sodium(path)
    except OSError as e:
        pytest.skip(str(e))


BACKENDS = [pytest.param(sodium, id="libsodium"), pytest.param(aead.Cryptography, id="cryptography")]

# The GCM specification's test case 16 (AES-256, 96-bit IV, with AAD).
KAT_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
KAT_IV = bytes.fromhex("cafebabefacedbaddecaf888")
KAT_P = bytes.fromhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
KAT_A = bytes.fromhex("feedfacedeadbeeffeedfacedeadbeefabaddad2")
KAT_CT = bytes.fromhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                       "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
                       "76fc6ece0f4e1768cddf8853bb2d551b")


@pytest.mark.parametrize("make", BACKENDS)
def test_known_answer(make: Callable[[], aead.Sodium | aead.Cryptography]) -> None:
    b = make()
    assert b.encrypt(KAT_KEY, KAT_IV, KAT_P, KAT_A) == KAT_CT
    assert b.decrypt(KAT_KEY, KAT_IV, KAT_CT, KAT_A) == KAT_P


def test_the_two_implementations_open_each_other() -> None:
    s, c = sodium(), aead.Cryptography()
    for size in (0, 1, 15, 16, 17, 100, 1000, 8192):
        key, nonce, data, aad = os.urandom(32), os.urandom(12), os.urandom(size), os.urandom(size % 20)
        sealed = s.encrypt(key, nonce, data, aad)
        assert sealed == c.encrypt(key, nonce, data, aad)
        assert len(sealed) == size + aead.TAG
        assert c.decrypt(key, nonce, sealed, aad) == data == s.decrypt(key, nonce, sealed, aad)


@pytest.mark.parametrize("make", BACKENDS)
def test_nothing_altered_opens(make: Callable[[], aead.Sodium | aead.Cryptography]) -> None:
    b = make()
    key, nonce = os.urandom(32), os.urandom(12)
    sealed = b.encrypt(key, nonce, b"renew r4", b"onesh-lease/1")
    for i in range(len(sealed)):
        flipped = bytearray(sealed)
        flipped[i] ^= 0x40
        with pytest.raises(aead.AeadError):
            b.decrypt(key, nonce, bytes(flipped), b"onesh-lease/1")
    for args in ((os.urandom(32), nonce, sealed, b"onesh-lease/1"),  # another key
                 (key, os.urandom(12), sealed, b"onesh-lease/1"),  # another nonce
                 (key, nonce, sealed, b"onesh-lease/2"),  # other associated data
                 (key, nonce, sealed[:-1], b"onesh-lease/1"),  # cut short
                 (key, nonce, sealed[:aead.TAG - 1], b"onesh-lease/1")):
        with pytest.raises(aead.AeadError):
            b.decrypt(*args)
    with pytest.raises(ValueError):
        b.encrypt(key[:16], nonce, b"x", b"")  # (AES-128: not what the channel uses)
    with pytest.raises(ValueError):
        b.decrypt(key, nonce[:8], sealed, b"onesh-lease/1")


def test_a_runtime_process_uses_libsodium_when_it_can() -> None:
    sodium()  # (skips where libsodium or its AES-GCM is missing)
    assert aead.backend().name == "libsodium aes256gcm"
