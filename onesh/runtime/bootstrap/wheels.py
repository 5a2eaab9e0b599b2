"""The wheels a device installs from: onesh and everything it imports.

Devices are often offline, so the device never asks a package index: this
side brings every wheel.  onesh itself is packed from the running
installation (its package directory and metadata), so a device runs the
very code this shell runs, edits of a development checkout included.  Its
dependencies come the same way — repacked from the installed
distributions, file for file as their RECORD lists them, under the tags of
the wheel they were installed from — when the device's Python can use
them (same interpreter, version and platform, a C library at least as
new); otherwise `pip download` fetches wheels for the device's platform
here.  Both are cached in the user cache directory, one folder per device
platform, so the second device costs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from onesh.errors import OneshError

# Runs on the device (any Python, old ones included, to say what it is).
PROBE = (
    "import json, os, platform, sys, sysconfig\n"
    "libc = platform.libc_ver()\n"
    "print(json.dumps({'version': list(sys.version_info[:3]), 'implementation': sys.implementation.name,"
    " 'platform': sysconfig.get_platform(), 'libc': libc[0], 'libc_version': libc[1],"
    " 'system': platform.system(), 'machine': platform.machine(), 'home': os.path.expanduser('~'),"
    " 'executable': sys.executable}))\n"
)

_DROPPED_METADATA = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # reproducible archives: same files, same bytes


class WheelError(OneshError):
    status = 1


@dataclass(frozen=True)
class PythonInfo:
    """A Python interpreter, as PROBE describes it."""

    version: tuple[int, int, int]
    implementation: str
    platform: str  # sysconfig.get_platform(): linux-x86_64, linux-aarch64, ...
    libc: str  # glibc, musl, or "" where unknown
    libc_version: str
    system: str
    machine: str
    home: str
    executable: str

    @classmethod
    def from_json(cls, text: str) -> PythonInfo:
        try:
            d = json.loads(text)
            v = d["version"]
            return cls((int(v[0]), int(v[1]), int(v[2])), str(d["implementation"]), str(d["platform"]),
                       str(d["libc"]), str(d["libc_version"]), str(d["system"]), str(d["machine"]),
                       str(d["home"]), str(d["executable"]))
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise WheelError(f"unexpected answer from the Python probe: {e}: {text[:200]!r}") from None

    @property
    def short_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def describe(self) -> str:
        libc = f", {self.libc} {self.libc_version}" if self.libc else ""
        return f"{self.implementation} {'.'.join(map(str, self.version))} on {self.system} {self.machine}{libc}"

    @property
    def cache_key(self) -> str:
        impl = {"cpython": "cp", "pypy": "pp"}.get(self.implementation, self.implementation)
        return f"{impl}{self.version[0]}{self.version[1]}-{self.platform}-{self.libc or 'libc'}{self.libc_version}"

    def can_use_wheels_of(self, local: PythonInfo) -> bool:
        """Do the wheels installed for `local` run here?"""
        return (self.implementation == local.implementation and self.version[:2] == local.version[:2]
                and self.platform == local.platform and self.libc == local.libc
                and _vtuple(self.libc_version) >= _vtuple(local.libc_version))


def local_python() -> PythonInfo:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    return PythonInfo.from_json(out)


def _vtuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text))


@dataclass(frozen=True)
class Wheel:
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


def collect(device: PythonInfo, cache_root: str) -> list[Wheel]:
    """onesh's wheel (first) and its dependencies' wheels for `device`."""
    onesh = build_onesh_wheel(Path(cache_root) / "onesh")
    folder = Path(cache_root) / device.cache_key
    folder.mkdir(parents=True, exist_ok=True)
    deps = dependency_closure("onesh")
    # Pure-Python wheels run anywhere (some, like pysyncobj, exist on the
    # index only as source); binary ones only where their tags say.
    same = device.can_use_wheels_of(local_python())
    paths = [repack(d, folder) for d in deps if same or is_pure(d)]
    binary = [f"{_norm(d.metadata['Name'])}=={d.version}" for d in deps if not (same or is_pure(d))]
    if binary:
        paths += download(binary, device, folder)
    return [onesh, *(Wheel(p, _sha256(p)) for p in paths)]


def is_pure(dist: md.Distribution) -> bool:
    tags = [line.split(":", 1)[1].strip() for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")]
    return bool(tags) and all(t.endswith("-none-any") and t.startswith(("py3", "py2.py3")) for t in tags)


def dependency_closure(root: str) -> list[md.Distribution]:
    """The installed distributions `root` needs (markers evaluated here)."""
    from packaging.requirements import InvalidRequirement, Requirement

    seen: dict[str, md.Distribution] = {}
    todo = [root]
    while todo:
        name = todo.pop()
        try:
            dist = seen.get(_norm(name)) or md.distribution(name)
        except md.PackageNotFoundError:
            raise WheelError(f"{name} is needed but not installed here") from None
        for text in dist.requires or []:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            key = _norm(req.name)
            if key in seen or key == _norm(root):
                continue
            try:
                seen[key] = md.distribution(req.name)
            except md.PackageNotFoundError:
                raise WheelError(f"{req.name} (needed by {name}) is not installed here") from None
            todo.append(req.name)
    return [seen[k] for k in sorted(seen)]


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def build_onesh_wheel(folder: Path) -> Wheel:
    """onesh as a py3-none-any wheel, from the package that is running."""
    import onesh

    dist = md.distribution("onesh")
    package = Path(onesh.__file__).parent
    files = [(p, str(Path("onesh") / p.relative_to(package)))
             for p in sorted(package.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    version = dist.version
    info = f"onesh-{version}.dist-info"
    # An egg-info (a source checkout's, found first when onesh runs from
    # its root) has no METADATA but a PKG-INFO of the same format: without
    # its Requires-Dist lines the device's pip would install onesh alone.
    metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    meta = {f"{info}/METADATA": metadata or f"Metadata-Version: 2.1\nName: onesh\nVersion: {version}\n",
            f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: onesh bootstrap\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        meta[f"{info}/entry_points.txt"] = entry_points
    folder.mkdir(parents=True, exist_ok=True)
    return Wheel(*_write_wheel(folder / f"onesh-{version}-py3-none-any.whl", files, meta, info))


def repack(dist: md.Distribution, folder: Path) -> Path:
    """An installed distribution back into the wheel it came from (cached)."""
    name, version = _norm(dist.metadata["Name"]), dist.version
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_meta.splitlines() if line.startswith("Tag:")]
    if not tags:
        raise WheelError(f"{name} {version}: installed without wheel metadata; cannot ship it")
    direct = dist.read_text("direct_url.json")
    if direct and '"editable": true' in direct.replace("'", '"'):
        raise WheelError(f"{name} is an editable install here; install it normally to ship it")
    target = folder / f"{name}-{version}-{_compress_tags(tags)}.whl"
    if target.exists():
        return target
    info = None
    files: list[tuple[Path, str]] = []
    meta: dict[str, str] = {}
    for f in dist.files or []:
        rel = f.as_posix()
        if rel.startswith("..") or f.suffix == ".pyc" or "__pycache__" in f.parts:
            continue  # console scripts (pip writes them again) and byte code
        if f.parts[0].endswith(".dist-info"):
            info = f.parts[0]
            if f.name in _DROPPED_METADATA:
                continue
        source = Path(str(f.locate()))
        if source.is_file():
            files.append((source, rel))
    if info is None or not files:
        raise WheelError(f"{name} {version}: its installed files are not listed (RECORD); cannot ship it")
    _write_wheel(target, files, meta, info)
    return target


def _compress_tags(tags: Iterable[str]) -> str:
    parts: list[list[str]] = [[], [], []]
    for tag in tags:
        for i, p in enumerate(tag.split("-")):
            if p not in parts[i]:
                parts[i].append(p)
    return "-".join(".".join(p) for p in parts)


def _write_wheel(target: Path, files: list[tuple[Path, str]], meta: dict[str, str],
                 info: str) -> tuple[Path, str]:
    """Write atomically; RECORD lists every file with its hash."""
    record: list[str] = []
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            def add(arcname: str, data: bytes, mode: int) -> None:
                zi = zipfile.ZipInfo(arcname, _FIXED_TIME)
                zi.external_attr = (mode & 0o777 | 0o100000) << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, data)
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                record.append(f"{arcname},sha256={digest},{len(data)}")

            for source, arcname in files:
                add(arcname, source.read_bytes(), os.stat(source).st_mode)
            for arcname, text in sorted(meta.items()):
                add(arcname, text.encode(), 0o644)
            record.append(f"{info}/RECORD,,")
            zi = zipfile.ZipInfo(f"{info}/RECORD", _FIXED_TIME)
            zi.external_attr = 0o100644 << 16
            z.writestr(zi, "\n".join(record) + "\n", zipfile.ZIP_DEFLATED)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    return target, _sha256(target)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def platform_tags(device: PythonInfo) -> list[str]:
    """The wheel platform tags a device accepts, best first."""
    system, _, arch = device.platform.partition("-")
    arch = arch.replace("-", "_").replace(".", "_")
    if system != "linux":
        return [device.platform.replace("-", "_").replace(".", "_")]
    ver = _vtuple(device.libc_version) or (0, 0)
    tags: list[str] = []
    if device.libc == "musl":
        tags += [f"musllinux_{ver[0]}_{m}_{arch}" for m in range(ver[1] if len(ver) > 1 else 0, -1, -1)]
    elif device.libc == "glibc":
        tags += [f"manylinux_2_{m}_{arch}" for m in range(ver[1] if len(ver) > 1 else 17, 4, -1)]
        legacy = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
        tags += [f"{name}_{arch}" for name, minor in legacy.items() if len(ver) > 1 and ver[1] >= minor]
    return [*tags, f"linux_{arch}"]


def download(requirements: list[str], device: PythonInfo, folder: Path) -> list[Path]:
    """`pip download` binary wheels for another platform (here, where there
    is a package index; the device never needs one).  The requirements
    are the closure resolved here, pinned: no resolving again."""
    impl = {"cpython": "cp", "pypy": "pp"}.get(device.implementation, device.implementation)
    nodot = f"{device.version[0]}{device.version[1]}"
    argv = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--only-binary=:all:", "--no-deps",
            "-d", str(folder), "--python-version", device.short_version, "--implementation", impl,
            "--abi", f"{impl}{nodot}", "--abi", "abi3", "--abi", "none"]
    for tag in platform_tags(device):
        argv += ["--platform", tag]
    proc = subprocess.run([*argv, *requirements], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip download failed"])[-1]
        raise WheelError(f"no wheels for {device.describe} ({device.cache_key}): {last}")
    saved: list[Path] = []
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*(?:Saved|File was already downloaded)\s+(.+\.whl)\s*$", line)
        if m:
            saved.append(Path(m[1]))
    if not saved:
        raise WheelError(f"pip download for {device.cache_key} reported no wheel")
    return saved
