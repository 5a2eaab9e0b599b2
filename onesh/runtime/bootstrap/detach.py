"""Runs on the device: start a command outside the SSH session.

    python -m onesh.runtime.bootstrap.detach --log FILE --pidfile FILE -- ARGV...

The command gets a session of its own (so the end of the SSH session does
not hang it up), /dev/null as stdin and FILE as stdout and stderr; its pid
is written (mode 0600) and printed, and this helper exits at once.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="onesh-detach")
    p.add_argument("--log", required=True)
    p.add_argument("--pidfile", required=True)
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    command = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not command:
        p.error("no command given")
    with open(a.log, "ab") as log:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, close_fds=True)
    tmp = a.pidfile + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{proc.pid}\n")
    os.replace(tmp, a.pidfile)
    print(proc.pid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
