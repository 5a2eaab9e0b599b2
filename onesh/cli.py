"""Composition root and command-line entry point.

    onesh                      interactive REPL (embedded cluster on demand)
    onesh -c CODE [NAME ARGS]  run CODE ($0 = NAME)
    onesh FILE [ARGS]          run a script (`#!/usr/bin/env onesh`)
    onesh < FILE               read the script from standard input
    onesh cluster|runtime|bootstrap ...   cluster management

Start-up is on the hot path (`onesh -c true` should cost little more than
Python itself), so only the parser and engine are imported here; the REPL,
prompt_toolkit, pygments and zmq are imported lazily where they are used.
"""

from __future__ import annotations

import os
import sys

from onesh import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from onesh.engine.collaborators import History

RESERVED_SUBCOMMANDS = ("cluster", "runtime", "bootstrap")

USAGE = """\
usage: onesh [options] [-c CODE [NAME [ARG ...]] | FILE [ARG ...]]
       onesh cluster {up,status,down} ...
       onesh runtime [--name N] [--join BOOT] ...
       onesh bootstrap USER@HOST ...

options:
  -c CODE          run CODE; the first argument after it becomes $0
  -e / -x / -u     set -e (errexit), -x (xtrace), -u (nounset)
  -o OPTION        set -o OPTION (e.g. pipefail)
  -i               force an interactive shell
  -s               read commands from standard input
  --debug          show Python tracebacks for internal errors (ONESH_DEBUG=1)
  --version        print the version
  -h, --help       this help

`cluster`, `runtime` and `bootstrap` as the first argument are subcommands;
run a script with one of those names as ./cluster.
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in RESERVED_SUBCOMMANDS:
        return _subcommand(args[0], args[1:])
    try:
        return _shell_main(args)
    except KeyboardInterrupt:
        return 130


def _subcommand(name: str, rest: list[str]) -> int:
    try:
        import importlib

        commands = importlib.import_module("onesh.runtime.commands")
    except ImportError:
        sys.stderr.write(f"onesh: {name}: not available in this build\n")
        return 2
    status = commands.main(rest, name)
    return int(status)


def _shell_main(args: list[str]) -> int:
    from onesh.engine.collaborators import LazyClusterLink, print_notice
    from onesh.engine.control import ExitShell
    from onesh.engine.interp import Interpreter
    from onesh.engine.state import OPTION_LETTERS, ShellState
    from onesh.errors import OneshError

    command: str | None = None
    cluster_dir: str | None = os.environ.get("ONESH_CLUSTER") or None
    force_interactive = False
    read_stdin = False
    options: list[tuple[str, bool]] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-h", "--help"):
            sys.stdout.write(USAGE)
            return 0
        if a == "--version":
            sys.stdout.write(f"onesh {__version__}\n")
            return 0
        if a == "--debug":
            os.environ["ONESH_DEBUG"] = "1"
            i += 1
            continue
        if a == "--cluster" or a.startswith("--cluster="):
            if a == "--cluster":
                if i + 1 >= len(args):
                    sys.stderr.write("onesh: --cluster: option requires an argument\n")
                    return 2
                cluster_dir = args[i + 1]
                i += 2
            else:
                cluster_dir = a.split("=", 1)[1]
                i += 1
            continue
        if a == "--":
            i += 1
            break
        if a == "-c":
            if i + 1 >= len(args):
                sys.stderr.write("onesh: -c: option requires an argument\n")
                return 2
            command = args[i + 1]
            i += 2
            break
        if len(a) > 1 and a[0] in "-+" and not a.startswith("--"):
            on = a[0] == "-"
            k = 1
            consumed_next = False
            while k < len(a):
                c = a[k]
                if c == "c" and on:
                    if i + 1 >= len(args):
                        sys.stderr.write("onesh: -c: option requires an argument\n")
                        return 2
                    command = args[i + 1]
                    consumed_next = True
                elif c == "o":
                    if i + 1 >= len(args):
                        sys.stderr.write("onesh: -o: option requires an argument\n")
                        return 2
                    options.append((args[i + 1], on))
                    consumed_next = True
                elif c == "i":
                    force_interactive = True
                elif c == "s":
                    read_stdin = True
                elif c in OPTION_LETTERS:
                    options.append((OPTION_LETTERS[c], on))
                else:
                    sys.stderr.write(f"onesh: {a[0]}{c}: invalid option\n{USAGE}")
                    return 2
                k += 1
            i += 2 if consumed_next else 1
            if command is not None:
                break
            continue
        if a.startswith("--"):
            sys.stderr.write(f"onesh: {a}: invalid option\n{USAGE}")
            return 2
        break
    rest = args[i:]

    if command is not None:
        argv0, positional = (rest[0], rest[1:]) if rest else ("onesh", [])
        mode = "command"
    elif rest and not read_stdin:
        argv0, positional = rest[0], rest[1:]
        mode = "file"
    else:
        argv0, positional = "onesh", rest
        interactive = force_interactive or (sys.stdin.isatty() and sys.stderr.isatty())
        mode = "repl" if interactive else "stdin"

    state = ShellState(argv0=argv0, args=positional)
    for name, on in options:
        try:
            state.options.set(name, on)
        except OneshError as e:
            sys.stderr.write(f"onesh: {e.message}\n")
            return 2
    _init_variables(state)
    history = _repl_history() if mode == "repl" else None
    cluster = LazyClusterLink(cluster_dir, notify=print_notice)
    interp = Interpreter(state, interactive=(mode == "repl"), cluster=cluster, history=history)
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 20000))
    try:
        if mode == "command":
            assert command is not None
            status = interp.run_text(command, "-c")
        elif mode == "file":
            status = interp.run_file(argv0, positional)
        elif mode == "stdin":
            data = sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
            status = interp.run_text(data, "<stdin>")
        else:
            return _repl(interp)
    except ExitShell as e:
        status = e.status
    except KeyboardInterrupt:
        status = 130
    except RecursionError:
        sys.stderr.write("onesh: maximum recursion depth exceeded\n")
        status = 1
    except Exception as e:  # noqa: BLE001 - never show a traceback by default
        interp.internal_error(e)
        status = 70
    finally:
        cluster.close()
    return status & 0xFF


def _repl_history() -> History | None:
    """The REPL's history (prompt_toolkit's), None when the REPL package is
    not available (the plain line loop has none)."""
    try:
        import importlib

        module = importlib.import_module("onesh.repl.history")
    except ImportError:
        return None
    history: History = module.ReplHistory.default()
    return history


def _init_variables(state: object) -> None:
    from onesh.engine.state import ShellState

    assert isinstance(state, ShellState)
    if state.get("PWD") is None or not _same_dir(state.get("PWD") or "", "."):
        try:
            state.set("PWD", os.getcwd(), export=True)
        except OSError:
            pass
    if state.get("IFS") is None:
        state.set("IFS", " \t\n")
    state.set("PPID", str(os.getppid()))
    state.set("ONESH_VERSION", __version__)
    if state.get("PS4") is None:
        state.set("PS4", "+ ")
    shlvl = state.get("SHLVL") or "0"
    state.set("SHLVL", str(int(shlvl) + 1 if shlvl.isascii() and shlvl.isdigit() else 1), export=True)


def _same_dir(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _repl(interp: object) -> int:
    from onesh.engine.interp import Interpreter

    assert isinstance(interp, Interpreter)
    import importlib

    try:
        terminal = importlib.import_module("onesh.repl.terminal")
    except ImportError:
        return _plain_repl(interp)
    # The prompt goes up before the line editor is imported (~0.1 s).
    terminal.prepare(interp)
    first = terminal.show_first_prompt(interp)
    try:
        app = importlib.import_module("onesh.repl.app")
    except ImportError:
        if first is not None:
            first.hand_over()
            sys.stdout.write("\n")
        return _plain_repl(interp)
    return int(app.run_repl(interp, prepared=True, first_prompt=first))


def _plain_repl(interp: object) -> int:
    """Fallback line loop when the REPL package is unavailable."""
    from onesh.engine.control import ExitShell
    from onesh.engine.interp import Interpreter
    from onesh.parser import check

    assert isinstance(interp, Interpreter)
    buf = ""
    while True:
        try:
            sys.stderr.write("> " if buf else "onesh$ ")
            sys.stderr.flush()
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            buf = ""
            sys.stderr.write("\n")
            continue
        if not line:
            return interp.state.last_status
        buf += line
        if check(buf).state == "incomplete":
            continue
        try:
            interp.run_text(buf, "<stdin>")
        except ExitShell as e:
            return e.status
        buf = ""


if __name__ == "__main__":
    sys.exit(main())
