"""Device drivers: simulated sensors and real local files as namespace devices.

A runtime declares its devices as `KIND:N=DRIVER[,key=value...]`
(`onesh runtime --device sensor:1=sim:sine,rate=20,seed=7`); they appear in
the namespace as `/dev/KIND/N`.  Drivers:

- `sim:WAVE` — a simulated sensor, WAVE one of sine, square, sawtooth,
  random.  Options: `rate` (readings per second, default 20), `seed`
  (default: derived from KIND and N), `period` (seconds, default 5).
  Readings are lines, fully determined by (kind, n, seed):

      seq=17 t=0.850 value=0.9877 state=max

  `t` is the reading's logical time (seq / rate); `state` is low, mid,
  high or max by value (max above 0.9), so `grep x` picks the peaks.
  Streamed in real time (`rate` lines per second) unless pacing is off.
- `file:PATH` — a real local file, FIFO or character device, read as is.

`python -m onesh.runtime.devices SPEC [--count N] [--start I] [--no-pace]`
prints the same readings locally (SPEC as after --device, KIND:N= prefix
optional).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from onesh.parser.errors import OneshError

WAVES = ("sine", "square", "sawtooth", "random")
ENV = "ONESH_DEVICES"


class DeviceError(OneshError):
    status = 2


@dataclass(frozen=True)
class DeviceSpec:
    kind: str
    n: str
    driver: str  # "sim" | "file"
    arg: str  # wave name or path
    options: dict[str, str] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"/dev/{self.kind}/{self.n}"

    @property
    def rate(self) -> float:
        return float(self.options.get("rate", "20"))

    @property
    def seed(self) -> int:
        if "seed" in self.options:
            return int(self.options["seed"])
        digest = hashlib.sha256(f"{self.kind}:{self.n}".encode()).digest()
        return int.from_bytes(digest[:4], "big")


def parse_device_spec(text: str, key: str = "") -> DeviceSpec:
    """`[KIND:N=]DRIVER:ARG[,k=v...]`; `key` supplies KIND:N when separate."""
    if "=" in text.split(",", 1)[0] and not key:
        key, text = text.split("=", 1)
    kind, _, n = (key or "sensor:0").partition(":")
    if not kind or not n or not kind.replace("-", "").isalnum() or not n.replace(".", "").replace("-", "").isalnum():
        raise DeviceError(f"device {key!r}: expected KIND:N, e.g. sensor:1")
    head, *opts = text.split(",")
    driver, _, arg = head.partition(":")
    options: dict[str, str] = {}
    for o in opts:
        k, eq, v = o.partition("=")
        if not eq:
            raise DeviceError(f"device {kind}:{n}: option {o!r} is not KEY=VALUE")
        options[k] = v
    if driver == "sim":
        if arg not in WAVES:
            raise DeviceError(f"device {kind}:{n}: unknown waveform {arg!r} (one of {', '.join(WAVES)})")
        for k in options:
            if k not in ("rate", "seed", "period"):
                raise DeviceError(f"device {kind}:{n}: unknown option {k!r} (rate, seed, period)")
        try:
            if float(options.get("rate", "20")) <= 0 or float(options.get("period", "5")) <= 0:
                raise ValueError
            int(options.get("seed", "0"))
        except ValueError:
            raise DeviceError(f"device {kind}:{n}: rate and period must be positive numbers, seed an integer") from None
    elif driver == "file":
        if not arg:
            raise DeviceError(f"device {kind}:{n}: file: needs a path (file:/dev/ttyUSB0)")
    else:
        raise DeviceError(f"device {kind}:{n}: unknown driver {driver!r} (sim:WAVE or file:PATH)")
    return DeviceSpec(kind, n, driver, arg, options)


def _value(spec: DeviceSpec, i: int, rng: random.Random) -> float:
    period = float(spec.options.get("period", "5"))
    phase = (i / spec.rate) / period
    noise = rng.gauss(0.0, 0.05)
    if spec.arg == "sine":
        base = math.sin(2 * math.pi * phase)
    elif spec.arg == "square":
        base = 1.0 if phase % 1.0 < 0.5 else -1.0
    elif spec.arg == "sawtooth":
        base = 2.0 * (phase % 1.0) - 1.0
    else:
        base = rng.uniform(-1.0, 1.0)
    return base + noise


def _state(v: float) -> str:
    if v > 0.9:
        return "max"
    if v > 0.3:
        return "high"
    if v > -0.3:
        return "mid"
    return "low"


def sensor_lines(spec: DeviceSpec, start: int = 0, count: int | None = None) -> Iterator[bytes]:
    """Readings start..start+count-1 (forever when count is None); pure."""
    rng = random.Random(spec.seed)
    i = 0
    while count is None or i < start + count:
        v = _value(spec, i, rng)
        if i >= start:
            yield f"seq={i} t={i / spec.rate:.3f} value={v:.4f} state={_state(v)}\n".encode()
        i += 1


class SensorReader:
    """A blocking, file-like stream of readings, paced at the sensor's rate."""

    def __init__(self, spec: DeviceSpec, pace: bool = True) -> None:
        self.lines = sensor_lines(spec)
        self.interval = 1.0 / spec.rate if pace else 0.0
        self.next_at = time.monotonic()
        self.closed = False

    def readline(self, size: int = -1) -> bytes:
        if self.interval:
            delay = self.next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.next_at = max(self.next_at + self.interval, time.monotonic() - 1.0)
        return next(self.lines)

    def read(self, size: int = -1) -> bytes:
        return self.readline()

    read1 = read

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> SensorReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            yield self.readline()


def open_device(spec: DeviceSpec, pace: bool = True) -> BinaryIO | SensorReader:
    if spec.driver == "sim":
        return SensorReader(spec, pace)
    return open(spec.arg, "rb", buffering=0)


def local_devices_from_env(env: dict[str, str] | None = None) -> dict[str, DeviceSpec]:
    """`ONESH_DEVICES="sensor:1=sim:sine;log:1=file:/var/log/x"` → {"/dev/sensor/1": spec}."""
    text = (env if env is not None else os.environ).get(ENV, "")
    out: dict[str, DeviceSpec] = {}
    for item in filter(None, text.split(";")):
        key, _, drv = item.partition("=")
        spec = parse_device_spec(drv, key)
        out[spec.path] = spec
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m onesh.runtime.devices",
                                description="Print a device's readings locally (as the cluster streams them).")
    p.add_argument("spec", help="KIND:N=sim:WAVE[,rate=R,seed=S] or sim:WAVE[...]")
    p.add_argument("--count", type=int)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--no-pace", action="store_true")
    a = p.parse_args(argv)
    try:
        spec = parse_device_spec(a.spec)
    except DeviceError as e:
        sys.stderr.write(f"devices: {e.message}\n")
        return 2
    if spec.driver != "sim":
        sys.stderr.write("devices: only simulated sensors can be reproduced\n")
        return 2
    out = sys.stdout.buffer
    reader = SensorReader(spec, pace=not a.no_pace)
    lines = sensor_lines(spec, a.start, a.count) if a.no_pace else None
    try:
        if lines is not None:
            for line in lines:
                out.write(line)
        else:
            for k, line in enumerate(reader):
                if a.count is not None and k >= a.start + a.count:
                    break
                if k >= a.start:
                    out.write(line)
                    out.flush()
        out.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
