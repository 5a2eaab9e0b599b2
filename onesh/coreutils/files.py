"""Where the builtin agents' file operands come from.

`open_input(path)` tries, in order:

1. `-`: the agent's standard input (handled by `Io.open_input`);
2. `/dev/KIND/N` naming a device of this runtime (`$ONESH_DEVICES`, see
   onesh.runtime.devices): the device driver's stream, paced in real time;
3. the registered resolvers, in registration order: `fn(path)` returns a
   binary reader, or None to pass (the cluster namespace plugs in here; it
   is registered automatically when `$ONESH_NS_PATHS` is set);
4. the local filesystem.

`open_output(path, append, at)` asks the output resolvers, then opens a
local file (`at`, going on from a checkpoint, only a namespace file can).  Errors are OSError with errno/strerror set, as from open().
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from typing import Any, BinaryIO

Resolver = Callable[[str], Any]
OutputResolver = Callable[[str, bool, int | None], Any]  # (path, append, at)

_resolvers: list[Resolver] = []
_output_resolvers: list[OutputResolver] = []
_finishers: list[Callable[[], None]] = []
_env_checked = False


def register_resolver(fn: Resolver) -> None:
    """fn(path) -> binary reader or None: lets another source serve paths."""
    if fn not in _resolvers:
        _resolvers.append(fn)


def register_output_resolver(fn: OutputResolver) -> None:
    """fn(path, append, at) -> binary writer or None."""
    if fn not in _output_resolvers:
        _output_resolvers.append(fn)


def register_finisher(fn: Callable[[], None]) -> None:
    """fn() runs when the tool is done, before the interpreter shuts down
    (an output resolver delivering in the background waits there)."""
    if fn not in _finishers:
        _finishers.append(fn)


def finish() -> None:
    while _finishers:
        _finishers.pop(0)()


def unregister_resolver(fn: Resolver) -> None:
    if fn in _resolvers:
        _resolvers.remove(fn)


def _env_resolvers() -> None:
    global _env_checked
    if _env_checked:
        return
    _env_checked = True
    if os.environ.get("ONESH_NS_PATHS"):
        from onesh.runtime.nsresolver import resolve

        register_resolver(resolve)
    if os.environ.get("ONESH_NS_PIPES"):
        from onesh.runtime.nsresolver import publish

        register_output_resolver(publish)
    if os.environ.get("ONESH_NS_OUTPUTS"):
        from onesh.runtime.nsresolver import write

        register_output_resolver(write)


def open_input(path: str, pace: bool = True) -> Any:
    """A binary reader (read/read1 or raw read) for a file operand (not '-')."""
    if path.startswith("/dev/"):
        from onesh.runtime.devices import device_for_path, open_device

        spec = device_for_path(path)
        if spec is not None:
            return open_device(spec, pace=pace)
    _env_resolvers()
    for fn in _resolvers:
        f = fn(path)
        if f is not None:
            return f
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    return open(path, "rb")


def open_output(path: str, append: bool = False, at: int | None = None) -> BinaryIO:
    """`at`: go on writing at byte `at`, what lies past it cut off (a
    stage restarted from its checkpoint: coreutils/tee.py)."""
    _env_resolvers()
    for fn in _output_resolvers:
        f = fn(path, append, at)
        if f is not None:
            return f  # type: ignore[no-any-return]
    if at is not None:
        # (a stage goes on elsewhere only with namespace files: this host's
        # file is not the one its predecessor wrote)
        raise OSError(errno.ESTALE, "not a namespace file: cannot go on where it was left", path)
    return open(path, "ab" if append else "wb")
