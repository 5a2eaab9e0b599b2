"""Device drivers and the agents on devices, FIFOs and signals (real processes)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from onesh.coreutils import files
from onesh.coreutils.common import Io, run_tool
from onesh.runtime.devices import (
    DeviceError,
    DeviceReader,
    local_devices_from_env,
    open_device,
    parse_device_spec,
    sensor_lines,
)

PY = sys.executable
AGENT = [PY, "-m", "onesh.coreutils"]


def env_with(devices: str) -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "ONESH_DEVICES": devices}


# ------------------------------------------------------------------ specs
def test_parse_specs() -> None:
    s = parse_device_spec("sensor:1=sim:sine")
    assert (s.kind, s.n, s.driver, s.arg, s.rate, s.path, s.key) == ("sensor", "1", "sim", "sine", 20.0,
                                                                    "/dev/sensor/1", "sensor/1")
    s = parse_device_spec("sim:square,rate=50,seed=7", "sensor:2")
    assert (s.rate, s.seed, s.arg) == (50.0, 7, "square")
    assert parse_device_spec(s.text()) == s
    f = parse_device_spec("tty:0=file:/dev/ttyS0,odd,name")
    assert (f.driver, f.arg) == ("file", "/dev/ttyS0,odd,name")


@pytest.mark.parametrize("text,part", [
    ("sensor:1=sim:cosine", "cosine"), ("sensor:1=sim:sine,rate=0", "rate"), ("sensor:1=sim:sine,seed=x", "seed"),
    ("sensor:1=sim:sine,color=red", "color"), ("sensor:1=sim:sine,rate", "rate"), ("sensor:1=usb:3", "usb"),
    ("sensor=sim:sine", "sensor"), ("sensor:1=file:", "path"), ("sensor:1=sim", "sim"),
])
def test_bad_specs_name_the_bad_part(text: str, part: str) -> None:
    with pytest.raises(DeviceError) as e:
        parse_device_spec(text)
    assert e.value.status == 2 and part in e.value.message


def test_env_convention() -> None:
    devs = local_devices_from_env({"ONESH_DEVICES": "sensor:1=sim:sine; sensor:2=sim:square,seed=3;;"})
    assert sorted(devs) == ["sensor/1", "sensor/2"] and devs["sensor/2"].seed == 3
    assert local_devices_from_env({}) == {}


# ------------------------------------------------------------ determinism
def test_sensor_is_deterministic() -> None:
    a = parse_device_spec("sensor:1=sim:sine,seed=7")
    first = list(sensor_lines(a, count=200))
    assert first == list(sensor_lines(parse_device_spec("sensor:1=sim:sine,seed=7"), count=200))
    assert first != list(sensor_lines(parse_device_spec("sensor:1=sim:sine,seed=8"), count=200))
    assert list(sensor_lines(a, start=50, count=10)) == first[50:60]
    # default seed depends on the device's name
    assert list(sensor_lines(parse_device_spec("sensor:1=sim:sine"), count=20)) != \
        list(sensor_lines(parse_device_spec("sensor:2=sim:sine"), count=20))
    line = first[17].decode()
    assert line.startswith("seq=17 t=0.850 value=") and line.endswith("\n")
    states = [ln.split(b"state=")[1].strip() for ln in first]
    assert set(states) <= {b"low", b"mid", b"high", b"max"}
    peaks = sum(1 for ln in first if b"x" in ln)
    assert 0.08 * len(first) < peaks < 0.25 * len(first)  # the `grep x` demo keeps the peaks


@pytest.mark.parametrize("wave", ["sine", "square", "sawtooth", "random"])
def test_reader_matches_lines(wave: str) -> None:
    spec = parse_device_spec(f"sensor:3=sim:{wave},seed=5")
    expected = b"".join(sensor_lines(spec, count=30))
    r = DeviceReader(spec, pace=False)
    got = b""
    sizes = [1, 7, 100, 3, 5000]
    k = 0
    while len(got) < len(expected):
        got += r.read(sizes[k % len(sizes)])
        k += 1
    assert got[:len(expected)] == expected
    r2 = open_device(spec, pace=False)
    assert [r2.readline() for _ in range(30)] == list(sensor_lines(spec, count=30))
    r2.close()


def test_paced_reader_streams_at_rate() -> None:
    spec = parse_device_spec("sensor:1=sim:sine,rate=200")
    r = DeviceReader(spec, pace=True)
    assert [r.readline() for _ in range(10)] == list(sensor_lines(spec, count=10))


def test_cli_reproduces_readings() -> None:
    spec = parse_device_spec("sensor:4=sim:sawtooth,seed=11")
    p = subprocess.run([PY, "-m", "onesh.runtime.devices", "sensor:4=sim:sawtooth,seed=11", "--count", "25",
                        "--start", "5", "--no-pace"], capture_output=True, timeout=30, check=True)
    assert p.stdout == b"".join(sensor_lines(spec, start=5, count=25))
    p = subprocess.run([PY, "-m", "onesh.runtime.devices", "sensor:4=sim:sawtooth,seed=11,rate=500", "--count",
                        "4"], capture_output=True, timeout=30, check=True)
    assert p.stdout.count(b"\n") == 4
    bad = subprocess.run([PY, "-m", "onesh.runtime.devices", "sensor:4=sim:nope"], capture_output=True, timeout=30)
    assert bad.returncode == 2 and b"nope" in bad.stderr and b"Traceback" not in bad.stderr


# ------------------------------------------------------------- agents on devices
def test_head_of_sensor_ends_cleanly() -> None:
    devices = "sensor:1=sim:sine;sensor:2=sim:square,seed=3"
    p = subprocess.run([*AGENT, "head", "-n", "5", "/dev/sensor/1"], capture_output=True, timeout=30,
                       env=env_with(devices))
    assert p.returncode == 0 and p.stderr == b""
    assert p.stdout == b"".join(sensor_lines(parse_device_spec("sensor:1=sim:sine"), count=5))


def test_grep_of_sensor_matches_local_reproduction() -> None:
    devices = "sensor:1=sim:sine,rate=2000"
    p = subprocess.run(f"{PY} -m onesh.coreutils cat /dev/sensor/1 | {PY} -m onesh.coreutils grep x | "
                       f"{PY} -m onesh.coreutils head -n 20; echo \"${{PIPESTATUS[*]}}\" >&2",
                       shell=True, executable="/bin/bash", capture_output=True, timeout=60, env=env_with(devices))
    spec = parse_device_spec(devices)
    expected = list(islice((ln for ln in sensor_lines(spec) if b"x" in ln), 20))
    assert p.stdout == b"".join(expected)
    assert p.stderr.split()[-1] == b"0"  # head ended cleanly; cat/grep got SIGPIPE semantics
    assert b"Traceback" not in p.stderr


def test_file_device_regular_file_and_missing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"one\ntwo\n")
    devices = f"log:1=file:{data};log:2=file:{tmp_path / 'missing'}"
    p = subprocess.run([*AGENT, "cat", "/dev/log/1"], capture_output=True, timeout=30, env=env_with(devices))
    assert (p.stdout, p.returncode) == (b"one\ntwo\n", 0)
    p = subprocess.run([*AGENT, "wc", "-l", "/dev/log/1"], capture_output=True, timeout=30, env=env_with(devices))
    assert p.stdout == b"2 /dev/log/1\n"
    p = subprocess.run([*AGENT, "cat", "/dev/log/2"], capture_output=True, timeout=30, env=env_with(devices))
    assert p.returncode == 1 and p.stderr == b"cat: /dev/log/2: No such file or directory\n"


def test_cat_of_fifo_device_streams_to_eof(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    devices = f"pipe:1=file:{fifo}"
    p = subprocess.Popen([*AGENT, "cat", "/dev/pipe/1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=env_with(devices))
    assert p.stdout is not None
    with open(fifo, "wb", buffering=0) as w:
        w.write(b"first\n")
        assert p.stdout.readline() == b"first\n"  # passed on before EOF
        w.write(b"second\n")
    out, err = p.communicate(timeout=30)
    assert (out, err, p.returncode) == (b"second\n", b"", 0)


def test_grep_of_fifo_device_passes_lines_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    p = subprocess.Popen([*AGENT, "grep", "--line-buffered", "x", "/dev/pipe/1"], stdout=subprocess.PIPE,
                         env=env_with(f"pipe:1=file:{fifo}"))
    assert p.stdout is not None
    with open(fifo, "wb", buffering=0) as w:
        w.write(b"a\nxa\nb\n")
        assert p.stdout.readline() == b"xa\n"
    assert p.wait(timeout=30) == 0


def test_tail_follow_of_stream_device_passes_through() -> None:
    p = subprocess.run(f"{PY} -m onesh.coreutils tail -f /dev/sensor/1 | {PY} -m onesh.coreutils head -n 3",
                       shell=True, capture_output=True, timeout=30, env=env_with("sensor:1=sim:random,rate=500"))
    assert p.stdout == b"".join(sensor_lines(parse_device_spec("sensor:1=sim:random,rate=500"), count=3))


def test_tail_follow_of_growing_file(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"old1\nold2\nold3\n")
    p = subprocess.Popen([*AGENT, "tail", "-n", "1", "-s", "0.05", "-f", str(log)], stdout=subprocess.PIPE)
    assert p.stdout is not None
    try:
        assert p.stdout.readline() == b"old3\n"
        with open(log, "ab") as f:
            f.write(b"new\n")
        assert p.stdout.readline() == b"new\n"
    finally:
        p.send_signal(signal.SIGINT)
        assert p.wait(timeout=30) == 130


# ------------------------------------------------------------- opener
def test_registered_resolver_serves_paths() -> None:
    def resolver(path: str) -> Any:
        return io.BytesIO(b"from the namespace\nx\n") if path == "/ns/file" else None

    files.register_resolver(resolver)
    try:
        out = io.BytesIO()
        assert run_tool(["grep", "-c", "", "/ns/file"], Io("grep", io.BytesIO(), out, io.BytesIO())) == 0
        assert out.getvalue() == b"2\n"
    finally:
        files.unregister_resolver(resolver)


def test_device_wins_over_resolvers_and_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESH_DEVICES", "sensor:9=sim:sine,rate=1000")
    f = files.open_input("/dev/sensor/9")
    assert isinstance(f, DeviceReader)
    f.close()
    with pytest.raises(FileNotFoundError):
        files.open_input("/dev/sensor/8")


# ------------------------------------------------------------- signals
def test_sigpipe_is_quiet_141() -> None:
    for cmd in ("cat /dev/zero", "cat -n /dev/zero", "tr '\\0' x < /dev/zero",
                "tail -f /dev/zero", "tee < /dev/zero"):
        p = subprocess.run(f"{PY} -m onesh.coreutils {cmd} | head -c 10 >/dev/null; echo ${{PIPESTATUS[0]}}",
                           shell=True, executable="/bin/bash", capture_output=True, timeout=60)
        assert p.stdout == b"141\n", cmd
        assert p.stderr == b"", (cmd, p.stderr)


def test_sigpipe_from_device_stream() -> None:
    p = subprocess.run(f"{PY} -m onesh.coreutils cat /dev/sensor/1 | head -n 2 >/dev/null; "
                       "echo ${PIPESTATUS[0]}", shell=True, executable="/bin/bash", capture_output=True, timeout=60,
                       env=env_with("sensor:1=sim:sine,rate=1000"))
    assert p.stdout == b"141\n" and p.stderr == b""


def _wait_for(pred: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_sigint_keeps_what_grep_had_seen(tmp_path: Path) -> None:
    """`cat /dev/sensor/1 | grep x > file` interrupted: statuses 130, no
    traceback, the file holds exactly a prefix of the matching readings."""
    devices = "sensor:1=sim:sine,rate=400"
    out = tmp_path / "sensor-1.log"
    with open(out, "wb") as sink:
        cat = subprocess.Popen([*AGENT, "cat", "/dev/sensor/1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env_with(devices), process_group=0)
        grep = subprocess.Popen([*AGENT, "grep", "x"], stdin=cat.stdout, stdout=sink, stderr=subprocess.PIPE,
                                process_group=cat.pid)
    assert cat.stdout is not None
    cat.stdout.close()
    _wait_for(lambda: out.stat().st_size > 200, "matches")
    os.killpg(cat.pid, signal.SIGINT)  # Ctrl-C: SIGINT to every stage of the job
    assert grep.wait(timeout=30) in (130, 0)  # 0 when cat's exit reached grep first (EOF)
    assert cat.wait(timeout=30) == 130
    assert cat.stderr is not None and grep.stderr is not None
    assert cat.stderr.read() == b"" and grep.stderr.read() == b""
    got = out.read_bytes()
    assert got.endswith(b"\n")
    lines = got.splitlines(keepends=True)
    expected = list(islice((ln for ln in sensor_lines(parse_device_spec(devices)) if b"x" in ln), len(lines)))
    assert lines == expected


def test_sigint_exits_130_quietly_after_passing_lines_on() -> None:
    p = subprocess.Popen([*AGENT, "grep", "keep"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    assert p.stdin is not None and p.stdout is not None
    p.stdin.write(b"keep 1\ndrop\n")
    p.stdin.flush()
    assert p.stdout.readline() == b"keep 1\n"
    p.stdin.write(b"drop\nkeep 2\n")
    p.stdin.flush()
    assert p.stdout.readline() == b"keep 2\n"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert (out, err, p.returncode) == (b"", b"", 130)


def test_no_traceback_on_unexpected_errors(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    p = subprocess.run([*AGENT, "tee", str(d)], input=b"x\n", capture_output=True, timeout=30)
    assert p.returncode == 1 and b"Traceback" not in p.stderr and p.stdout == b"x\n"


def test_streaming_reader_thread_safety_of_pacing() -> None:
    # A reader closed from another thread stops cleanly.
    r = DeviceReader(parse_device_spec("sensor:1=sim:sine,rate=100"), pace=True)
    t = threading.Timer(0.05, r.close)
    t.start()
    with pytest.raises(ValueError):
        for _ in range(1000):
            r.readline()
    t.join()
