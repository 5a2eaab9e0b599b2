"""Shared plumbing for the builtin agents: I/O, inputs, option parsing.

Everything is bytes: lines, fields, character classes and comparisons
follow the C locale (LC_ALL=C), whatever the environment says.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Iterator
from typing import Any, BinaryIO, TypeVar

from onesh.coreutils import files
from onesh.coreutils.files import register_resolver

__all__ = ["BLOCK", "Io", "Usage", "inputs", "line_blocks", "number", "parse", "read_block",
           "register_resolver", "run_tool", "why"]

BLOCK = 64 * 1024


class Usage(Exception):
    """Bad command line: message for `NAME: ...`, exit 1 (2 for grep)."""


class Io:
    """A tool's world: binary stdin/stdout/stderr and how to open operands.

    The defaults are the process's fds 0/1/2; tests pass BytesIO objects."""

    def __init__(self, name: str, stdin: Any = None, stdout: Any = None, stderr: Any = None) -> None:
        self.name = name
        self.stdin: Any = stdin if stdin is not None else sys.stdin.buffer
        self.stdout: BinaryIO = stdout if stdout is not None else sys.stdout.buffer
        self.stderr: BinaryIO = stderr if stderr is not None else sys.stderr.buffer
        self.status = 0
        self.no_messages = False  # grep -s: file errors only set the status

    @property
    def out(self) -> BinaryIO:
        return self.stdout

    def write(self, data: bytes) -> None:
        self.stdout.write(data)

    def flush(self) -> None:
        self.stdout.flush()

    def out_fd(self) -> int:
        """The fd behind stdout (after flushing it), or -1 when there is none."""
        try:
            fd = int(self.stdout.fileno())
        except (OSError, AttributeError, ValueError):
            return -1
        self.stdout.flush()
        return fd

    def message(self, msg: str) -> None:
        """`NAME: msg` on stderr (stdout flushed first, to keep the order)."""
        try:
            self.flush()
        except BrokenPipeError:
            raise
        except OSError:
            pass
        self.stderr.write(f"{self.name}: {msg}\n".encode("utf-8", "surrogateescape"))
        self.stderr.flush()

    def error(self, msg: str) -> None:
        self.message(msg)
        self.status = 1

    def open_input(self, path: str) -> Any:
        """A binary reader with read1 or a raw read; '-' is stdin."""
        if path == "-":
            return self.stdin
        return files.open_input(path)

    def open_output(self, path: str, append: bool = False, at: int | None = None) -> BinaryIO:
        """`at`: go on at byte `at`, what lies past it cut off (files.open_output)."""
        if path == "-":
            return self.stdout
        return files.open_output(path, append, at)


def why(e: OSError) -> str:
    return e.strerror or str(e)


def fsname(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def digits(s: str) -> bool:
    """All ASCII digits (str.isdigit also takes `¹` and `٣`, which int()
    refuses or reads: a number in an argument is ASCII, as in GNU)."""
    return s.isascii() and s.isdigit()


def parse(argv: list[str], short: str, long: list[str] | None = None,
          *, numeric_shorthand: bool = False) -> tuple[list[tuple[str, str]], list[str]]:
    """GNU getopt_long: options anywhere among operands, bundling (-nv),
    -n5 / -n 5, --long=v / --long v, unique long prefixes, `--` ends
    options, `-` is an operand.  `short` as for getopt ("n:" takes an
    argument); in `long`, "name=" takes an argument and "name=?" an
    optional one (only as --name=VALUE)."""
    args = argv[1:]
    if numeric_shorthand and args and len(args[0]) > 1 and args[0][0] == "-" and digits(args[0][1:]):
        args = ["-n", args[0][1:], *args[1:]]
    longs: dict[str, str] = {}
    for spec in long or []:
        if spec.endswith("=?"):
            longs[spec[:-2]] = "?"
        elif spec.endswith("="):
            longs[spec[:-1]] = "="
        else:
            longs[spec] = ""
    opts: list[tuple[str, str]] = []
    operands: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            operands.extend(args[i:])
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if name in longs:
                full = name
            else:
                matches = [k for k in longs if k.startswith(name)]
                if not matches:
                    raise Usage(f"unrecognized option '{a}'")
                if len(matches) > 1:
                    raise Usage(f"option '--{name}' is ambiguous; possibilities:"
                                + "".join(f" '--{m}'" for m in matches))
                full = matches[0]
            kind = longs[full]
            if kind == "=" and not eq:
                if i >= len(args):
                    raise Usage(f"option '--{full}' requires an argument")
                value = args[i]
                i += 1
            elif kind == "" and eq:
                raise Usage(f"option '--{full}' doesn't allow an argument")
            opts.append(("--" + full, value))
            continue
        if a.startswith("-") and a != "-":
            j = 1
            while j < len(a):
                c = a[j]
                k = short.find(c)
                if k < 0 or c == ":":
                    raise Usage(f"invalid option -- '{c}'")
                if short[k + 1:k + 2] == ":":
                    value = a[j + 1:]
                    if not value:
                        if i >= len(args):
                            raise Usage(f"option requires an argument -- '{c}'")
                        value = args[i]
                        i += 1
                    opts.append(("-" + c, value))
                    break
                opts.append(("-" + c, ""))
                j += 1
            continue
        operands.append(a)
    return opts, operands


def canon(opts: list[tuple[str, str]], longmap: dict[str, str]) -> list[tuple[str, str]]:
    """Long options renamed to their short spelling (`--count` → `-c`)."""
    return [(longmap.get(o, o), v) for o, v in opts]


def read_block(f: Any) -> bytes:
    """What is available now (up to BLOCK): a live stream is not held back."""
    reader = getattr(f, "read1", None)
    if reader is not None:
        return bytes(reader(BLOCK))
    return bytes(f.read(BLOCK))


def split_lines(data: bytes) -> list[bytes]:
    """Lines of data, each with its b"\\n" (the last may lack it); only
    b"\\n" ends a line (not \\r, unlike bytes.splitlines)."""
    parts = data.split(b"\n")
    last = parts.pop()
    out = [p + b"\n" for p in parts]
    if last:
        out.append(last)
    return out


def line_blocks(f: Any) -> Iterator[list[bytes]]:
    """Complete lines (with their newline) per block read; the last line
    may lack its newline."""
    carry: list[bytes] = []
    hold_back = getattr(f, "hold_back", None)  # (a network pipe's checkpoints: netio.NetInput)
    while True:
        if hold_back is not None:
            hold_back(sum(map(len, carry)))
        data = read_block(f)
        if not data:
            break
        cut = data.rfind(b"\n") + 1
        if not cut:
            carry.append(data)
            continue
        if carry:
            carry.append(data[:cut])
            head = b"".join(carry)
            carry = []
        else:
            head = data[:cut] if cut < len(data) else data
        if cut < len(data):
            carry.append(data[cut:])
        yield split_lines(head)
    if carry:
        yield [b"".join(carry)]


class ToolState:
    """A tool's state that a stage restarted elsewhere goes on from
    (coreutils/restart.py): the attributes named in KEPT, as JSON (bytes
    as latin-1 text).  A tool hands it to its input with `keep` before its
    first read; a successor's is restored there.  A tool whose state is
    everything it read (sort) also has spill() → the bytes read since the
    last call, stored as a log beside its checkpoints, and unspill(log)."""

    KEPT: tuple[str, ...] = ()

    def snapshot(self) -> dict[str, Any]:
        return {k: _to_json(getattr(self, k)) for k in self.KEPT}

    def restore(self, state: dict[str, Any]) -> None:
        for k in self.KEPT:
            if k in state:
                setattr(self, k, _from_json(state[k], getattr(self, k)))


_S = TypeVar("_S", bound=ToolState)


def _to_json(v: Any) -> Any:
    if isinstance(v, bytes | bytearray):
        return {"b": bytes(v).decode("latin-1")}
    if isinstance(v, list | tuple | deque):
        return [_to_json(x) for x in v]
    return v


def _from_json(v: Any, like: Any) -> Any:
    if isinstance(v, dict):
        return str(v["b"]).encode("latin-1")
    if isinstance(v, list):
        items = [_from_json(x, None) for x in v]
        return deque(items, like.maxlen) if isinstance(like, deque) else items
    return v


def keep(f: Any, state: _S) -> _S:
    """Checkpoints of `state` go with a network pipe's input (no-op for
    any other reader)."""
    track = getattr(f, "track", None)
    if track is not None:
        track(state)
    return state


def inputs(io: Io, names: list[str]) -> Iterator[tuple[str, Any]]:
    """(name, reader) for each operand ('-' when none); errors reported
    as `NAME: FILE: reason` and the status set to 1."""
    for name in names or ["-"]:
        try:
            f = io.open_input(name)
        except OSError as e:
            if io.no_messages:
                io.status = 1
            else:
                io.error(f"{name}: {why(e)}")
            continue
        try:
            yield name, f
        finally:
            if f is not io.stdin:
                f.close()


def number(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise Usage(f"invalid {what}: '{text}'") from None


def run_tool(argv: list[str], io: Io) -> int:
    """Run tool argv[0] with io; usage errors and a closed stdout handled
    (141).  KeyboardInterrupt propagates to the caller."""
    import importlib

    name = argv[0]
    try:
        module = importlib.import_module(f"onesh.coreutils.{name}")
        status = int(module.run(argv, io))
        io.flush()
        return status
    except Usage as e:
        try:
            io.flush()
        except OSError:
            pass
        io.stderr.write(f"{name}: {e}\nTry '{name} --help' for more information.\n"
                        .encode("utf-8", "surrogateescape"))
        io.stderr.flush()
        return 2 if name in ("grep", "sort") else 1
    except BrokenPipeError:
        return 141
