"""The program interpreters a runtime offers (advertised in membership).

Python programs run under the runtime's own interpreter (the one that has
onesh installed), Node.js programs under `node` from the runtime's PATH.
The scheduler sends a Python or Node.js stage only to a runtime listing
that interpreter.
"""

from __future__ import annotations

import functools
import platform
import shutil
import subprocess


@functools.cache
def interpreters() -> dict[str, str]:
    """{"python3": "3.11.7", "node": "v20.20.2"} (node only when installed)."""
    found = {"python3": platform.python_version()}
    node = shutil.which("node")
    if node is not None:
        try:
            out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=True)
            found["node"] = out.stdout.strip() or "unknown"
        except (OSError, subprocess.SubprocessError):
            pass  # a node that does not even say its version runs no stage
    return found
