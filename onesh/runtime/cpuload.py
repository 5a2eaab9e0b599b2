"""What this runtime's stages cost in CPU, and when it is overloaded.

A device's capacity is its CPUs (`onesh runtime --cpus N`; all of its
host's by default, and runtimes that share a host can each be given their
share).  Once a second, while stages run, the runtime reads the CPU time
of each running segment's processes (its stage host's and its commands'
process groups, from /proc) and turns it into CPUs used.  It is
*overloaded* when its stages together use more than HIGH of its capacity
for `overload_after` seconds on end (`--overload-after`, 30 s by
default; 0: never).  Then the busiest segment that can move (one that
can go on elsewhere, and is not pinned to this runtime by name) is
offered to its shell, which moves it to a runtime with room for it
(engine/distributed.Job.move); the clock starts again, so at most one
segment moves per `overload_after`.

`Overload` is the decision alone (samples in, a segment out); the runtime
feeds it (runtime/stages.py).  Each runtime's use and capacity go to the
Raft leader with its lease renewals, so `cluster status` and a shell
choosing a target see them.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

SAMPLE_EVERY = 1.0  # seconds between two looks at the stages' CPU time
HIGH = 0.9  # the share of its CPUs a runtime's stages may use before it counts as overloaded
OVERLOAD_AFTER = 30.0  # seconds of overload before a segment is moved off (the default)
SMOOTH = 0.5  # weight of the newest sample in a segment's CPU rate

K = TypeVar("K", bound=Hashable)  # what names a segment


def cpu_seconds(groups: Iterable[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by the live processes of
    each of these process groups."""
    wanted = set(groups)
    out: dict[int, float] = dict.fromkeys(wanted, 0.0)
    if not wanted:
        return out
    tick = float(os.sysconf("SC_CLK_TCK"))
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue  # (gone meanwhile)
            # (after the command: state, ppid, pgrp, ..., utime at 11, stime at 12)
            pgrp = int(fields[2])
            if pgrp in wanted:
                out[pgrp] += (int(fields[11]) + int(fields[12])) / tick
    return out


@dataclass
class Overload(Generic[K]):
    """Overload detection, sans-IO: `sample(now, totals, movable)` with the
    CPU seconds each running segment has used so far; returns the segment
    to move off, when it is time to."""

    cpus: float
    after: float = OVERLOAD_AFTER
    rates: dict[K, float] = field(default_factory=dict)  # CPUs each segment uses (smoothed)
    used: float = 0.0  # CPUs all of them use
    since: float | None = None  # overloaded since then
    _totals: dict[K, float] = field(default_factory=dict)
    _at: float | None = None

    def sample(self, now: float, totals: dict[K, float], movable: set[K]) -> K | None:
        if self._at is not None and now > self._at:
            dt = now - self._at
            rates: dict[K, float] = {}
            for key, total in totals.items():
                if key not in self._totals:
                    continue  # (seen for the first time: no rate yet)
                # (a process that exited takes its CPU time with it: never < 0)
                new = max(0.0, total - self._totals[key]) / dt
                rates[key] = SMOOTH * new + (1 - SMOOTH) * self.rates[key] if key in self.rates else new
            self.rates = rates
        self._totals, self._at = dict(totals), now
        self.used = sum(self.rates.values())
        candidates = [key for key in movable if key in self.rates]
        if self.after <= 0 or self.used <= HIGH * self.cpus or not candidates:
            self.since = None
            return None
        if self.since is None:
            self.since = now
        if now - self.since < self.after:
            return None
        self.since = None  # (the next move only after as long again)
        return max(candidates, key=lambda key: self.rates[key])

    def idle(self) -> None:
        """Nothing runs: forget what was measured."""
        self.rates, self._totals, self._at, self.used, self.since = {}, {}, None, 0.0, None
