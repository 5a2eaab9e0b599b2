"""AES-256-GCM for the lease datagrams (net.leasewire), from the library
already in the process when there is one.

cryptography's AESGCM maps its Rust extension, about 7 MB of RSS, into
every runtime for a few small datagrams a second.  A runtime has libsodium
mapped anyway: libzmq links it for CurveZMQ, which secures every RPC.  Its
crypto_aead_aes256gcm_* functions are the same algorithm (NIST SP 800-38D:
a 96-bit nonce, the 128-bit tag appended to the ciphertext), so a datagram
sealed by one opens with the other, and a cluster may mix them.

libsodium offers AES-GCM only on CPUs with AES instructions (x86-64 with
AES-NI and PCLMUL; ARMv8 with the crypto extensions, libsodium >= 1.0.19),
and it is only there when pyzmq's libzmq links it.  Otherwise (or when it
cannot be loaded) this is cryptography's AESGCM, as before.  Nothing here
implements cryptography: both are the libraries' one-call AEAD functions.
"""

from __future__ import annotations

import os

KEY = 32
NONCE = 12
TAG = 16


class AeadError(Exception):
    """The data was not sealed under this key, nonce and associated data."""


def _mapped_libsodium() -> str | None:
    """The path of the libsodium this process has mapped (Linux), if any."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rstrip("\n").split(None, 5)[-1]
                # (libsodium.so.23 from the system, libsodium-<hash>.so.* bundled in pyzmq's wheels)
                if os.path.basename(path).startswith(("libsodium.", "libsodium-")):
                    return path
    except OSError:
        pass
    return None


class Sodium:
    """libsodium's crypto_aead_aes256gcm, through ctypes."""

    name = "libsodium"

    def __init__(self, path: str) -> None:
        import ctypes

        lib = ctypes.CDLL(path)  # (already mapped: the same handle libzmq uses)
        if lib.sodium_init() < 0 or lib.crypto_aead_aes256gcm_is_available() != 1:
            raise OSError("libsodium: no AES-256-GCM on this CPU")
        u64, buf = ctypes.c_ulonglong, ctypes.c_char_p
        self._encrypt = lib.crypto_aead_aes256gcm_encrypt
        self._encrypt.argtypes = [buf, ctypes.POINTER(u64), buf, u64, buf, u64, ctypes.c_void_p, buf, buf]
        self._encrypt.restype = ctypes.c_int
        self._decrypt = lib.crypto_aead_aes256gcm_decrypt
        self._decrypt.argtypes = [buf, ctypes.POINTER(u64), ctypes.c_void_p, buf, u64, buf, u64, buf, buf]
        self._decrypt.restype = ctypes.c_int
        self._ctypes = ctypes

    def encrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check(key, nonce)  # (the C functions read exactly KEY and NONCE bytes)
        out = self._ctypes.create_string_buffer(len(data) + TAG)
        n = self._ctypes.c_ulonglong(0)
        if self._encrypt(out, self._ctypes.byref(n), data, len(data), aad, len(aad), None, nonce, key) != 0:
            raise AeadError("libsodium: encryption failed")
        return out.raw[:n.value]

    def decrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check(key, nonce)
        if len(data) < TAG:
            raise AeadError("shorter than a tag")
        out = self._ctypes.create_string_buffer(max(1, len(data) - TAG))
        n = self._ctypes.c_ulonglong(0)
        if self._decrypt(out, self._ctypes.byref(n), None, data, len(data), aad, len(aad), nonce, key) != 0:
            raise AeadError("not sealed with this key")
        return out.raw[:n.value]


class Cryptography:
    """cryptography's AESGCM (OpenSSL)."""

    name = "cryptography"

    def __init__(self) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aesgcm, self._invalid = AESGCM, InvalidTag

    def encrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check(key, nonce)
        return bytes(self._aesgcm(key).encrypt(nonce, data, aad))

    def decrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check(key, nonce)
        try:
            return bytes(self._aesgcm(key).decrypt(nonce, data, aad))
        except self._invalid:
            raise AeadError("not sealed with this key") from None


def _check(key: bytes, nonce: bytes) -> None:
    if len(key) != KEY or len(nonce) != NONCE:
        raise ValueError(f"AES-256-GCM takes a {KEY}-byte key and a {NONCE}-byte nonce")


_backend: Sodium | Cryptography | None = None


def backend() -> Sodium | Cryptography:
    """The implementation this process uses (chosen once)."""
    global _backend
    if _backend is None:
        import zmq  # noqa: F401  (libzmq links libsodium: importing zmq maps it)

        path = _mapped_libsodium()
        chosen: Sodium | Cryptography | None = None
        if path is not None:
            try:
                chosen = Sodium(path)
            except (OSError, AttributeError):  # (no such library or function, no AES-NI)
                chosen = None
        _backend = chosen if chosen is not None else Cryptography()
    return _backend


def encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    return backend().encrypt(key, nonce, data, aad)


def decrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    """The plaintext; AeadError when data was not sealed under key, nonce and aad."""
    return backend().decrypt(key, nonce, data, aad)
