"""File commands on the cluster namespace: ls, mkdir, rm, mv, cp, stat, mkfifo.

When one of these commands names a namespace path — under a namespace root
(`/dev/<kind>` for cluster devices, `/net`, `/pipes`) or, with a cluster
attached, a path the namespace holds — the shell does it against the fs
and storage kernel agents; otherwise the system command runs as usual.
`cp` also copies between the namespace and the local disk (both ways).
"""

from __future__ import annotations

import os
import stat as statmod
import time
from typing import TYPE_CHECKING, Any

from onesh.aio import run_sync
from onesh.engine import planner
from onesh.engine.clusterpaths import in_namespace_dir, mentions_cluster, under_namespace_root
from onesh.parser import ast as A
from onesh.union import namespace_only, new_name_in_namespace

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter
    from onesh.engine.shellcluster import ShellCluster

NS_COMMANDS = frozenset({"ls", "mkdir", "rm", "mv", "cp", "stat", "mkfifo"})


def candidate(interp: Interpreter, pl: A.Pipeline) -> list[str] | None:
    """The expanded argv when `pl` is a single namespace file command."""
    if len(pl.commands) != 1:
        return None
    cmd = pl.commands[0]
    if not isinstance(cmd, A.SimpleCommand) or cmd.redirs or cmd.pin is not None or not cmd.words:
        return None
    first = cmd.words[0].parts
    if len(first) != 1 or not isinstance(first[0], A.Lit) or first[0].text not in NS_COMMANDS:
        return None
    if first[0].text in interp.state.functions:
        return None
    certain = mentions_cluster(pl, interp.source_text) or in_namespace_dir(interp) or any(
        under_namespace_root(interp.source_text(w)) for w in cmd.words[1:])
    if not certain and not interp.cluster_attached():
        return None
    if not certain and not all(
            planner._safe(c) for c in pl.commands):  # expanding twice must be harmless
        return None
    return interp.expander.words(cmd.words)


def run(interp: Interpreter, argv: list[str]) -> int | None:
    """Status, or None when no argument is a namespace path (run it locally)."""
    assert interp.cluster is not None
    paths = [planner.absolute(a, _cwd(interp)) for a in planner.path_args(argv)]
    if on_host(interp, argv[0], paths):
        return None
    client = interp.cluster() if (interp.cluster_attached() or in_namespace_dir(interp) or any(
        under_namespace_root(p) for p in paths)) else None
    if client is None:
        return None

    from onesh.engine.shellcluster import ShellCluster

    async def go() -> int | None:
        async with ShellCluster(client.boot, client.secret) as sc:
            return await NamespaceCommand(interp, sc, argv).run()

    return run_sync(go())


def on_host(interp: Interpreter, name: str, paths: list[str]) -> bool:
    """Is this certainly the host's business (no round trip)?  Every path
    named exists on this host (the namespace never hides a host file), and
    it is not `ls` of a directory or `stat`, which also show the
    namespace's side of a name both have (the union view)."""
    if in_namespace_dir(interp) or any(under_namespace_root(p) for p in paths):
        return False
    if name == "ls":
        return all(os.path.lexists(p) and not os.path.isdir(p) for p in paths) and bool(paths)
    if name == "stat":
        return False
    return bool(paths) and all(os.path.lexists(p) for p in paths)


def _cwd(interp: Interpreter) -> str:
    return interp.state.get("PWD") or os.getcwd()


def is_namespace_dir(interp: Interpreter, path: str) -> bool:
    assert interp.cluster is not None
    client = interp.cluster()

    from onesh.engine.shellcluster import ShellCluster

    async def go() -> bool:
        async with ShellCluster(client.boot, client.secret) as sc:
            try:
                entry = await sc.ns().stat(path)
            except OSError:
                return False
            return bool(entry) and entry.get("kind") == "dir"

    return run_sync(go())


class NamespaceCommand:
    def __init__(self, interp: Interpreter, sc: ShellCluster, argv: list[str]) -> None:
        self.interp = interp
        self.sc = sc
        self.argv = argv
        self.name = argv[0]
        self.opts = {c for a in argv[1:] if a.startswith("-") and a != "-" for c in a[1:]}
        self.paths = [planner.absolute(a, _cwd(interp)) for a in planner.path_args(argv)]
        if not self.paths and self.name == "ls":
            self.paths = [_cwd(interp)]  # (after `cd /net/r2`, or a directory both have)
        self.status = 0

    def out(self, text: str) -> None:
        os.write(1, text.encode("utf-8", "surrogateescape"))

    def err(self, text: str) -> None:
        self.interp.write_err(f"{self.name}: {text}\n")
        self.status = 1

    async def in_ns(self, path: str) -> dict[str, Any] | None:
        """The namespace entry at `path`; None when the namespace has none.
        When the cluster cannot answer, OSError for a path only the
        namespace can have (under a namespace root, or neither it nor its
        directory on this host), None (the local one, if any) for others."""
        try:
            entry: dict[str, Any] | None = await self.sc.ns().stat(path)
        except FileNotFoundError:
            return None
        except OSError:
            if under_namespace_root(path) or in_namespace_dir(self.interp) or namespace_only(path):
                raise
            return None
        return entry

    async def run(self) -> int | None:
        entries: dict[str, dict[str, Any] | None] = {}
        for p in self.paths:
            try:
                entries[p] = await self.in_ns(p)
            except OSError as e:
                self.err(f"{p}: {_why(e)}")
                return self.status
        ns_paths = {p for p, e in entries.items() if e is not None or under_namespace_root(p)}
        # A name being made (cp's or mv's target, mkdir, mkfifo) that neither
        # side has goes where its directory is: the host's if the host has
        # it, else the namespace's (onesh.union).
        made = self.paths[-1:] if self.name in ("cp", "mv") else self.paths if self.name in ("mkdir", "mkfifo") else []
        ns_paths |= {p for p in made if entries.get(p) is None and not os.path.lexists(p)
                     and not os.path.isdir(os.path.dirname(p.rstrip("/")) or "/")}
        if not ns_paths:
            return None
        if self.name == "ls" and any(_host_dir(p) for p in ns_paths):
            return await self.union_ls(entries)
        if self.name == "cp":
            return await self.cp(entries)
        if len(ns_paths) != len(self.paths) and self.name in ("mv", "ls", "stat", "rm"):
            pass  # the local ones are reported missing below, like ls does for a bad name
        fn = getattr(self, "do_" + self.name)
        for p in self.paths:
            try:
                await fn(p, entries.get(p))
            except Exception as e:  # noqa: BLE001 - one message per path, like coreutils
                self.err(f"{p}: {_why(e)}")
        return self.status

    async def do_ls(self, path: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            raise FileNotFoundError("No such file or directory")
        rows = await self.sc.ns().listdir(path) if entry.get("kind") == "dir" else [dict(entry, name=path)]
        if len(self.paths) > 1 and entry.get("kind") == "dir":
            self.out(f"{path}:\n")
        for r in sorted(rows, key=lambda r: str(r.get("name"))):
            name = os.path.basename(str(r.get("name") or r.get("path") or "")) or str(r.get("name"))
            if "a" not in self.opts and name.startswith("."):
                continue
            if "l" in self.opts:
                self.out(_long(r, name))
            else:
                self.out(name + "\n")

    async def union_ls(self, entries: dict[str, dict[str, Any] | None]) -> int:
        """`ls` of a directory both this host and the namespace have: both
        listings as one, a name in both shown once (`ls -l` says where
        each is: `host`, a runtime, or `both`)."""
        for n, path in enumerate(self.paths):
            entry = entries.get(path)
            rows: dict[str, dict[str, Any]] = {}
            if entry is not None and entry.get("kind") == "dir":
                for r in await self.sc.ns().listdir(path):
                    name = os.path.basename(str(r.get("name") or r.get("path") or "")) or str(r.get("name"))
                    rows[name] = dict(r, where=str(r.get("owner") or r.get("runtime") or "-"))
            if _host_dir(path):
                try:
                    names = os.listdir(path)
                except OSError as e:
                    self.err(f"cannot open directory '{path}': {_why(e)}")
                    continue
                for name in names:
                    host = _host_row(os.path.join(path, name))
                    rows[name] = dict(host, where="both") if name in rows else host
            elif entry is None:
                self.err(f"cannot access '{path}': No such file or directory")
                continue
            if len(self.paths) > 1:
                self.out(("\n" if n else "") + f"{path}:\n")
            for name in sorted(rows):
                if "a" not in self.opts and name.startswith("."):
                    continue
                self.out(_long(dict(rows[name], owner=rows[name]["where"]), name) if "l" in self.opts
                         else name + "\n")
        return self.status

    async def do_stat(self, path: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            raise FileNotFoundError("No such file or directory")
        self.out(f"  File: {path}\n  Kind: {entry.get('kind')}  Size: {entry.get('size', 0)}\n")
        if os.path.lexists(path):
            host = _host_row(path)
            self.out(f" Where: the cluster namespace, and this host too (a {host['kind']} of "
                     f"{host['size']} bytes here: `/net/<runtime>{path}` names one side alone)\n")
        else:
            self.out(" Where: the cluster namespace\n")
        from onesh.engine.shellcluster import replicas_of

        owner = entry.get("owner") or entry.get("runtime") or "-"
        self.out(f" Owner: {owner}  Replicas: {','.join(replicas_of(entry)) or '-'}\n")
        if entry.get("mtime"):
            self.out(f"Modify: {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(float(entry['mtime'])))}\n")
        if entry.get("spec"):
            self.out(f"Driver: {entry['spec']}\n")
        if entry.get("kind") == "pipe":
            topics = (await self.sc.ns().agent("pubsub", "pubsub.topics", {}, patience=3.0)).get("topics", [])
            t: dict[str, Any] = next((t for t in topics if t.get("topic") == path), {})
            self.out(f"Writers: {t.get('publishers', 0)}  Readers: {t.get('subscribers', 0)}\n")

    async def do_mkfifo(self, path: str, entry: dict[str, Any] | None) -> None:
        """A named pipe in the namespace: readers and writers on any runtime
        meet through the pubsub agent (onesh.runtime.namedpipes)."""
        if entry is not None:
            raise FileExistsError("File exists")
        await self.sc.ns().mknod(path, "pipe")

    async def do_mkdir(self, path: str, entry: dict[str, Any] | None) -> None:
        await self.sc.ns().mkdir(path, parents="p" in self.opts)

    async def do_rm(self, path: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            if "f" in self.opts:
                return
            raise FileNotFoundError("No such file or directory")
        if entry.get("kind") == "dir" and not ({"r", "R"} & self.opts):
            raise IsADirectoryError("Is a directory")
        await self.sc.ns().rm(path, recursive=bool({"r", "R"} & self.opts))

    async def do_mv(self, path: str, entry: dict[str, Any] | None) -> None:
        if path == self.paths[-1]:
            return
        if len(self.paths) < 2:
            raise ValueError("missing destination file operand")
        dst = self.paths[-1]
        target = await self.in_ns(dst)
        if target is not None and target.get("kind") == "dir":
            dst = os.path.join(dst, os.path.basename(path))
        await self.sc.ns().mv(path, dst)

    async def cp(self, entries: dict[str, dict[str, Any] | None]) -> int:
        if len(self.paths) < 2:
            self.err("missing destination file operand")
            return 1
        *srcs, dst = self.paths
        dst_entry = entries.get(dst)
        dst_ns = under_namespace_root(dst) or new_name_in_namespace(dst_entry is not None,
                                                                    os.path.isdir(os.path.dirname(dst)))
        for src in srcs:
            target = dst
            src_entry = entries.get(src)
            try:
                if (dst_ns and dst_entry is not None and dst_entry.get("kind") == "dir") or (not dst_ns and os.path.isdir(dst)):
                    target = os.path.join(dst, os.path.basename(src))
                if src_entry is not None and dst_ns:
                    await self.sc.ns().cp(src, target)
                elif src_entry is not None:
                    await self.download(src, target)
                elif dst_ns:
                    await self.upload(src, target)
                else:
                    self.err(f"{src}: No such file or directory")
            except NotWritten as e:
                self.err(f"{e.target}: {_why(e.cause)}")
            except Exception as e:  # noqa: BLE001 - reported per file
                self.err(f"{src}: {_why(e)}")
        return self.status

    async def download(self, src: str, dst: str) -> None:
        from onesh.progress import progress

        entry = await self.in_ns(src)
        size = int(entry.get("size") or 0) if entry else None
        with open(dst, "wb") as f, progress(f"cp {src} → {dst}", size) as advance:
            async for chunk in self.sc.ns().read(src):
                f.write(chunk)
                advance(len(chunk))

    async def upload(self, src: str, dst: str) -> None:
        from onesh.progress import progress

        with open(src, "rb") as f, progress(f"cp {src} → {dst}", os.fstat(f.fileno()).st_size) as advance:
            try:
                async with self.sc.ns().writer(dst) as w:
                    while chunk := f.read(1 << 20):
                        await w.write(chunk)
                        advance(len(chunk))
            except OSError as e:
                # (the source opened fine: what failed is the copy, named by its target)
                raise NotWritten(dst, e) from None


class NotWritten(Exception):
    """A namespace file that could not be written (the cluster could not
    store or commit it: cut off from its majority, say)."""

    def __init__(self, target: str, cause: OSError) -> None:
        super().__init__(target, cause)
        self.target, self.cause = target, cause


def _host_dir(path: str) -> bool:
    return not under_namespace_root(path) and os.path.isdir(path)


def _host_row(path: str) -> dict[str, Any]:
    """A host file as a namespace listing row (for a union listing)."""
    try:
        st = os.lstat(path)
    except OSError:
        return {"kind": "file", "size": 0, "mode": 0, "where": "host"}
    kind = ("dir" if statmod.S_ISDIR(st.st_mode) else "device" if statmod.S_ISCHR(st.st_mode)
            else "pipe" if statmod.S_ISFIFO(st.st_mode) else "socket" if statmod.S_ISSOCK(st.st_mode) else "file")
    return {"kind": kind, "size": st.st_size, "mode": statmod.S_IMODE(st.st_mode), "mtime": st.st_mtime,
            "where": "host"}


def _long(r: dict[str, Any], name: str) -> str:
    kind = str(r.get("kind", "file"))
    letter = {"dir": "d", "device": "c", "pipe": "p", "socket": "s"}.get(kind, "-")
    mode = int(r.get("mode", 0o755 if kind == "dir" else 0o644))
    perms = statmod.filemode(mode)[1:]
    owner = str(r.get("owner") or r.get("runtime") or "-")
    mtime = float(r.get("mtime") or 0)
    when = time.strftime("%b %e %H:%M", time.localtime(mtime)) if mtime else "-"
    return f"{letter}{perms} {owner:<6} {int(r.get('size', 0) or 0):>10} {when} {name}\n"


def _why(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(e) or type(e).__name__
