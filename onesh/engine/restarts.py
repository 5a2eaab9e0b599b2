"""Which segments of a distributed job can go on on another runtime, and
on which one (engine/distributed.Job: recovery, `migrate`, a runtime that
is leaving or overloaded).

`restartable` is what the shell asks of each segment it starts: how it
would go on (a stateless builtin from its reader's checkpoint, a tool
with state from its stored one, a program or several commands from the
start of their input), or not at all.  `successor_runtime` picks where a
lost or leaving segment goes; `roomiest_runtime` where one goes off an
overloaded runtime (room for the CPUs it uses).
"""

from __future__ import annotations

from typing import Any

from onesh.engine import planner

PROGRAMS = ("exec", "python", "node")  # (planner.PlannedStage.mode)


def restartable(stages: list[planner.PlannedStage]) -> str:
    """Can this segment be restarted elsewhere mid-stream, exactly once?
    "stateless": one stateless builtin agent that reads its input pipe and
    nothing else; "stateful": one whose state is checkpointed (wc, sort...);
    "program": one program (Python, Node, native), or several commands,
    reading the input pipe and nothing else: it runs again from the start
    of its input, at least once (exactly once when deterministic:
    runtime/programreplay.py);
    "" otherwise (coreutils.restart)."""
    from onesh.coreutils.restart import checkpointed
    from onesh.coreutils.restart import restartable as tool_restartable

    if any(st.stderr_to_stdout or st.needs.devices or st.needs.files or not tee_restarts(st, len(stages) == 1)
           for st in stages):
        return ""
    if len(stages) > 1:
        return "program"  # (the segment runs again from the start: programreplay.py)
    st = stages[0]
    if st.mode in PROGRAMS:
        return "program"
    if st.mode != "agent":
        return ""
    return "stateless" if tool_restartable(st.argv) else "stateful" if checkpointed(st.argv) else ""


def tee_restarts(st: planner.PlannedStage, alone: bool) -> bool:
    """A `tee` goes on elsewhere only when every FILE it writes is a
    namespace file (its successor cuts each back to where it stands);
    in a segment that runs again from the start (tee FILE | grep x @r2),
    only when it replaces its FILEs, not when it appends to them."""
    if st.mode != "agent" or not st.argv or st.argv[0] != "tee":
        return True
    from onesh.coreutils.tee import outputs

    got = outputs(st.argv)
    if got is None:
        return False
    files, appends = got
    return len([a for a in files if a != "-"]) == len(st.writes) and (alone or not (appends and st.writes))


def roomiest_runtime(snap: dict[str, Any], gone: set[str], stages: list[planner.PlannedStage],
                     cpu: float) -> str | None:
    """Where a segment that uses `cpu` CPUs goes off an overloaded runtime:
    the live runtime that qualifies with the most CPUs to spare once it
    has it (each member's stage use and capacity come with its lease:
    runtime/cpuload.py); None when none would stay under its own limit."""
    from onesh.runtime.cpuload import HIGH

    def spare(name: str) -> float:
        m = snap["members"][name]
        cpus = m.get("cpus")
        return HIGH * float(cpus) - float(m.get("stage_cpu") or 0.0) - cpu if cpus else -1.0

    fit = [n for n, m in snap["members"].items() if qualifies(n, m, gone, stages)]
    best = max(fit, key=lambda n: (spare(n), n), default=None)
    return best if best is not None and spare(best) >= 0 else None


def qualifies(name: str, m: dict[str, Any], gone: set[str], stages: list[planner.PlannedStage]) -> bool:
    """Can runtime `name` (member `m`) run these stages: live, reachable,
    not one of `gone`, and any tag pin holds?"""
    if name in gone or not m.get("alive") or m.get("reachable", True) is False:
        return False
    tags = m.get("tags", {}) or {}
    return all(st.needs.pin_tag is None or tags.get(st.needs.pin_tag[0]) == st.needs.pin_tag[1] for st in stages)


def successor_runtime(snap: dict[str, Any], dead: set[str], stages: list[planner.PlannedStage],
                      busy: list[str]) -> str | None:
    """Where a lost segment goes on: a live runtime that qualifies (its
    tag pin holds; a node pin named the dead one), the one with the
    fewest of the job's segments, then the least loaded."""
    fit = [n for n, m in snap["members"].items() if qualifies(n, m, dead, stages)]
    if not fit:
        return None
    return str(min(fit, key=lambda n: (busy.count(n), float(snap["members"][n].get("load", 0.0) or 0.0), n)))
