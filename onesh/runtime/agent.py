"""The Python launcher: run an unmodified Python program in the onesh context.

    python [-u -B -O -W ... -X ...] -m onesh.runtime.agent [--on-host] [--cleanup DIR] SCRIPT [ARGS...]
    python ... -m onesh.runtime.agent [--cleanup DIR] -m MODULE [ARGS...]

(`--on-host`: SCRIPT is a file of this host, not to be looked up in the
namespace; `--cleanup DIR`: remove DIR, a per-job copy of the program,
when it ends.)

A runtime's stage host starts a Python stage this way.  Before the
program's first line the launcher

- installs the onesh context (onesh.runtime.ospatch): `open`, `os`,
  `os.path`, `pathlib`, `shutil` on namespace paths go to the fs and
  storage kernel agents, host paths fall through unchanged, relative
  names are taken from the shell's `$PWD` ($ONESH_PWD);
- installs the audit hook (onesh.runtime.audit) that reports, in one line
  on stderr, what the context cannot cover;
- keeps stdin, stdout and stderr the real fds of the stage's pipes, with
  stdout written in frames: a 64 KiB buffer, also flushed when output has
  waited 50 ms (so a slow producer's lines still flow, and a fast one
  makes one write per 64 KiB, not one per line);
- makes `sys.argv`, `__name__ == "__main__"`, `__file__` and `sys.path[0]`
  what `python SCRIPT ARGS` would give, and `$PWD` the shell's;
- when SCRIPT is a namespace path, fetches it and the modules beside it
  into a per-job cache first (onesh.runtime.bundles).

Exit statuses are the program's own: SystemExit, an uncaught exception (1,
with a traceback of the program's frames only), Ctrl-C (killed by SIGINT:
130 for the shell).
"""

from __future__ import annotations

import io
import os
import sys
import threading
import types
from typing import Any

FRAME = 64 * 1024
FRAME_WAIT = 0.05  # seconds buffered output may wait before it is written anyway
USAGE = "usage: python -m onesh.runtime.agent [--on-host] [--cleanup DIR] SCRIPT [ARGS...] | -m MODULE [ARGS...]"


def frame_stdio() -> threading.Event | None:
    """Buffer stdout in 64 KiB frames, flushed after FRAME_WAIT at the latest
    (unless the program asked for unbuffered output, or writes to a tty).
    Returns the event that stops the flusher."""
    out = sys.stdout
    if out is None or getattr(out, "write_through", False):
        return None
    try:
        fd = out.fileno()
        if os.isatty(fd):
            return None
    except (OSError, ValueError, AttributeError):
        return None
    out.flush()
    framed = io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "w", closefd=False), FRAME),
                              encoding=out.encoding, errors=out.errors, line_buffering=False)
    sys.stdout = framed
    setattr(sys, "__stdout__", framed)  # noqa: B010 - (a final name for type checkers)
    if sys.stdin is not None and not sys.stdin.isatty():
        try:
            sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(sys.stdin.fileno(), "r", closefd=False), FRAME),
                                         encoding=sys.stdin.encoding, errors=sys.stdin.errors)
            setattr(sys, "__stdin__", sys.stdin)  # noqa: B010
        except (OSError, ValueError, AttributeError):
            pass
    stop = threading.Event()

    def flusher() -> None:
        while not stop.wait(FRAME_WAIT):
            try:
                framed.flush()
            except Exception:  # noqa: BLE001 - the reader left or stdout closed: the program finds out itself
                return

    threading.Thread(target=flusher, name="onesh-stdout", daemon=True).start()
    return stop


def _program_only_excepthook(program_file: str) -> None:
    """Tracebacks start at the program's own frames, as with `python SCRIPT`."""
    original = sys.excepthook

    def hook(t: type[BaseException], v: BaseException, tb: types.TracebackType | None) -> None:
        first = tb
        while first is not None and first.tb_frame.f_code.co_filename != program_file:
            first = first.tb_next
        if first is not None:
            v = v.with_traceback(first)  # (what the default hook prints)
            tb = first
        original(t, v, tb)

    sys.excepthook = hook


def parse(argv: list[str]) -> tuple[str | None, str | None, list[str], str | None, bool]:
    """(script, module, program args, cleanup dir, script on this host)."""
    cleanup, on_host = None, False
    i = 0
    while i < len(argv) and argv[i] in ("--cleanup", "--on-host"):
        if argv[i] == "--on-host":
            on_host = True
            i += 1
        elif i + 1 < len(argv):
            cleanup = argv[i + 1]
            i += 2
        else:
            break
    rest = argv[i:]
    if rest[:1] == ["-m"] and len(rest) >= 2:
        return None, rest[1], rest[2:], cleanup, on_host
    if not rest or rest[0].startswith("-"):
        raise SystemExit(USAGE)
    return rest[0], None, rest[1:], cleanup, on_host


def main(argv: list[str] | None = None) -> None:
    script, module, args, cleanup, on_host = parse(sys.argv[1:] if argv is None else argv)
    from onesh.runtime import audit, ospatch
    from onesh.runtime.evalctx import Context

    ctx = Context(os.environ, extra_host_only=(cleanup,) if cleanup else ())
    if cleanup:
        from onesh.runtime import bundles

        bundles.remove_at_exit(cleanup)
    ctx.close_at_exit()
    program = None
    if script is not None:
        found = ctx.lookup(script) if ctx.attached and not on_host else None
        if found is not None and found.kind != "file":
            sys.stderr.write(f"{sys.executable}: can't open file {script!r}: "
                             f"{'not a file' if found.entry else 'No such file or directory'}\n")
            raise SystemExit(2)
        if found is not None:
            # A program stored in the namespace runs from a per-job copy
            # (with the modules beside it) on this runtime's disk.
            from onesh.runtime import bundles

            cache = bundles.job_cache(os.environ.get("ONESH_STAGE", ""))
            bundles.remove_at_exit(cache)
            ctx.prefixes += (cache,)
            script = bundles.fetch(ctx, found, "python", cache)
        else:
            script = ctx.host_path(script)
        program = load_script(script)  # (with the host's own functions: no namespace lookups)
    ospatch.install(ctx)
    if ctx.attached:  # (with no cluster, nothing can escape it)
        audit.install(ctx)
    os.environ["PWD"] = ctx.cwd
    stop = frame_stdio()
    try:
        if module is not None:
            import runpy

            sys.argv = [module, *args]
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            assert program is not None and script is not None
            run_script(program, script, args)
    finally:
        if stop is not None:
            stop.set()


def load_script(script: str) -> tuple[str, str, bytes]:
    """(absolute path, sys.path[0], source) of the program file."""
    try:
        with io.open_code(script) as f:
            source = f.read()
    except OSError as e:
        # as `python SCRIPT` says it, with status 2
        sys.stderr.write(f"{sys.executable}: can't open file {script!r}: [Errno {e.errno}] {e.strerror}\n")
        raise SystemExit(2) from None
    full = os.path.abspath(script)
    return full, os.path.dirname(os.path.realpath(full)), source


def run_script(program: tuple[str, str, bytes], script: str, args: list[str]) -> None:
    full, path0, source = program
    code = compile(source, full, "exec")
    main_module = types.ModuleType("__main__")
    g: dict[str, Any] = main_module.__dict__
    g.update(__file__=full, __builtins__=__builtins__, __cached__=None, __spec__=None, __package__=None)
    from importlib.machinery import SourceFileLoader

    g["__loader__"] = SourceFileLoader("__main__", full)
    sys.modules["__main__"] = main_module
    sys.argv = [script, *args]
    sys.path[0] = path0
    _program_only_excepthook(full)
    exec(code, g)


if __name__ == "__main__":
    main()
