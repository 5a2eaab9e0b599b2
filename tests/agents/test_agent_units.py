"""The pieces of the evaluation-context replacement that need no cluster:
recognizing program stages, placing them, the union rule, program
bundles, and the launchers with nothing to attach to (every path is then
the host's: a program behaves exactly as under its plain interpreter)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onesh import union
from onesh.engine.programstages import Program, recognize, shebang
from onesh.kernel.scheduler import PlacementError, RuntimeFacts, StageNeeds, place_stages
from onesh.runtime import bundles

PROGRAMS = Path(__file__).parent / "programs"
NODE = shutil.which("node") is not None


def no_file(_path: str) -> bytes | None:
    return None


@pytest.mark.parametrize("argv,kind,flags,script,module,args", [
    (["python3", "x.py", "a"], "python", [], "x.py", None, ["a"]),
    (["python3", "-u", "x.py"], "python", ["-u"], "x.py", None, []),
    (["/usr/bin/python3.11", "-uB", "-W", "error", "-Xdev", "x.py", "-v"], "python",
     ["-uB", "-W", "error", "-Xdev"], "x.py", None, ["-v"]),
    (["python3", "-m", "json.tool", "f.json"], "python", [], None, "json.tool", ["f.json"]),
    (["python", "-OO", "-m", "mod"], "python", ["-OO"], None, "mod", []),
    (["./filter.py", "-n", "3"], "python", [], "./filter.py", None, ["-n", "3"]),
    (["node", "x.js", "a"], "node", [], "x.js", None, ["a"]),
    (["node", "--enable-source-maps", "-r", "dotenv/config", "x.mjs"], "node",
     ["--enable-source-maps", "-rdotenv/config"], "x.mjs", None, []),
    (["tool.cjs"], "node", [], "tool.cjs", None, []),
])
def test_program_stages_are_recognized(argv: list[str], kind: str, flags: list[str], script: str | None,
                                       module: str | None, args: list[str]) -> None:
    p = recognize(argv, no_file)
    assert p is not None
    assert (p.kind, p.flags, p.script, p.module, p.args) == (kind, flags, script, module, args)
    assert p.interpreter == {"python": "python3", "node": "node"}[kind]


@pytest.mark.parametrize("argv", [["python3", "-c", "print(1)"], ["python3"], ["python3", "-"],
                                  ["python3", "-i", "x.py"], ["node", "-e", "1"], ["node"],
                                  ["node", "--eval=1"], ["grep", "x.py"], ["./tool"], ["pythonista", "x.py"]])
def test_other_commands_stay_external(argv: list[str]) -> None:
    assert recognize(argv, no_file) is None


def test_a_shebang_names_the_interpreter() -> None:
    heads = {"./tool": b"#!/usr/bin/env python3 -u\nprint(1)\n", "./serve": b"#!/usr/bin/env -S node --x\n",
             "./sh": b"#!/bin/sh\n"}
    tool = recognize(["./tool", "a"], heads.get)
    assert tool is not None and (tool.kind, tool.flags, tool.script, tool.args) == ("python", ["-u"], "./tool", ["a"])
    serve = recognize(["./serve"], heads.get)
    assert serve is not None and (serve.kind, serve.flags) == ("node", ["--x"])
    assert recognize(["./sh"], heads.get) is None
    assert shebang(b"no") is None


def facts(**interpreters: dict[str, str] | None) -> dict[str, RuntimeFacts]:
    return {n: RuntimeFacts(n, True, {}, interpreters=i) for n, i in interpreters.items()}


def test_a_program_goes_only_where_its_interpreter_is() -> None:
    rts = facts(r1={"python3": "3.11.7"}, r2={"python3": "3.11.7", "node": "v20.0.0"}, r3=None)
    node = StageNeeds("node x.js", interpreter="node")
    assert place_stages([node], rts, "r1")[0][0] == "r2"
    # a Python stage may go anywhere (a runtime that says nothing runs Python: it is one)
    py = StageNeeds("python3 x.py", interpreter="python3")
    assert place_stages([py], rts, "r3")[0][0] == "r3"
    # data locality first, among those that can run it
    reader = StageNeeds("node x.js /d", interpreter="node", files=[("/d", ["r1", "r2"])])
    assert place_stages([reader], rts, "r1")[0] == ("r2", "reads /d, stored on r2")
    # no holder of the data has node: it runs where node is, reading over the network
    far = StageNeeds("node x.js /e", interpreter="node", files=[("/e", ["r1", "r3"])])
    assert place_stages([far], rts, "r1")[0][0] == "r2"
    # a neighbour follows an unconstrained program stage where it can
    assert [r for r, _ in place_stages([StageNeeds("cat"), node], rts, "r1")] == ["r2", "r2"]


def test_no_runtime_with_the_interpreter_is_a_clear_error() -> None:
    rts = facts(r1={"python3": "3.11.7"}, r2=None)
    with pytest.raises(PlacementError, match=r"node x.js: no live runtime has node"):
        place_stages([StageNeeds("node x.js", interpreter="node")], rts, "r1")
    with pytest.raises(PlacementError, match=r"@zone=b: no live runtime with that tag has node"):
        place_stages([StageNeeds("node x.js", interpreter="node", pin_tag=("zone", "b"))], rts, "r1")


def test_needs_travel_with_the_interpreter() -> None:
    n = StageNeeds("node x.js", interpreter="node", files=[("/d", ["r1"])])
    assert StageNeeds.from_wire(n.to_wire()) == n


def test_the_union_rule() -> None:
    assert union.under_namespace_root("/net/r2/etc/hosts")
    assert union.under_namespace_root("/pipes/x")
    assert union.under_namespace_root("/dev/sensor/1", exists=lambda p: False)
    assert not union.under_namespace_root("/dev/null", exists=lambda p: True)
    assert not union.under_namespace_root("/home/me/x")
    # a new name: the namespace's if it has the name or the host has no directory for it
    assert union.new_name_in_namespace(ns_has_it=True, host_has_dir=True)
    assert not union.new_name_in_namespace(ns_has_it=False, host_has_dir=True)
    assert union.new_name_in_namespace(ns_has_it=False, host_has_dir=False)
    assert union.host_only("/usr/lib/python3/x.py", ("/usr/lib/python3",))
    assert union.host_only("/usr/lib/python3", ("/usr/lib/python3",))
    assert not union.host_only("/usr/lib/python3x/y", ("/usr/lib/python3",))


def test_a_bundle_is_the_script_and_what_it_may_import(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("import helper\n")
    (tmp_path / "helper.py").write_text("X = 1\n")
    (tmp_path / "notes.md").write_text("not code\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("")
    (tmp_path / "data").mkdir()  # not a package: not importable
    (tmp_path / "data" / "big.py").write_text("")
    (tmp_path / "lib.js").write_text("")
    files = bundles.read_local(str(tmp_path / "main.py"), "python")
    assert sorted(files) == ["helper.py", "main.py", "pkg/__init__.py", "pkg/mod.py"]
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "dep.js").write_text("")
    (tmp_path / "package.json").write_text("{}")
    assert sorted(bundles.read_local(str(tmp_path / "lib.js"), "node")) == ["lib.js", "package.json"]
    out = tmp_path / "out"
    out.mkdir()
    bundles.write(files, str(out))
    assert (out / "pkg" / "mod.py").exists() and (out / "helper.py").read_text() == "X = 1\n"
    with pytest.raises(ValueError):
        bundles.write({"../evil.py": ""}, str(out))


def test_a_bundle_over_its_limits_says_what_it_left_out(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundles, "MAX_FILES", 3)
    for i in range(5):
        (tmp_path / f"m{i}.py").write_text("")
    files = bundles.read_local(str(tmp_path / "m0.py"), "python")
    assert len(files) == 3 and "m0.py" in files
    assert "2 file(s) beside" in capsys.readouterr().err


# ------------------------------------------------------------ launchers
def unattached_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("ONESH_")}


def launch(module: str, *args: str, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env=unattached_env(), cwd=cwd)


def test_the_python_launcher_runs_a_script_as_python_does(tmp_path: Path) -> None:
    script = tmp_path / "prog.py"
    script.write_text("import os, sys\nimport sibling\n"
                      "print(__name__, os.path.basename(__file__), sys.argv[1:], sibling.X,\n"
                      "      sys.path[0] == os.path.dirname(os.path.realpath(__file__)))\n"
                      "sys.exit(int(sys.argv[1]))\n")
    (tmp_path / "sibling.py").write_text("X = 'sib'\n")
    for code in ("0", "3"):
        plain = subprocess.run([sys.executable, str(script), code], capture_output=True, text=True)
        agent = launch("onesh.runtime.agent", str(script), code)
        assert (agent.returncode, agent.stdout, agent.stderr) == (plain.returncode, plain.stdout, plain.stderr)
        assert agent.stdout == f"__main__ prog.py ['{code}'] sib True\n"
    # a stdin filter gives what plain python gives
    data = "".join(f"line {i}\n" for i in range(5000))
    filt = str(PROGRAMS / "linefilter.py")
    plain = subprocess.run([sys.executable, filt, "7"], input=data, capture_output=True, text=True)
    agent = launch("onesh.runtime.agent", filt, "7", stdin=data)
    assert (agent.returncode, agent.stdout, agent.stderr) == (0, plain.stdout, plain.stderr)
    # -m MODULE, and a missing script
    assert launch("onesh.runtime.agent", "-m", "json.tool", stdin='{"a":1}').stdout == '{\n    "a": 1\n}\n'
    missing = launch("onesh.runtime.agent", str(tmp_path / "nope.py"))
    assert missing.returncode == 2 and "can't open file" in missing.stderr


def test_a_traceback_shows_only_the_programs_frames(tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text("def f():\n    raise ValueError('boom')\nf()\n")
    r = launch("onesh.runtime.agent", str(script))
    assert r.returncode == 1
    assert r.stderr.splitlines()[1].startswith(f'  File "{script}", line 3')
    assert "onesh" not in r.stderr and "runpy" not in r.stderr


@pytest.mark.parametrize("attached", [False, True])
def test_output_flows_in_frames_without_waiting_for_exit(tmp_path: Path, attached: bool) -> None:
    """A slow producer's lines arrive while it runs (a frame waits at most
    50 ms), and Ctrl-C ends it as it ends plain python: killed by SIGINT,
    with its traceback (whose source lines are read from the host, even
    with a cluster, here one that does not exist, to ask)."""
    env = unattached_env()
    if attached:
        env.update(ONESH_BOOT="tcp://127.0.0.1:9", ONESH_SECRET=str(tmp_path / "no-secret"), ONESH_RUNTIME="r9")
    proc = subprocess.Popen([sys.executable, "-m", "onesh.runtime.agent", "--on-host", str(PROGRAMS / "counter.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        t0 = time.monotonic()
        assert proc.stdout.readline() == "0\n"
        assert proc.stdout.readline() == "1\n"
        assert time.monotonic() - t0 < 10
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGINT, err
    assert err.splitlines()[-1] == "KeyboardInterrupt"
    assert err.splitlines()[-2].strip() in ("time.sleep(1)", "print(n, flush=False)", "n += 1")


@pytest.mark.skipif(not NODE, reason="node is not installed")
def test_the_node_launcher_runs_a_script_as_node_does(tmp_path: Path) -> None:
    for name in ("linefilter.cjs", "linefilter.mjs"):
        data = "".join(f"line {i}\n" for i in range(3000))
        plain = subprocess.run(["node", str(PROGRAMS / name), "7"], input=data, capture_output=True, text=True)
        agent = launch("onesh.runtime.nodeagent", str(PROGRAMS / name), "7", stdin=data)
        assert (agent.returncode, agent.stdout, agent.stderr) == (0, plain.stdout, plain.stderr)
    script = tmp_path / "exit.js"
    script.write_text("process.stdout.write('bye\\n'); process.exit(5);\n")
    r = launch("onesh.runtime.nodeagent", "--node-option", "--no-warnings", str(script))
    assert (r.returncode, r.stdout) == (5, "bye\n")


def test_a_program_wire_carries_what_the_stage_host_needs() -> None:
    from onesh.runtime.launch import program_argv

    prog = Program("python", ["-u"], script="x.py", args=["a"])
    argv = program_argv({"argv": ["python3", "-u", "x.py", "a"], "program": prog.wire()}, "r1")
    assert argv == [sys.executable, "-u", "-m", "onesh.runtime.agent", "--on-host", "x.py", "a"]
    stored = Program("python", [], script="/apps/x.py", source="namespace")
    assert program_argv({"program": stored.wire()}, "r1")[-2:] == ["onesh.runtime.agent", "/apps/x.py"]
    mod = Program("python", [], module="json.tool")
    assert program_argv({"program": mod.wire()}, "r1")[-2:] == ["-m", "json.tool"]


def test_a_filter_that_opens_no_file_never_asks_the_cluster(tmp_path: Path) -> None:
    """Placed on a runtime, a script the planner found on the host
    (--on-host) that opens no file runs without a namespace client: the
    cluster named here does not even exist."""
    env = {**unattached_env(), "ONESH_BOOT": "tcp://127.0.0.1:9", "ONESH_SECRET": str(tmp_path / "no-secret"),
           "ONESH_RUNTIME": "r9", "ONESH_PWD": str(tmp_path)}
    data = "".join(f"line {i}\n" for i in range(100))
    r = subprocess.run([sys.executable, "-m", "onesh.runtime.agent", "--on-host", str(PROGRAMS / "linefilter.py"),
                        "7"], input=data, capture_output=True, text=True, timeout=20, env=env, cwd=tmp_path)
    assert (r.returncode, r.stderr) == (0, "19 matching\n")
    assert r.stdout.splitlines()[0] == "1: LINE 7"
