"""Planner: decide whether a pipeline runs on the cluster, and describe it.

A pipeline becomes *distributed* when one of its stages has a reason to
run elsewhere: it reads a cluster device (`/dev/sensor/1`), a namespace
path (`/net/...`, `/pipes/...`, or a file the namespace holds), or carries
a pin (`@node`, `@tag=value`).  Everything else stays a plain local
pipeline, and purely local work never contacts (or starts) a cluster.

The planner turns the pipeline into a list of stages with what each needs
(`StageNeeds`); the scheduler kernel agent places them; consecutive stages
on one runtime form a segment joined by OS pipes.  This module is sans-IO:
the caller supplies the cluster facts (`ClusterView`).
"""

from __future__ import annotations

import json
import os
import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from onesh.engine import programstages
from onesh.engine.clusterpaths import NAMESPACE_ROOTS, mentions_cluster, under_namespace_root
from onesh.errors import OneshError
from onesh.kernel.scheduler import StageNeeds
from onesh.parser import ast as A

if TYPE_CHECKING:
    from onesh.engine.interp import Interpreter

# Pure-Python agents every runtime has (python -m onesh.coreutils NAME).
AGENT_TOOLS = frozenset({"cat", "grep", "head", "tail", "wc", "sort", "uniq", "tee", "cut", "tr"})
DEVICE_RE = re.compile(r"^/dev/([A-Za-z][\w-]*)/([\w.-]+)$")


class PlanError(OneshError):
    status = 1


@dataclass
class PlannedStage:
    label: str
    argv: list[str]
    mode: str  # "agent" | "exec" | "shell" | "python" | "node"
    needs: StageNeeds
    stderr_to_stdout: bool = False
    stderr_null: bool = False  # `2>/dev/null`: its errors are thrown away where it runs
    runtime: str = ""
    why: str = ""
    program: programstages.Program | None = None  # for "python" and "node"
    env: dict[str, str] = field(default_factory=dict)  # its prefix assignments (`NAME=v cmd @r2`)
    writes: list[str] = field(default_factory=list)  # the namespace files it writes by name (tee FILE)

    def wire(self, *, ship: bool = False) -> dict[str, Any]:
        """The stage for its stage host.  `ship`: the runtime is on another
        host, so a program file of this host goes with it."""
        out: dict[str, Any] = {"argv": self.argv, "mode": self.mode, "label": self.label,
                               "stderr_to_stdout": self.stderr_to_stdout}
        if self.stderr_null:
            out["stderr_null"] = True
        if self.env:
            out["env"] = self.env
        if self.program is not None:
            out["program"] = self.program.wire()
            if ship and self.program.source == "local":
                from onesh.runtime import bundles

                out["program"]["bundle"] = bundles.read_local(self.program.script_path, self.program.kind)
        return out

    @property
    def context(self) -> str:
        """What the stage runs in, as `plan` shows it."""
        if self.program is not None:
            return self.program.context
        return {"agent": "builtin agent", "exec": "external", "shell": "onesh shell"}.get(self.mode, self.mode)


@dataclass
class Plan:
    stages: list[PlannedStage]
    home: str
    stdin: dict[str, Any] = field(default_factory=lambda: {"kind": "shell"})
    stdout: dict[str, Any] = field(default_factory=lambda: {"kind": "shell"})
    pipes: set[str] = field(default_factory=set)  # named pipes the stages name as arguments

    def segments(self) -> list[tuple[str, list[int]]]:
        """(runtime, stage indexes) for each run of consecutive stages that
        share a runtime."""
        out: list[tuple[str, list[int]]] = []
        for k, st in enumerate(self.stages):
            if out and out[-1][0] == st.runtime:
                out[-1][1].append(k)
            else:
                out.append((st.runtime, [k]))
        return out

    def describe(self) -> str:
        lines = []
        for k, st in enumerate(self.stages):
            lines.append(f"stage {k + 1}: {st.label}\n    on {st.runtime or '?'}: {st.why} [{st.context}]")
            if st.program is not None and st.program.source == "namespace":
                lines.append(f"    program {st.program.script_path}: from the namespace, with the modules beside it")
        segs = self.segments()
        for k in range(len(segs) - 1):
            a, b = segs[k], segs[k + 1]
            lines.append(f"pipe {a[1][-1] + 1}→{b[1][0] + 1}: network pipe {a[0]} → {b[0]}")
        for rt, idx in segs:
            if len(idx) > 1:
                lines.append(f"pipes {'→'.join(str(i + 1) for i in idx)}: OS pipes on {rt}")
        if self.stdin.get("kind") == "file":
            what = "named pipe, via pubsub" if self.stdin.get("pipe") else "namespace"
            lines.append(f"stdin: {self.stdin['path']} ({what})")
        if self.stdout.get("kind") == "topic":
            lines.append(f"stdout: {self.stdout['path']} (named pipe: every reader, via pubsub)")
        elif self.stdout.get("kind") == "file":
            mode = "append to" if self.stdout.get("append") else "write"
            lines.append(f"stdout: {mode} {self.stdout['path']} (namespace, replicated)")
        elif self.stdout.get("kind") == "null":
            lines.append(f"stdout: thrown away ({os.devnull}, where the last stage runs)")
        else:
            lines.append("stdout: this shell")
        return "\n".join(lines) + "\n"


def _host_device(path: str) -> bool:
    """A path under /dev that this host has and that is no directory (a
    tty, /dev/stderr, /dev/fd/N): not something the namespace may hold."""
    return path.startswith("/dev/") and os.path.exists(path) and not os.path.isdir(path)


class ClusterView:
    """What the planner needs to know about the cluster (filled by the driver)."""

    def __init__(self, members: dict[str, dict[str, Any]], home: str) -> None:
        self.members = members
        self.home = home
        self.devices: dict[str, str] = {}  # "/dev/sensor/1" -> runtime
        for name, m in members.items():
            for key in m.get("devices", {}):
                kind, _, n = str(key).partition(":")
                self.devices[f"/dev/{kind}/{n}"] = name


def _safe(cmd: A.Command) -> bool:
    from onesh.engine.spawn import _safe_part

    if not isinstance(cmd, A.SimpleCommand):
        return False
    words = [*cmd.words, *(r.target for r in cmd.redirs if r.heredoc is None),
             *(a.value for a in cmd.assigns if a.value is not None)]
    return all(_safe_part(p) for w in words for p in w.parts)


def path_args(argv: list[str]) -> list[str]:
    """Arguments that may name files (after the command name, not options)."""
    out, opts = [], True
    for a in argv[1:]:
        if opts and a == "--":
            opts = False
            continue
        if opts and a.startswith("-") and a != "-":
            continue
        if a and a != "-":
            out.append(a)
    return out


def tee_writes(argv: list[str], cwd: str) -> list[str]:
    """The FILEs a `tee` stage on the cluster writes into the namespace
    (absolute; a device, a named pipe, a runtime's own files are not)."""
    if not argv or argv[0] != "tee":
        return []
    from onesh.coreutils.tee import in_namespace, outputs

    got = outputs(argv)
    return [] if got is None else [p for p in (absolute(a, cwd) for a in got[0] if a != "-") if in_namespace(p)]


def absolute(path: str, cwd: str) -> str:
    return os.path.normpath(path if path.startswith("/") else os.path.join(cwd, path))


@dataclass
class Draft:
    """A pipeline expanded once, before the cluster was asked anything."""

    pl: A.Pipeline
    argvs: list[list[str] | None]  # None: a compound stage
    labels: list[str]
    redirs: list[list[tuple[str, int | None, str]]]  # (op, fd, target)
    envs: list[dict[str, str]] = field(default_factory=list)  # prefix assignments (`NAME=v cmd`): its environment
    candidates: list[str] = field(default_factory=list)  # absolute paths to look up in the namespace


def draft(interp: Interpreter, pl: A.Pipeline, *, attached: bool) -> Draft | None:
    """Expand the pipeline's words if it may be distributed; None if it is
    certainly local.  Words are expanded here only when that has no side
    effects or when the pipeline is certainly distributed (then the local
    path never expands them again)."""
    from onesh.builtins.registry import BUILTINS

    certain = mentions_cluster(pl, interp.source_text)
    if not certain and not attached:
        return None
    pinned = any(isinstance(c, A.SimpleCommand) and c.pin is not None for c in pl.commands)
    if not pinned and not all(_safe(c) for c in pl.commands):
        # Expanding here and again locally must be harmless; only a pin
        # makes the pipeline certainly remote.
        return None
    cwd = interp.state.get("PWD") or os.getcwd()
    d = Draft(pl, [], [], [])
    for cmd in pl.commands:
        src = interp.source
        label = src.text[cmd.span.start:cmd.span.end] if src is not None else "?"
        d.labels.append(label)
        if not isinstance(cmd, A.SimpleCommand):
            d.argvs.append(None)
            d.redirs.append([])
            d.envs.append({})
            continue
        argv = interp.expander.words(cmd.words) if cmd.words else []
        if not certain and (not argv or argv[0] in BUILTINS or argv[0] in interp.state.functions):
            return None  # shell code reading namespace files runs here, not remotely
        d.argvs.append(argv)
        # (as for a local command: the value is expanded, the name goes
        # into that command's environment only)
        d.envs.append({a.name: interp.expander.single(a.value) if a.value else "" for a in cmd.assigns
                       if a.index is None and a.array is None})
        rs: list[tuple[str, int | None, str]] = []
        for r in cmd.redirs:
            if r.heredoc is not None:
                raise PlanError(f"{label}: here-documents are not supported in a distributed pipeline yet",
                                r.span)
            rs.append((r.op, r.fd, interp.expand_redir_target(r.target)))
        d.redirs.append(rs)
        if argv and argv[0] not in ("echo", "printf"):
            d.candidates += [absolute(p, cwd) for p in path_args(argv) if not DEVICE_RE.match(p)]
        if argv and os.path.splitext(argv[0])[1] in programstages.SUFFIXES:
            d.candidates.append(absolute(argv[0], cwd))  # `./tool.py`: maybe a program the namespace holds
        targets = [(op, absolute(t, cwd)) for op, _, t in rs]
        d.candidates += [full for op, full in targets if op in ("<", ">>") or full.startswith(NAMESPACE_ROOTS)]
    # The union rule: a name this host has is the host's (the namespace
    # never hides a host file), so only the others are looked up; with
    # none left, the pipeline is the host's and costs no round trip.
    d.candidates = [p for p in d.candidates if under_namespace_root(p) or not os.path.lexists(p)]
    if not certain and not pinned and not d.candidates:
        return None
    return d


def build(interp: Interpreter, d: Draft, view: ClusterView, ns_files: dict[str, list[str]],
          ns_pipes: frozenset[str] = frozenset()) -> Plan | None:
    """The stage list with each stage's needs; None when nothing in it
    needs the cluster after all.  `ns_files`: absolute path → replica
    runtimes, for the candidate paths the namespace holds; `ns_pipes`: the
    candidates that are named pipes."""
    from onesh.builtins.registry import BUILTINS

    cwd = interp.state.get("PWD") or os.getcwd()
    stages: list[PlannedStage] = []
    plan = Plan(stages, view.home)
    # Only a real reason makes the pipeline distributed: a pin, or a stage
    # that reads a device or namespace file.  (Merely mentioning a cluster
    # path, as in `echo /dev/sensor/1` or `plan '...'`, is not one.)
    distributed = False
    n = len(d.pl.commands)
    for k, cmd in enumerate(d.pl.commands):
        argv = d.argvs[k]
        label = d.labels[k]
        stderr_too = k < len(d.pl.stderr_too) and d.pl.stderr_too[k]
        if argv is None:
            stages.append(PlannedStage(label, [label], "shell", StageNeeds(label), stderr_too))
            continue
        assert isinstance(cmd, A.SimpleCommand)
        if not argv:
            raise PlanError(f"{label}: an assignment cannot be a stage of a distributed pipeline", cmd.span)
        needs = StageNeeds(label)
        shell_code = argv[0] in BUILTINS or argv[0] in interp.state.functions
        prog = None
        if not shell_code and argv[0] not in AGENT_TOOLS:
            prog = programstages.recognize(argv, lambda p: programstages.read_local_head(p, cwd))
        if cmd.pin:
            distributed = True
            key, eq, val = cmd.pin.partition("=")
            if eq:
                needs.pin_tag = (key, val)
            else:
                needs.pin_node = key
        # (a program's own file is not data: its arguments are)
        writes = tee_writes(argv, cwd)
        for a in [] if shell_code else path_args(argv if prog is None else [argv[0], *prog.args]):
            full = absolute(a, cwd)
            if full in writes:
                distributed = distributed or full in ns_files  # (only the cluster writes it)
                continue
            m = DEVICE_RE.match(a)
            if m:
                owner = view.devices.get(a)
                if owner is None:
                    if os.path.exists(a):
                        continue  # a real local device, e.g. /dev/null
                    raise PlanError(f"{a}: no such device in the cluster (see `ls /dev/{m.group(1)}`)", cmd.span)
                needs.devices.append((a, owner))
                distributed = True
            elif full in ns_files:
                needs.files.append((full, ns_files[full]))
                distributed = True
            elif full in ns_pipes:
                needs.files.append((full, []))  # opened where the stage lands
                plan.pipes.add(full)
                distributed = True
            elif a.startswith(NAMESPACE_ROOTS):
                raise PlanError(f"{a}: no such file in the cluster namespace", cmd.span)
        name = argv[0]
        if name in AGENT_TOOLS:
            mode, run_argv = "agent", argv
        elif name in interp.state.functions or name in BUILTINS:
            # Shell code runs under onesh on the runtime, with words already
            # expanded here (functions are not shipped: they must be builtins).
            if name in interp.state.functions:
                raise PlanError(f"{name}: shell functions cannot run on another runtime yet", cmd.span)
            mode, run_argv = "shell", [shlex.join(argv)]
        elif prog is not None:
            mode, run_argv = prog.kind, argv
            needs.interpreter = prog.interpreter
            if prog.script is not None:
                prog.script_path = absolute(prog.script, cwd)
                if prog.script_path in ns_files:
                    prog.source = "namespace"  # fetched by the runtime that runs it
                    distributed = True
                elif os.path.isfile(prog.script_path):
                    prog.source = "local"  # shipped when the runtime is on another host
        else:
            mode, run_argv = "exec", argv
            needs.command = name
        env = d.envs[k]
        if writes:
            env = {**env, "ONESH_NS_OUTPUTS": json.dumps(writes)}  # (runtime/nsresolver.write)
        st = PlannedStage(label, run_argv, mode, needs, stderr_too, program=prog, env=env, writes=writes)
        for op, fd, target in d.redirs[k]:
            path = absolute(target, cwd)
            if op == ">&" and fd == 2 and target == "1":
                st.stderr_to_stdout, st.stderr_null = True, False  # (the last of the two wins, as in bash)
            elif op in (">", ">>", ">|") and fd == 2 and path == os.devnull:
                st.stderr_null, st.stderr_to_stdout = True, False
            elif op in (">", ">>", ">|") and fd in (None, 1) and k == n - 1 and path in (os.devnull, "/dev/stdout"):
                # A device of every host, not a namespace file: thrown
                # away where the stage runs, or this shell's stdout.
                plan.stdout = {"kind": "null"} if path == os.devnull else {"kind": "shell"}
            elif op in (">", ">>", ">|") and fd in (None, 1) and k == n - 1 and _host_device(path):
                raise PlanError(f"{target}: a device of this host cannot take the output of a distributed "
                                f"pipeline (only {os.devnull} and /dev/stdout can)", cmd.span)
            elif op == "<" and fd in (None, 0) and k == 0:
                if path in ns_pipes:
                    plan.stdin = {"kind": "file", "path": path, "pipe": True}
                    distributed = True
                elif path in ns_files:
                    plan.stdin = {"kind": "file", "path": path}
                    needs.files.append((path, ns_files[path]))
                    distributed = True
                else:
                    plan.stdin = {"kind": "local", "path": path}
            elif op in (">", ">>", ">|") and fd in (None, 1) and k == n - 1:
                if path in ns_pipes:
                    plan.stdout = {"kind": "topic", "path": path}
                    distributed = True  # only the cluster can write into a named pipe
                elif path.startswith("/pipes/"):
                    raise PlanError(f"{target}: no such named pipe (create it with `mkfifo {target}`)",
                                    cmd.span)
                else:
                    plan.stdout = {"kind": "file", "path": path, "append": op == ">>"}
            else:
                raise PlanError(f"{label}: redirection {op}{target} is not supported in a distributed "
                                "pipeline (only < on the first stage, > and >> on the last, 2>&1)", cmd.span)
        stages.append(st)
    if not distributed:
        return None
    if plan.stdout.get("kind") == "file" and plan.stdout["path"] in ns_files and not plan.stdout["append"]:
        pass  # overwritten in place, in the namespace
    return plan

