"""AES-256-GCM for the lease datagrams (net.leasewire), and XChaCha20-
Poly1305 for the Raft port (kernel.raftcrypt), from the library already in
the process when there is one.

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
    """One of libsodium's AEAD constructions, through ctypes:
    "aes256gcm" (crypto_aead_aes256gcm_*, the lease datagrams') or
    "xchacha20poly1305_ietf" (a 192-bit nonce, so random nonces never
    repeat in practice however many messages one key seals, where
    AES-GCM's 96-bit ones are good for 2^32 per key)."""

    NONCES = {"aes256gcm": NONCE, "xchacha20poly1305_ietf": 24}

    def __init__(self, path: str, algo: str = "aes256gcm") -> None:
        import ctypes

        lib = ctypes.CDLL(path)  # (already mapped: the same handle libzmq uses)
        if lib.sodium_init() < 0:
            raise OSError("libsodium: cannot initialise")
        if algo == "aes256gcm" and lib.crypto_aead_aes256gcm_is_available() != 1:
            raise OSError("libsodium: no AES-256-GCM on this CPU")
        self.name = f"libsodium {algo}"
        self.nonce = self.NONCES[algo]
        u64, buf = ctypes.c_ulonglong, ctypes.c_char_p
        self._encrypt = getattr(lib, f"crypto_aead_{algo}_encrypt")
        self._encrypt.argtypes = [buf, ctypes.POINTER(u64), buf, u64, buf, u64, ctypes.c_void_p, buf, buf]
        self._encrypt.restype = ctypes.c_int
        self._decrypt = getattr(lib, f"crypto_aead_{algo}_decrypt")
        self._decrypt.argtypes = [buf, ctypes.POINTER(u64), ctypes.c_void_p, buf, u64, buf, u64, buf, buf]
        self._decrypt.restype = ctypes.c_int
        self._ctypes = ctypes

    def encrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check(key, nonce, self.nonce)  # (the C functions read exactly KEY and nonce bytes)
        out = self._ctypes.create_string_buffer(len(data) + TAG)
        n = self._ctypes.c_ulonglong(0)
        if self._encrypt(out, self._ctypes.byref(n), data, len(data), aad, len(aad), None, nonce, key) != 0:
            raise AeadError("libsodium: encryption failed")
        return out.raw[:n.value]

    def decrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check(key, nonce, self.nonce)
        if len(data) < TAG:
            raise AeadError("shorter than a tag")
        out = self._ctypes.create_string_buffer(max(1, len(data) - TAG))
        n = self._ctypes.c_ulonglong(0)
        if self._decrypt(out, self._ctypes.byref(n), None, data, len(data), aad, len(aad), nonce, key) != 0:
            raise AeadError("not sealed with this key")
        return out.raw[:n.value]


def xchacha() -> Sodium | None:
    """libsodium's XChaCha20-Poly1305 where this process has libsodium
    mapped (None: it has not; cryptography has no XChaCha20)."""
    import zmq  # noqa: F401  (libzmq links libsodium: importing zmq maps it)

    path = _mapped_libsodium()
    if path is None:
        return None
    try:
        return Sodium(path, "xchacha20poly1305_ietf")
    except (OSError, AttributeError):
        return None


class Cryptography:
    """cryptography's AESGCM (OpenSSL)."""

    name = "cryptography"

    def __init__(self) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._aesgcm, self._invalid = AESGCM, InvalidTag

    def encrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check(key, nonce, NONCE)
        return bytes(self._aesgcm(key).encrypt(nonce, data, aad))

    def decrypt(self, key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        _check(key, nonce, NONCE)
        try:
            return bytes(self._aesgcm(key).decrypt(nonce, data, aad))
        except self._invalid:
            raise AeadError("not sealed with this key") from None


def _check(key: bytes, nonce: bytes, nonce_len: int) -> None:
    if len(key) != KEY or len(nonce) != nonce_len:
        raise ValueError(f"this AEAD takes a {KEY}-byte key and a {nonce_len}-byte nonce")


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
