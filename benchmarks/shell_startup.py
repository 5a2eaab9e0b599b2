#!/usr/bin/env python3
"""Start-up, REPL and interpreter speed of onesh, side by side with python3
and bash in one run.

    python benchmarks/shell_startup.py [--runs N] [--only NAME ...]

Every figure is a pair measured in one run, A and B alternating, so a busy
machine slows both alike; each line prints both medians and their ratio.
Goals (issue #16, issue #3 for the pipeline):

    start-up      onesh -c true            <= 2.5x python3 -c pass
    repl          first prompt on a pty    <= 150 ms
    for-loop      10,000 iterations        <= 6x bash, each shell's start-up subtracted
                  (`for i in $(seq ..)` and the arithmetic `for ((i=0; i<N; i++))`)
    per command   builtin / function call  drops like the loop (printed per call)
    pipeline      seq 1 1000000 | wc -l    <= 1.2x bash, start-up subtracted

`onesh` is the command on PATH (the installed entry point) when there is
one, else `python -m onesh`.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable


def run_once(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                   check=False, env=env)
    return time.perf_counter() - t0


def paired(a: Callable[[], float], b: Callable[[], float], runs: int) -> tuple[float, float]:
    """Medians of A and B, run alternately (A B A B ...) after one warm-up each."""
    a()
    b()
    sa: list[float] = []
    sb: list[float] = []
    for _ in range(runs):
        sa.append(a())
        sb.append(b())
    return statistics.median(sa), statistics.median(sb)


def first_prompt(cmd: list[str], env: dict[str, str], marker: bytes = b"READY>") -> tuple[float, float]:
    """Seconds from spawning an interactive shell on a pty to its prompt,
    and to the prompt drawn a second time (onesh writes the first one before
    its line editor is loaded, which then redraws it: from then on keys are
    edited; bash's prompt is drawn once, so both are the same for it)."""
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # child: become the shell
        os.execvpe(cmd[0], cmd, env)
    seen = b""
    times: list[float] = []
    try:
        deadline = t0 + 10
        while time.perf_counter() < deadline and len(times) < 2:
            r, _, _ = select.select([fd], [], [], 0.05 if times else 0.5)
            if not r:
                if times and time.perf_counter() - t0 > times[0] + 1.0:
                    break  # drawn once only (bash)
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            while seen.count(marker) > len(times):
                times.append(time.perf_counter() - t0)
        os.write(fd, b"exit\r")
        end = time.time() + 5
        while time.time() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if r:
                try:
                    if not os.read(fd, 4096):
                        break
                except OSError:
                    break
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            os.kill(pid, 9)
    finally:
        os.close(fd)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    if not times:
        return float("nan"), float("nan")
    return times[0], times[-1]


def ms(x: float) -> str:
    return f"{x * 1000:8.1f} ms"


def line(what: str, a_name: str, a: float, b_name: str, b: float, ratio: float, goal: str) -> None:
    print(f"{what:<12} {a_name:<26}{ms(a)}   {b_name:<18}{ms(b)}   {ratio:6.2f}x  {goal}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20, help="pairs per start-up figure (loops use a quarter)")
    ap.add_argument("--only", nargs="*", default=None,
                    help="startup repl loop commands pipeline (default: all)")
    args = ap.parse_args()
    want = set(args.only or ["startup", "repl", "loop", "commands", "pipeline"])
    found = shutil.which("onesh")
    onesh = [found] if found else [sys.executable, "-m", "onesh"]
    py = [sys.executable]
    runs, slow_runs = args.runs, max(3, args.runs // 4)
    home = tempfile.mkdtemp(prefix="onesh-bench-")
    env = dict(os.environ, HOME=home, XDG_DATA_HOME=home, XDG_CONFIG_HOME=home, XDG_STATE_HOME=home,
               PS1="READY> ", TERM="xterm")
    env.pop("ONESH_CLUSTER", None)
    print(f"onesh = {' '.join(onesh)}; python = {sys.executable}; pairs alternate A B A B\n")
    print(f"{'':<12} {'A':<26}{'':>11}   {'B':<18}{'':>11}   {'A/B':>7}")

    def sh(shell: list[str], code: str) -> Callable[[], float]:
        return lambda: run_once([*shell, "-c", code], env)

    bash_true = onesh_true = 0.0
    if want & {"startup", "loop", "commands", "pipeline"}:
        onesh_true, py_pass = paired(sh(onesh, "true"), lambda: run_once([*py, "-c", "pass"], env), runs)
        if "startup" in want:
            line("start-up", "onesh -c true", onesh_true, "python3 -c pass", py_pass,
                 onesh_true / py_pass, "goal <= 2.5x")
        _, bash_true = paired(sh(onesh, "true"), sh(["bash"], "true"), runs)
        if "startup" in want:
            line("", "onesh -c true", onesh_true, "bash -c true", bash_true, onesh_true / bash_true, "")
            # A venv with an editable install makes every `python3 -c pass`
            # load its finder (pathlib, re ...): the bare interpreter too.
            o, bare = paired(sh(onesh, "true"), lambda: run_once([*py, "-S", "-c", "pass"], env), runs)
            line("", "onesh -c true", o, "python3 -S -c pass", bare, o / bare, "(no site: a lower bound)")

    if "repl" in want:
        onesh_times: list[tuple[float, float]] = []
        bash_times: list[tuple[float, float]] = []

        def onesh_prompt() -> float:
            onesh_times.append(first_prompt([*onesh, "-i"], env))
            return onesh_times[-1][0]

        def bash_prompt() -> float:
            bash_times.append(first_prompt(["bash", "--norc", "--noprofile", "-i"], env))
            return bash_times[-1][0]

        onesh_repl, bash_repl = paired(onesh_prompt, bash_prompt, max(5, runs // 2))
        line("repl", "onesh first prompt", onesh_repl, "bash first prompt", bash_repl,
             onesh_repl / bash_repl, f"goal: onesh <= 150 ms ({'met' if onesh_repl <= 0.150 else 'not met'})")
        editor = statistics.median(t[1] for t in onesh_times[1:])
        line("", "onesh line editor ready", editor, "bash first prompt", bash_repl, editor / bash_repl,
             "prompt_toolkit loaded and the prompt redrawn")

    def body_cost(code: str, n: int) -> None:
        o, b = paired(sh(onesh, code), sh(["bash"], code), slow_runs)
        net_o, net_b = o - onesh_true, b - bash_true
        print(f"{'':<12} {code[:60]}")
        line("", "  onesh", o, "bash", b, o / b, "whole command")
        line("", "  onesh - start-up", net_o, "bash - start-up", net_b, net_o / max(net_b, 1e-9),
             f"{net_o / n * 1e6:.1f} us vs {net_b / n * 1e6:.1f} us per iteration")

    if "loop" in want:
        print("for-loop     goal <= 6x bash after subtracting each shell's start-up")
        body_cost("for i in $(seq 1 10000); do :; done", 10000)
        # arithmetic loops: the condition and step are evaluated each time
        body_cost("for ((i = 0; i < 10000; i++)); do :; done", 10000)
        body_cost("x=0; for ((i = 0; i < 10000; i++)); do ((x += i * 2)); done", 10000)
    if "commands" in want:
        print("per command  builtins and functions, 10,000 calls")
        body_cost("i=0; while [ $i -lt 10000 ]; do i=$((i+1)); done", 10000)
        body_cost("for i in $(seq 1 10000); do true; done", 10000)
        body_cost("for i in $(seq 1 10000); do echo $i; done >/dev/null", 10000)
        body_cost("f() { :; }; for i in $(seq 1 10000); do f $i; done", 10000)
        body_cost("x=0; for ((i = 0; i < 10000; i++)); do x=$((x + i)); done", 10000)
    if "pipeline" in want:
        print("pipeline     goal <= 1.2x bash after subtracting each shell's start-up")
        body_cost("seq 1 1000000 | wc -l", 1)
    shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
