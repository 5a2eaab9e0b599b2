"""A process that moves pipe data keeps the frames it frees for the next
ones instead of faulting fresh pages in for each (onesh.net.heap)."""

from __future__ import annotations

import subprocess
import sys

import pytest

FRAMES = """
import resource, sys
from onesh.net import heap
from onesh.net.pipe_protocol import FRAME_MAX
if sys.argv[1] == "keep":
    heap.keep_freed_memory()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):  # (a window of frames received, handed on, acknowledged: freed)
    window = [b"x" * FRAME_MAX for _ in range(16)]
    del window
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", FRAMES, mode], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_frames_are_reused_not_faulted_in_again() -> None:
    pages = 50 * 16 * (256 * 1024 // 4096)
    assert faults("default") > pages // 2  # (glibc unmaps each one: the test can tell)
    assert faults("keep") < pages // 20
