"""Same-host pipes: a Unix socket in a private directory instead of TLS over TCP.

Two ends of a pipe on one machine — one kernel, one user, one filesystem
view — talk over a Unix packet socket (`unix://`, onesh.net.unixsock) in
a directory only this user can enter (mode 0700, owned by us: checked,
never assumed).  The kernel is then what
authenticates the peer (only this uid, and root, can connect to the
socket file) and the bytes never leave it, so crypto would add nothing but
two passes of crypto per byte: on loopback it halves a pipe's throughput.
Whatever crosses hosts, or users, or mount namespaces is encrypted (TLS,
or ZeroMQ + Curve: net/transport.py): a sender only goes without crypto
to a `unix://` endpoint, and only a receiver that checked its directory
binds one (transport.pipe_bind).

`host_key()` names the conditions; two ends with equal keys may use one.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import socket
import stat
import tempfile


def host_key() -> str | None:
    """boot id : uid : mount namespace — equal on both ends means one
    kernel, one user, one view of the filesystem.  None where that cannot
    be told (no /proc), or with $ONESH_NO_IPC set: then every pipe this
    process wires goes as between hosts (encrypted, over TCP)."""
    return None if os.environ.get("ONESH_NO_IPC") else _host_key()


@functools.cache
def _host_key() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        mnt = os.stat("/proc/self/ns/mnt").st_ino
    except OSError:
        return None
    return f"{boot}:{os.getuid()}:{mnt}" if boot else None


def ipc_dir() -> str | None:
    """This user's private directory for pipe sockets, created if missing;
    None when it is not safe to use (someone else's, or open to others)."""
    if os.environ.get("ONESH_NO_IPC"):
        return None
    path = os.path.join(tempfile.gettempdir(), f"onesh-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    return path


def same_host(a: str | None, b: str | None) -> bool:
    return a is not None and a == b


def sweep_stale() -> int:
    """Remove the socket files of receivers that died without closing (a
    SIGKILLed stage host): nothing accepts on them any more.  Run by a
    runtime as it starts; returns how many went."""
    d = ipc_dir()
    if d is None:
        return 0
    gone = 0
    for name in os.listdir(d):
        path = os.path.join(d, name)
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            # (not blocking: a live receiver that is not accepting, frozen
            # or busy, would hold this runtime's start for ever)
            s.setblocking(False)
            try:
                s.connect(path)
            except OSError as e:
                if e.errno == errno.ECONNREFUSED:
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                        gone += 1
    return gone
