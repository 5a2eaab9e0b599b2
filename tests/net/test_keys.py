"""net.keys avoids hashlib, hmac and secrets (they map OpenSSL's libcrypto
into every runtime): the built-ins it uses instead are those modules' own."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
from pathlib import Path

from onesh.net import keys


def test_the_builtins_are_the_functions_hashlib_and_hmac_give() -> None:
    assert keys.blake2b is hashlib.blake2b
    # (hmac's own when Python has no OpenSSL; with it, OpenSSL's CRYPTO_memcmp)
    assert "from _operator import _compare_digest as compare_digest" in Path(hmac.__file__).read_text()
    for a, b in ((b"k" * 32, b"k" * 32), (b"k" * 32, b"k" * 31 + b"j"), (b"", b""), (b"a", b"ab")):
        assert keys.compare_digest(a, b) == hmac.compare_digest(a, b)


def test_derived_keys_are_unchanged() -> None:
    secret = bytes(range(32))
    want = hashlib.blake2b(secret, digest_size=32, person=b"onesh-lease".ljust(16, b"\0")).digest()
    assert keys._derive(secret, b"onesh-lease") == want


def test_a_runtime_import_does_not_map_libcrypto() -> None:
    code = ("import sys; sys.modules['ssl'] = None\n"
            "import onesh.runtime.daemon, importlib\n"
            "for m in onesh.runtime.daemon.EXTENSIONS: importlib.import_module(m)\n"
            "print(sorted(m for m in ('_hashlib', 'hashlib', 'hmac', 'secrets', 'pysyncobj', 'cryptography')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.strip() == "[]"
