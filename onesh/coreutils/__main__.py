"""python -m onesh.coreutils NAME [ARGS...]"""

from __future__ import annotations

import importlib
import os
import sys

from onesh.coreutils import TOOLS
from onesh.coreutils.common import Io, Usage


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in TOOLS:
        sys.stderr.write(f"onesh.coreutils: expected one of {' '.join(TOOLS)}\n")
        return 2
    name = argv[0]
    io = Io(name)
    try:
        return int(importlib.import_module(f"onesh.coreutils.{name}").run(argv, io))
    except Usage as e:
        io.flush()
        sys.stderr.write(f"{name}: {e}\nTry '{name} --help' for more information.\n")
        return 2 if name == "grep" else 1
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except KeyboardInterrupt:
        try:
            io.flush()
        except BrokenPipeError:
            pass
        _quiet_stdout()
        return 130
    finally:
        try:
            io.flush()
        except (BrokenPipeError, OSError):
            _quiet_stdout()


def _quiet_stdout() -> None:
    # Python would complain again at exit while flushing a dead stdout.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    except OSError:
        pass


if __name__ == "__main__":
    status = main(sys.argv[1:])
    if status == 141:
        sys.exit(141)
    sys.exit(status)
