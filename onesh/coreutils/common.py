"""Shared plumbing for the builtin agents: I/O, inputs, option parsing."""

from __future__ import annotations

import getopt
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

BLOCK = 64 * 1024

Resolver = Callable[[str], Any]
_resolvers: list[Resolver] = []


class Usage(Exception):
    """Bad command line: message for `NAME: ...`, exit 1 (2 for grep)."""


def register_resolver(fn: Resolver) -> None:
    """fn(path) -> file-like or None: lets the cluster namespace serve paths."""
    _resolvers.append(fn)


def _env_resolvers() -> None:
    if os.environ.get("ONESH_NS_PATHS") and not _resolvers:
        from onesh.runtime.nsresolver import resolve

        register_resolver(resolve)


class Io:
    def __init__(self, name: str) -> None:
        self.name = name
        self.out = sys.stdout.buffer
        self.status = 0

    def write(self, data: bytes) -> None:
        self.out.write(data)

    def flush(self) -> None:
        self.out.flush()

    def error(self, msg: str) -> None:
        self.flush()
        sys.stderr.write(f"{self.name}: {msg}\n")
        sys.stderr.flush()
        self.status = 1

    def open_input(self, path: str) -> Any:
        """A binary reader with read1/readline; '-' is stdin."""
        if path == "-":
            return sys.stdin.buffer
        if path.startswith("/dev/"):
            from onesh.runtime.devices import local_devices_from_env, open_device

            spec = local_devices_from_env().get(path)
            if spec is not None:
                return open_device(spec)
        _env_resolvers()
        for fn in _resolvers:
            f = fn(path)
            if f is not None:
                return f
        if os.path.isdir(path):
            raise IsADirectoryError(21, "Is a directory", path)
        return open(path, "rb")

    def open_output(self, path: str, append: bool = False) -> BinaryIO:
        return open(path, "ab" if append else "wb")


def why(e: OSError) -> str:
    return e.strerror or str(e)


def parse(argv: list[str], short: str, long: list[str] | None = None,
          *, numeric_shorthand: bool = False) -> tuple[list[tuple[str, str]], list[str]]:
    """GNU getopt (options anywhere, bundling, -n5, --long=v)."""
    args = argv[1:]
    if numeric_shorthand and args and len(args[0]) > 1 and args[0][0] == "-" and args[0][1:].isdigit():
        args = ["-n", args[0][1:], *args[1:]]
    try:
        return getopt.gnu_getopt(args, short, long or [])
    except getopt.GetoptError as e:
        opt = e.opt
        if e.msg.startswith("option --"):
            if "requires argument" in e.msg:
                raise Usage(f"option '--{opt}' requires an argument") from None
            raise Usage(f"unrecognized option '--{opt}'") from None
        if "requires argument" in e.msg:
            raise Usage(f"option requires an argument -- '{opt}'") from None
        raise Usage(f"invalid option -- '{opt}'") from None


def read_block(f: Any) -> bytes:
    """What is available now (up to BLOCK): a live stream is not held back."""
    reader = getattr(f, "read1", None)
    if reader is not None:
        return bytes(reader(BLOCK))
    return bytes(f.read(BLOCK))


def line_blocks(f: Any) -> Iterator[list[bytes]]:
    """Complete lines (with their newline) per block read; the last line
    may lack its newline."""
    carry = b""
    while True:
        data = read_block(f)
        if not data:
            break
        data = carry + data
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut].splitlines(keepends=True)
    if carry:
        yield [carry]


def inputs(io: Io, files: list[str]) -> Iterator[tuple[str, Any]]:
    """(name, reader) for each operand ('-' when none); errors reported."""
    for name in files or ["-"]:
        try:
            f = io.open_input(name)
        except OSError as e:
            io.error(f"{name}: {why(e)}")
            continue
        try:
            yield name, f
        finally:
            if f is not sys.stdin.buffer:
                f.close()


def number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Usage(f"invalid {what}: '{text}'") from None
