"""The six steps of `onesh bootstrap`, and `--remove`, over one SSH connection.

    1 check python   a Python >= 3.11 with venv on the device; it can reach the cluster
    2 ship wheels    onesh + dependencies over SFTP (what is already there is skipped)
    3 install        stop a previous runtime; venv in ~/.onesh/venv; pip --no-index
    4 write secret   ~/.onesh/secret, mode 0600
    5 start runtime  `onesh runtime --join ...`, detached, std streams to its log
    6 join cluster   wait until membership lists it alive

Everything lives in ~/.onesh on the device, so running it again upgrades
in place and `--remove` (stop, leave, delete ~/.onesh) leaves nothing.
Every failure is a StepError naming its step; a step never leaves the
device worse than a re-run can repair.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncssh

from onesh.errors import OneshError
from onesh.runtime.bootstrap import wheels
from onesh.runtime.bootstrap.progress import Progress, size
from onesh.runtime.bootstrap.ssh import Confirm, connect
from onesh.runtime.bootstrap.target import Resolved

STEPS = ("check python", "ship wheels", "install", "write secret", "start runtime", "join cluster")
REMOVE_STEPS = ("stop runtime", "leave cluster", "delete ~/.onesh")
PYTHONS = ("python3.13", "python3.12", "python3.11", "python3")
MIN_PYTHON = (3, 11)

# Runs on the device with its Python: can it open a TCP connection to a
# name server?  (A device on the wrong side of a firewall fails here,
# before anything is installed.)
REACH = """import json, socket, sys
ok = 0
for h, p in json.loads(sys.argv[1]):
    try:
        socket.create_connection((h, p), 3).close()
        ok += 1
    except OSError as e:
        sys.stderr.write('%s:%s: %s\\n' % (h, p, e.strerror or e))
sys.exit(0 if ok else 1)
"""


class BootstrapError(OneshError):
    status = 1


class StepError(BootstrapError):
    def __init__(self, device: str, index: int, total: tuple[str, ...], message: str) -> None:
        super().__init__(f"{device}: step {index}/{len(total)} ({total[index - 1]}) failed: {message}")


@dataclass(frozen=True)
class ClusterRef:
    """The cluster a device joins: its name servers and the secret file."""

    boot: list[str]
    secret: str


@dataclass
class Options:
    name: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    python: str | None = None
    accept_new: bool = False
    listen: str | None = None  # the address the device's runtime listens on
    dial_out: bool = False  # the cluster cannot connect to the device: its runtime dials out
    wait: float = 60.0


@dataclass
class Result:
    name: str
    endpoint: str
    seconds: float


def default_name(alias: str) -> str:
    if alias.replace(".", "").isdigit() or ":" in alias:
        return "dev-" + alias.replace(".", "-").replace(":", "-")
    return alias.split(".")[0]


class Session:
    """A connected device and the step being run on it."""

    def __init__(self, dev: Resolved, conn: asyncssh.SSHClientConnection, progress: Progress,
                 steps: tuple[str, ...]) -> None:
        self.dev = dev
        self.conn = conn
        self.progress = progress
        self.steps = steps
        self.index = 0
        self.home = ""

    @property
    def base(self) -> str:
        return posixpath.join(self.home, ".onesh")

    def begin(self, index: int) -> None:
        self.index = index
        self.progress.start(index, len(self.steps), self.steps[index - 1])

    def fail(self, message: str) -> StepError:
        return StepError(self.dev.alias, self.index, self.steps, message)

    async def sh(self, script: str, what: str, *, check: bool = True,
                 timeout: float = 600.0) -> asyncssh.SSHCompletedProcess:
        """Run a POSIX sh script on the device (through `sh -c`: the login
        shell may be fish or csh)."""
        try:
            r = await self.conn.run(f"sh -c {shlex.quote(script)}", check=False, timeout=timeout)
        except TimeoutError:
            raise self.fail(f"{what}: no answer from {self.dev.alias} within {timeout:g}s") from None
        except (OSError, asyncssh.Error) as e:
            raise self.fail(f"{what}: connection lost: {e}") from None
        if check and r.exit_status != 0:
            raise self.fail(f"{what} failed on {self.dev.alias} (exit {r.exit_status}): {_tail(r.stderr or r.stdout)}")
        return r


def _tail(text: Any, lines: int = 3) -> str:
    s = text.decode(errors="replace") if isinstance(text, bytes) else str(text or "")
    kept = [line.strip() for line in s.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(kept) or "no output"


async def bootstrap(dev: Resolved, opts: Options, cluster: ClusterRef, display: Callable[[], Progress],
                    confirm: Confirm, notify: Callable[[str], None], cache_dir: str) -> Result:
    """Connect (asking about an unknown host key first), then show the
    progress `display()` makes while the six steps run."""
    t0 = time.monotonic()
    name = opts.name or default_name(dev.alias)
    conn = await connect(dev, accept_new=opts.accept_new, confirm=confirm, notify=notify)
    progress = display()
    try:
        async with conn:
            result = await _steps(dev, conn, opts, cluster, progress, name, cache_dir, t0)
    finally:
        progress.close()
    return result


async def _steps(dev: Resolved, conn: asyncssh.SSHClientConnection, opts: Options, cluster: ClusterRef,
                 progress: Progress, name: str, cache_dir: str, t0: float) -> Result:
    s = Session(dev, conn, progress, STEPS)
    s.begin(1)
    device = await _check_python(s, opts)
    s.home = device.home
    addr = opts.listen or str(conn.get_extra_info("peername")[0])
    await _check_cluster(s, device, cluster, name, addr)
    progress.done(f"{device.describe} ({device.executable})")

    s.begin(2)
    shipped = await _ship(s, device, cache_dir)

    s.begin(3)
    await _stop_runtime(s)
    await _install(s, device, shipped)

    s.begin(4)
    await _write_secret(s, cluster)
    progress.done(f"{posixpath.join('~', '.onesh', 'secret')} (mode 0600)")

    s.begin(5)
    pid = await _start(s, name, addr, cluster, opts)
    progress.done(f"pid {pid}, log ~/.onesh/runtime.log")

    s.begin(6)
    endpoint = await _wait_member(s, cluster, name, pid, opts.wait)
    await _check_reachable(s, cluster, name, endpoint, opts)
    progress.done(f"{name} is a member at {endpoint}" + (" (dialling out)" if opts.dial_out else ""))
    return Result(name, endpoint, time.monotonic() - t0)


# ------------------------------------------------------------- step 1
async def _check_python(s: Session, opts: Options) -> wheels.PythonInfo:
    candidates = [opts.python] if opts.python else list(PYTHONS)
    probe = shlex.quote(wheels.PROBE + "import importlib.util as u; print(u.find_spec('ensurepip') is not None)\n")
    script = "".join(f'command -v {shlex.quote(c)} >/dev/null 2>&1 && {{ printf "%s\\t" {shlex.quote(c)}; '
                     f'{shlex.quote(c)} -c {probe} | tr "\\n" "\\t"; echo; }}\n' for c in candidates) + "true"
    r = await s.sh(script, "probing Python")
    found: list[tuple[str, wheels.PythonInfo, bool]] = []
    for line in str(r.stdout).splitlines():
        cand, _, rest = line.partition("\t")
        fields = [f for f in rest.split("\t") if f]
        if len(fields) >= 2:
            found.append((cand, wheels.PythonInfo.from_json(fields[0]), fields[1] == "True"))
    wanted = opts.python or "python3.11"
    if not found:
        raise s.fail(f"{wanted} not found on {s.dev.alias}: install it or pass --python")
    good = [(c, info, venv) for c, info, venv in found if info.version[:2] >= MIN_PYTHON]
    if not good:
        cand, info, _ = found[0]
        raise s.fail(f"{cand} on {s.dev.alias} is Python {info.short_version}; onesh needs 3.11 or newer: "
                     "install python3.11 or pass --python")
    cand, info, has_venv = good[0]
    if info.system not in ("Linux", "Darwin"):
        raise s.fail(f"{s.dev.alias} runs {info.system}; onesh runtimes run on Linux and macOS")
    if not has_venv:
        raise s.fail(f"{cand} on {s.dev.alias} cannot create virtual environments (no ensurepip): "
                     f"install python{info.short_version}-venv (Debian, Ubuntu) or pass --python")
    return info


async def _check_cluster(s: Session, device: wheels.PythonInfo, cluster: ClusterRef, name: str, addr: str) -> None:
    """Before anything is installed: can the device reach a name server,
    and is the runtime name free?"""
    hosts = {_host_port(b)[0] for b in cluster.boot}
    if hosts <= {"127.0.0.1", "localhost", "::1"} and addr not in ("127.0.0.1", "::1"):
        raise s.fail("the cluster listens on loopback only, which a device cannot reach: start it with "
                     "`onesh cluster up --listen ADDR` (an address of this machine the device can reach)")
    pairs = json.dumps([_host_port(b) for b in cluster.boot])
    r = await s.sh(f"{shlex.quote(device.executable)} -c {shlex.quote(REACH)} {shlex.quote(pairs)}",
                   "reaching the cluster", check=False)
    if r.exit_status != 0:
        raise s.fail(f"{s.dev.alias} cannot reach the cluster ({', '.join(cluster.boot)}): {_tail(r.stderr)}")
    snap = await _status(s, cluster)
    member = snap.get("members", {}).get(name)
    # (a dial-out runtime's endpoint is its relay's: its own address is "listen")
    where = str(member.get("listen") or member.get("endpoint", "")) if member else ""
    if member and member.get("alive") and _host_port(where)[0] != addr:
        raise s.fail(f"a runtime named {name} already runs at {member.get('endpoint')}: choose another --name")


def _host_port(endpoint: str) -> tuple[str, int]:
    hostport = endpoint.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    return host.strip("[]"), int(port) if port.isascii() and port.isdigit() else 0


async def _status(s: Session, cluster: ClusterRef) -> dict[str, Any]:
    from onesh.runtime.client import ClusterClient
    from onesh.runtime.localcluster import ClusterError

    try:
        return await asyncio.to_thread(ClusterClient(cluster.boot, cluster.secret).status)
    except ClusterError as e:
        raise s.fail(f"the cluster does not answer: {e.message}") from None


# ------------------------------------------------------------- step 2
async def _ship(s: Session, device: wheels.PythonInfo, cache_dir: str) -> list[wheels.Wheel]:
    try:
        shipped = await asyncio.to_thread(wheels.collect, device, cache_dir)
    except wheels.WheelError as e:
        raise s.fail(e.message) from None
    folder = posixpath.join(s.base, "wheels")
    t0 = time.monotonic()
    try:
        async with s.conn.start_sftp_client() as sftp:
            for d in (s.base, folder):
                if not await sftp.isdir(d):
                    await sftp.mkdir(d, asyncssh.SFTPAttrs(permissions=0o700))
                await sftp.chmod(d, 0o700)  # the secret lives here (and umask is the device's)
            sums = await _read_sums(sftp, posixpath.join(folder, "SHA256SUMS"))
            present = {str(e.filename): e.attrs.size for e in await sftp.readdir(folder)}
            todo = [w for w in shipped if sums.get(w.name) != w.sha256 or present.get(w.name) != w.path.stat().st_size]
            total = sum(w.path.stat().st_size for w in todo)
            sent = 0
            for w in todo:
                def moved(_src: bytes, _dst: bytes, done: int, _size: int, base: int = sent) -> None:
                    s.progress.copy(base + done, total)

                part = posixpath.join(folder, w.name + ".part")
                await sftp.put(str(w.path), part, progress_handler=moved)
                await _replace(sftp, part, posixpath.join(folder, w.name))
                sent += w.path.stat().st_size
            s.progress.copy(total, total)
            keep = {w.name for w in shipped}
            for n in present:
                if n.endswith((".whl", ".part")) and n not in keep:
                    await sftp.remove(posixpath.join(folder, n))
            text = "".join(f"{w.sha256}  {w.name}\n" for w in shipped)
            async with sftp.open(posixpath.join(folder, "SHA256SUMS"), "w") as f:
                await f.write(text)
    except asyncssh.SFTPError as e:
        raise s.fail(f"cannot write {folder} on {s.dev.alias}: {e.reason}") from None
    rate = total / max(time.monotonic() - t0, 1e-6)
    skipped = len(shipped) - len(todo)
    if not todo:
        s.progress.done(f"nothing to send: the {skipped} wheels are already there")
    else:
        s.progress.done(f"{size(total)} in {len(todo)} wheels at {size(rate)}/s"
                        + (f", {skipped} already there" if skipped else ""))
    return shipped


async def _read_sums(sftp: asyncssh.SFTPClient, path: str) -> dict[str, str]:
    try:
        async with sftp.open(path, "r") as f:
            text = str(await f.read())
    except asyncssh.SFTPError:
        return {}
    sums: dict[str, str] = {}
    for line in text.splitlines():
        digest, _, name = line.partition("  ")
        if name:
            sums[name] = digest
    return sums


async def _replace(sftp: asyncssh.SFTPClient, src: str, dst: str) -> None:
    try:
        await sftp.posix_rename(src, dst)
    except asyncssh.SFTPOpUnsupported:
        if await sftp.exists(dst):
            await sftp.remove(dst)
        await sftp.rename(src, dst)


# ------------------------------------------------------------- step 3
def _stop_script(base: str) -> str:
    """Stop the runtime named in the pid file (if it is still ours):
    SIGTERM (it leaves the cluster gracefully), then SIGKILL after 10 s."""
    pidfile = shlex.quote(posixpath.join(base, "runtime.pid"))
    return (f"pid=$(cat {pidfile} 2>/dev/null) || exit 0\n"
            '[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || exit 0\n'
            'if [ -r /proc/$pid/cmdline ] && ! tr "\\0" " " </proc/$pid/cmdline | grep -q "onesh runtime"; then exit 0; fi\n'
            'kill -TERM "$pid"; i=0\n'
            'while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done\n'
            'kill -KILL "$pid" 2>/dev/null; echo stopped "$pid"\n')


async def _stop_runtime(s: Session) -> str:
    r = await s.sh(_stop_script(s.base), "stopping the running runtime")
    return str(r.stdout).strip()


async def _install(s: Session, device: wheels.PythonInfo, shipped: list[wheels.Wheel]) -> None:
    venv = posixpath.join(s.base, "venv")
    folder = posixpath.join(s.base, "wheels")
    onesh = shlex.quote(posixpath.join(folder, shipped[0].name))
    py = shlex.quote(posixpath.join(venv, "bin", "python"))
    same = f"import sys; sys.exit(sys.version_info[:2] != {device.version[:2]!r})"
    pip = f"{py} -m pip install --disable-pip-version-check --no-index --find-links {shlex.quote(folder)} -q"
    script = (f"set -e\nif ! {py} -c {shlex.quote(same)} 2>/dev/null; then rm -rf {shlex.quote(venv)}; "
              f"{shlex.quote(device.executable)} -m venv {shlex.quote(venv)}; echo created; fi\n"
              f"{pip} --upgrade --upgrade-strategy eager {onesh}\n"
              f"{pip} --no-deps --force-reinstall {onesh}\n"
              f"{py} -c 'import onesh, zmq, pysyncobj'\n")
    r = await s.sh(script, "creating the venv and installing the wheels")
    verb = "created" if "created" in str(r.stdout) else "upgraded in place"
    s.progress.done(f"~/.onesh/venv {verb}; {len(shipped)} wheels installed with pip --no-index")


# ------------------------------------------------------------- step 4
async def _write_secret(s: Session, cluster: ClusterRef) -> None:
    from onesh.net.keys import load_secret

    secret = load_secret(cluster.secret).hex() + "\n"
    path = posixpath.join(s.base, "secret")
    try:
        async with s.conn.start_sftp_client() as sftp:
            part = path + ".part"
            if await sftp.exists(part):
                await sftp.remove(part)
            async with sftp.open(part, "w", asyncssh.SFTPAttrs(permissions=0o600)) as f:
                await f.write(secret)
            await sftp.chmod(part, 0o600)  # whatever the device's umask did
            await _replace(sftp, part, path)
            mode = (await sftp.stat(path)).permissions
    except asyncssh.SFTPError as e:
        raise s.fail(f"cannot write {path} on {s.dev.alias}: {e.reason}") from None
    if mode is None or mode & 0o077:
        raise s.fail(f"{path} on {s.dev.alias} has mode {mode:o}, not 0600")


# ------------------------------------------------------------- step 5
async def _start(s: Session, name: str, addr: str, cluster: ClusterRef, opts: Options) -> int:
    host = f"[{addr}]" if ":" in addr else addr
    argv = [posixpath.join(s.base, "venv", "bin", "python"), "-m", "onesh", "runtime", "--name", name,
            "--listen", f"tcp://{host}:0", "--data-dir", posixpath.join(s.base, "data"),
            "--secret", posixpath.join(s.base, "secret"), "--join", ",".join(cluster.boot)]
    if opts.tags:
        argv += ["--tags", ",".join(f"{k}={v}" for k, v in opts.tags.items())]
    if opts.dial_out:
        argv.append("--dial-out")
    for spec in opts.devices:
        argv += ["--device", spec]
    detach = [argv[0], "-m", "onesh.runtime.bootstrap.detach", "--log", posixpath.join(s.base, "runtime.log"),
              "--pidfile", posixpath.join(s.base, "runtime.pid"), "--", *argv]
    await _stop_runtime(s)
    record = json.dumps({"name": name, "boot": cluster.boot, "listen": addr, "argv": argv})
    script = (f"cd {shlex.quote(s.base)} && printf '%s\\n' {shlex.quote(record)} > device.json && "
              + " ".join(map(shlex.quote, detach)))
    r = await s.sh(script, "starting the runtime")
    try:
        return int(str(r.stdout).split()[-1])
    except (ValueError, IndexError):
        raise s.fail(f"the detach helper said {_tail(r.stdout)!r}, not a pid") from None


# ------------------------------------------------------------- step 6
async def _wait_member(s: Session, cluster: ClusterRef, name: str, pid: int, wait: float) -> str:
    deadline = time.monotonic() + wait
    last = "no answer yet"
    while True:
        try:
            snap = await _status(s, cluster)
            m = snap.get("members", {}).get(name)
            if m and m.get("alive") and m.get("pid") == pid:
                return str(m.get("endpoint"))
            last = "not a member yet" if not m else f"member, alive={m.get('alive')}, pid={m.get('pid')}"
        except StepError as e:
            last = e.message
        alive = await s.sh(f"kill -0 {pid} 2>/dev/null", "checking the runtime", check=False)
        if alive.exit_status != 0:
            raise s.fail(f"the runtime on {s.dev.alias} exited; ~/.onesh/runtime.log ends: {await _log_tail(s)}")
        if time.monotonic() > deadline:
            raise s.fail(f"{name} did not join within {wait:g}s ({last}); ~/.onesh/runtime.log ends: "
                         f"{await _log_tail(s)}")
        await asyncio.sleep(0.3)


async def _check_reachable(s: Session, cluster: ClusterRef, name: str, endpoint: str, opts: Options) -> None:
    """A member the cluster cannot call would take stages and never start
    them: joining only proves the device can reach the cluster.  Asked
    from here (the cluster's side); a runtime that cannot be reached is
    stopped (it leaves) and the error says what to do."""
    from onesh.runtime.client import ClusterClient
    from onesh.runtime.localcluster import ClusterError

    client = ClusterClient(cluster.boot, cluster.secret)
    problem = ""
    for _ in range(3):
        try:
            await asyncio.to_thread(client.call_endpoint, endpoint, "runtime.info", {}, 2.0)
            return
        except ClusterError as e:
            problem = e.message
    await _stop_runtime(s)
    hint = ("its relay does not answer" if opts.dial_out else
            "a firewall or NAT in the way? bootstrap with --dial-out and it keeps outbound connections instead")
    raise s.fail(f"{name} joined, but the cluster cannot reach its runtime at {endpoint} ({problem}): {hint}; "
                 "the runtime was stopped")


async def _log_tail(s: Session) -> str:
    r = await s.sh(f"tail -n 5 {shlex.quote(posixpath.join(s.base, 'runtime.log'))}", "reading the log", check=False)
    return _tail(r.stdout, 5)


# ------------------------------------------------------------- --remove
async def remove(dev: Resolved, opts: Options, cluster: ClusterRef | None, display: Callable[[], Progress],
                 confirm: Confirm, notify: Callable[[str], None]) -> str:
    """Stop the device's runtime (it leaves gracefully), make sure the
    cluster no longer lists it, delete ~/.onesh.  Returns its name."""
    conn = await connect(dev, accept_new=opts.accept_new, confirm=confirm, notify=notify)
    progress = display()
    try:
        async with conn:
            name = await _remove_steps(dev, conn, opts, cluster, progress)
    finally:
        progress.close()
    return name


async def _remove_steps(dev: Resolved, conn: asyncssh.SSHClientConnection, opts: Options,
                        cluster: ClusterRef | None, progress: Progress) -> str:
    s = Session(dev, conn, progress, REMOVE_STEPS)
    s.begin(1)
    r = await s.sh('printf "%s\\n" "$HOME"; cat "$HOME/.onesh/device.json" 2>/dev/null', "reading ~/.onesh")
    home, _, record = str(r.stdout).partition("\n")
    s.home = home.strip()
    if not record.strip():
        exists = await s.sh(f"test -d {shlex.quote(s.base)}", "looking for ~/.onesh", check=False)
        if exists.exit_status != 0:
            raise s.fail(f"onesh is not installed on {dev.alias} (no ~/.onesh)")
    try:
        name = str(json.loads(record)["name"]) if record.strip() else (opts.name or default_name(dev.alias))
    except (ValueError, KeyError, TypeError):
        name = opts.name or default_name(dev.alias)
    stopped = await _stop_runtime(s)
    progress.done(stopped or "was not running")

    s.begin(2)
    progress.done(await _leave(s, cluster, name) if cluster is not None else "no cluster configured here")

    s.begin(3)
    await s.sh(f"rm -rf {shlex.quote(s.base)}", "deleting ~/.onesh")
    progress.done(f"{s.base} deleted")
    return name


async def _leave(s: Session, cluster: ClusterRef, name: str) -> str:
    """A runtime that stopped gracefully has left; one that could not (it
    was dead, or SIGKILLed) is taken out through a voter."""
    from onesh.runtime.client import ClusterClient
    from onesh.runtime.localcluster import ClusterError

    snap = await _status(s, cluster)
    if name not in snap.get("members", {}):
        return f"{name} left the cluster"
    client = ClusterClient(cluster.boot, cluster.secret)
    try:
        await asyncio.to_thread(client.call, "raft.submit", {"method": "leave", "args": [name]}, 3.0)
    except ClusterError as e:
        raise s.fail(f"could not take {name} out of membership: {e.message}") from None
    return f"{name} taken out of membership"
