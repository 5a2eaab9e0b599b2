"""python -m onesh.coreutils NAME [ARGS...]

Exit statuses: the tool's own; 141 when stdout is closed under it (SIGPIPE,
quietly); 130 on SIGINT after flushing what was already processed.  No
Python traceback unless ONESH_DEBUG=1."""

from __future__ import annotations

import os
import sys
from typing import Any

from onesh.coreutils import TOOLS


def main(argv: list[str], io: Any = None) -> int:
    """Run tool argv[0] on `io` (the process's stdio by default; a builtin
    agent that owns its network pipes passes them: runtime/agentpipes.py)."""
    if not argv or argv[0] not in TOOLS:
        sys.stderr.write(f"onesh.coreutils: expected one of {' '.join(TOOLS)}\n")
        return 2
    from onesh.coreutils.common import Io, run_tool

    if io is None:
        io = Io(argv[0])
    try:
        status = run_tool(argv, io)
    except KeyboardInterrupt:
        try:
            io.flush()
        except OSError:
            pass
        status = 130
    except Exception as e:
        if os.environ.get("ONESH_DEBUG") == "1":
            raise
        try:
            io.flush()
        except OSError:
            pass
        sys.stderr.write(f"{argv[0]}: {e}\n")
        status = 2 if argv[0] in ("grep", "sort") else 1
    from onesh.coreutils import files

    try:
        files.finish()  # e.g. a named pipe written by name delivers the rest
    except KeyboardInterrupt:
        status = 130
    if status in (141, 130):
        _quiet_stdout()
    return status


def _quiet_stdout() -> None:
    # Python would complain again at exit while flushing a dead stdout.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    except OSError:
        pass


def finish_stdout(code: int) -> int:
    """Flush what is left for stdout before the exit with status `code`."""
    try:
        sys.stdout.flush()
    except OSError:
        _quiet_stdout()
    return code


if __name__ == "__main__":
    sys.exit(finish_stdout(main(sys.argv[1:])))
