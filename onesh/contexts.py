"""Which cluster a shell uses: cluster contexts, as kubectl and docker have.

`onesh cluster up` records the cluster it starts as the user's *current*
cluster; `onesh`, `onesh -c` and scripts then attach to it, unless
`--cluster` or `$ONESH_CLUSTER` says otherwise.  With no current cluster,
the shell uses the user's embedded cluster: a background service of 3
runtimes on this machine, started on first need (onesh.runtime.client).

Everything here is small text files, read on the shell's start-up path,
so no json, no re, no platformdirs on Linux:

    ~/.config/onesh/current          the current cluster's directory (one line)
    ~/.config/onesh/clusters         NAME<TAB>DIRECTORY, one cluster a line
    <cluster dir>/pids               NAME PID, one running runtime a line
    <cluster dir>/shells/PID         a shell attached to that cluster
"""

from __future__ import annotations

import os
import sys

EMBEDDED = "embedded"


def _base(env: str, linux_default: str, kind: str) -> str:
    if sys.platform.startswith("linux"):
        return os.path.join(os.environ.get(env, "").strip() or os.path.expanduser(linux_default), "onesh")
    import platformdirs

    return str(getattr(platformdirs, f"user_{kind}_dir")("onesh"))


def config_dir() -> str:
    return _base("XDG_CONFIG_HOME", "~/.config", "config")


def data_dir() -> str:
    return _base("XDG_DATA_HOME", "~/.local/share", "data")


def clusters_dir() -> str:
    return os.path.join(data_dir(), "clusters")


def embedded_dir() -> str:
    return os.path.join(clusters_dir(), EMBEDDED)


def default_dir() -> str:
    """Where `onesh cluster up` puts a cluster without --data-dir."""
    return os.path.join(clusters_dir(), "default")


# ------------------------------------------------------------- the record
def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def current() -> str | None:
    """The current cluster's directory (None: the embedded cluster)."""
    return _read(os.path.join(config_dir(), "current")).strip() or None


def set_current(directory: str | None) -> None:
    path = os.path.join(config_dir(), "current")
    if directory is None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        _write(path, os.path.abspath(directory) + "\n")


def known() -> dict[str, str]:
    """The clusters recorded by name (the embedded one always is)."""
    out = {EMBEDDED: embedded_dir()}
    for line in _read(os.path.join(config_dir(), "clusters")).splitlines():
        name, _, directory = line.partition("\t")
        if name and directory:
            out[name] = directory
    return out


def record(name: str, directory: str) -> None:
    clusters = {n: d for n, d in known().items() if n != EMBEDDED and d != os.path.abspath(directory)}
    clusters[name] = os.path.abspath(directory)
    _write(os.path.join(config_dir(), "clusters"), "".join(f"{n}\t{d}\n" for n, d in sorted(clusters.items())))


def name_of(directory: str) -> str:
    """The name a cluster directory is known by (its base name otherwise)."""
    directory = os.path.abspath(directory)
    for name, d in known().items():
        if os.path.abspath(d) == directory:
            return name
    return os.path.basename(directory.rstrip("/")) or directory


def lookup(name_or_dir: str) -> str | None:
    """A recorded cluster's directory by name, or a directory holding a cluster."""
    if name_or_dir in known():
        return known()[name_or_dir]
    if os.path.exists(os.path.join(name_or_dir, "cluster.json")):
        return os.path.abspath(name_or_dir)
    return None


# ------------------------------------------------------- running or not
def pids(directory: str) -> dict[str, int]:
    out = {}
    for line in _read(os.path.join(directory, "pids")).splitlines():
        name, _, pid = line.partition(" ")
        if name and pid.isdigit():
            out[name] = int(pid)
    return out


def write_pids(directory: str, running: dict[str, int]) -> None:
    _write(os.path.join(directory, "pids"), "".join(f"{n} {p}\n" for n, p in sorted(running.items())))


def running(directory: str) -> bool:
    """Does any runtime of the cluster in `directory` run?  (Cheap: the
    pid file and kill(pid, 0); a recycled pid is weeded out when the
    client loads the cluster.)"""
    for pid in pids(directory).values():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            return True
        if not _zombie(pid):
            return True
    return False


def _zombie(pid: int) -> bool:
    """A killed runtime whose parent (often a container's init) has not
    reaped it still answers kill(pid, 0)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] in (b"Z", b"X")


# ------------------------------------------------------ attached shells
def attach(directory: str) -> None:
    """Say that this shell uses the cluster (the embedded service stays up
    while one does)."""
    shells = os.path.join(directory, "shells")
    os.makedirs(shells, mode=0o700, exist_ok=True)
    _write(os.path.join(shells, str(os.getpid())), "")


def detach(directory: str) -> None:
    try:
        os.unlink(os.path.join(directory, "shells", str(os.getpid())))
    except FileNotFoundError:
        pass


def attached_shells(directory: str) -> list[int]:
    """The pids of live shells attached to the cluster (stale entries of
    shells that died are removed)."""
    shells = os.path.join(directory, "shells")
    try:
        entries = os.listdir(shells)
    except OSError:
        return []
    live = []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            os.kill(int(entry), 0)
            live.append(int(entry))
        except ProcessLookupError:
            try:
                os.unlink(os.path.join(shells, entry))
            except OSError:
                pass
        except PermissionError:
            live.append(int(entry))
    return live
