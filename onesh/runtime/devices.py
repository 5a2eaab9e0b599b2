"""Device drivers: simulated sensors and real local files as namespace devices.

A runtime declares its devices as `KIND:N=DRIVER[,key=value...]`
(`onesh runtime --device sensor:1=sim:sine,rate=20,seed=7`); they appear in
the namespace as `/dev/KIND/N`.  Drivers:

- `sim:WAVE` — a simulated sensor, WAVE one of sine, square, sawtooth,
  random.  Options: `rate` (readings per second, default 20), `seed`
  (default: derived from KIND and N), `period` (seconds of one wave,
  default 5).  Readings are lines, fully determined by (kind, n, options):

      seq=17 t=0.850 value=0.9877 state=max

  `seq` counts readings from 0; `t` is the reading's logical time in
  seconds (seq / rate, three decimals); `value` is the waveform (amplitude
  1) plus seeded gaussian noise (sigma 0.05), four decimals; `state` is
  `max` above 0.9, `high` above 0.3, `mid` above -0.3, else `low`.  Only
  `max` contains an "x", so `cat /dev/sensor/1 | grep x` keeps the peaks
  (about 14% of a sine's readings).  A stream is paced in real time
  (`rate` lines per second) unless pacing is off; the content never
  depends on timing.
- `file:PATH` — a real local file, FIFO or character device, read as is:
  a regular file to its end, a FIFO or character device until EOF.

Stages learn the devices local to their runtime from the environment:
`ONESH_DEVICES="sensor:1=sim:sine;sensor:2=sim:square,seed=3"`
(`local_devices_from_env()`, keyed by "sensor/1").

`python -m onesh.runtime.devices SPEC [--count N] [--start I] [--no-pace]`
prints the same readings locally (SPEC as after --device; the `KIND:N=`
prefix is optional and defaults to sensor:0 — give it, since the default
seed depends on it).
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

from onesh.errors import OneshError

WAVES = ("sine", "square", "sawtooth", "random")
SIM_OPTIONS = ("rate", "seed", "period")
DEFAULT_RATE = 20.0
ENV = "ONESH_DEVICES"


class DeviceError(OneshError):
    status = 2


@dataclass(frozen=True)
class DeviceSpec:
    kind: str
    n: str
    driver: str  # "sim" | "file"
    arg: str  # wave name or path
    options: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        """"sensor/1": the name under /dev."""
        return f"{self.kind}/{self.n}"

    @property
    def path(self) -> str:
        return f"/dev/{self.kind}/{self.n}"

    @property
    def rate(self) -> float:
        return float(self.options.get("rate", DEFAULT_RATE))

    @property
    def period(self) -> float:
        return float(self.options.get("period", "5"))

    @property
    def seed(self) -> int:
        if "seed" in self.options:
            return int(self.options["seed"])
        digest = hashlib.sha256(f"{self.kind}:{self.n}".encode()).digest()
        return int.from_bytes(digest[:4], "big")

    def text(self) -> str:
        """The spec back as text (`sensor:1=sim:sine,rate=50`)."""
        opts = "".join(f",{k}={v}" for k, v in self.options.items())
        return f"{self.kind}:{self.n}={self.driver}:{self.arg}{opts}"


def _name_ok(s: str) -> bool:
    return bool(s) and all(c.isalnum() or c in "-_." for c in s) and s[0].isalnum()


def parse_device_spec(text: str, key: str = "") -> DeviceSpec:
    """`[KIND:N=]DRIVER:ARG[,k=v...]`; `key` supplies KIND:N when separate.

    Raises DeviceError (status 2) naming the bad part."""
    first = text.split(",", 1)[0]
    if not key and "=" in first:
        key, text = text.split("=", 1)
    key = key or "sensor:0"
    kind, colon, n = key.partition(":")
    if not colon or not _name_ok(kind) or not _name_ok(n):
        raise DeviceError(f"device {key!r}: expected KIND:N, e.g. sensor:1")
    where = f"device {kind}:{n}"
    head, *opts = text.split(",")
    driver, colon, arg = head.partition(":")
    if not colon:
        raise DeviceError(f"{where}: driver {head!r}: expected sim:WAVE or file:PATH")
    if driver == "file":
        # A path may itself contain commas: take the text after "file:" whole.
        path = text[len("file:"):]
        if not path:
            raise DeviceError(f"{where}: file: needs a path (file:/dev/ttyUSB0)")
        return DeviceSpec(kind, n, "file", path, {})
    if driver != "sim":
        raise DeviceError(f"{where}: unknown driver {driver!r} (sim:WAVE or file:PATH)")
    if arg not in WAVES:
        raise DeviceError(f"{where}: unknown waveform {arg!r} (one of {', '.join(WAVES)})")
    options: dict[str, str] = {}
    for o in opts:
        k, eq, v = o.partition("=")
        if not eq:
            raise DeviceError(f"{where}: option {o!r} is not KEY=VALUE")
        if k not in SIM_OPTIONS:
            raise DeviceError(f"{where}: unknown option {k!r} (one of {', '.join(SIM_OPTIONS)})")
        try:
            if k == "seed":
                int(v)
            elif not (float(v) > 0 and math.isfinite(float(v))):
                raise ValueError
        except ValueError:
            what = "an integer" if k == "seed" else "a positive number"
            raise DeviceError(f"{where}: option {k}={v!r}: expected {what}") from None
        options[k] = v
    return DeviceSpec(kind, n, "sim", arg, options)


def _value(spec: DeviceSpec, i: int, rng: random.Random) -> float:
    phase = (i / spec.rate) / spec.period
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


def state_of(v: float) -> str:
    if v > 0.9:
        return "max"
    if v > 0.3:
        return "high"
    if v > -0.3:
        return "mid"
    return "low"


def sensor_lines(spec: DeviceSpec, start: int = 0, count: int | None = None) -> Iterator[bytes]:
    """Readings start..start+count-1 (forever when count is None); pure."""
    if spec.driver != "sim":
        raise DeviceError(f"device {spec.kind}:{spec.n}: not a simulated sensor")
    rng = random.Random(spec.seed)
    rate = spec.rate
    i = 0
    while count is None or i < start + count:
        v = _value(spec, i, rng)
        if i >= start:
            yield f"seq={i} t={i / rate:.3f} value={v:.4f} state={state_of(v)}\n".encode()
        i += 1


class DeviceReader:
    """A simulated sensor as a blocking binary reader that never ends.

    read(n)/read1(n) return what is ready (at least one byte, at most n,
    waiting for the next reading when nothing is buffered); readline()
    returns one reading.  Paced at the sensor's rate unless pace=False."""

    def __init__(self, spec: DeviceSpec, pace: bool = True, start: int = 0) -> None:
        self.spec = spec
        self.lines = sensor_lines(spec, start)
        self.interval = 1.0 / spec.rate if pace else 0.0
        self.next_at = time.monotonic()
        self.buf = b""
        self.closed = False

    def _next_line(self) -> bytes:
        if self.closed:
            raise ValueError("read of closed device")
        if self.interval:
            delay = self.next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            # Catch up after a stall, but never burst more than a second's worth.
            self.next_at = max(self.next_at + self.interval, time.monotonic() - 1.0)
        return next(self.lines)

    def readline(self, size: int = -1) -> bytes:
        if not self.buf:
            self.buf = self._next_line()
        cut = self.buf.find(b"\n") + 1 or len(self.buf)
        if size is not None and size >= 0:
            cut = min(cut, size)
        out, self.buf = self.buf[:cut], self.buf[cut:]
        return out

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            raise ValueError("a device never ends: read(-1) would block forever")
        if size == 0:
            return b""
        if not self.buf:
            self.buf = self._next_line()
            if not self.interval:
                # Unpaced: fill the request in one go.
                parts = [self.buf]
                total = len(self.buf)
                while total < size:
                    line = self._next_line()
                    parts.append(line)
                    total += len(line)
                self.buf = b"".join(parts)
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    read1 = read

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("a simulated device has no file descriptor")

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> DeviceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        while True:
            yield self.readline()


SensorReader = DeviceReader  # the earlier name


def open_device(spec: DeviceSpec, pace: bool = True) -> BinaryIO | DeviceReader:
    """A blocking binary reader of the device: a sensor streams forever, a
    file device to its EOF.  Raises OSError like open() for a file device."""
    if spec.driver == "sim":
        return DeviceReader(spec, pace)
    return open(spec.arg, "rb", buffering=0)


def is_stream(f: object) -> bool:
    """True for an interactive source (a sensor, FIFO, socket, tty, char
    device): its readers should pass data on as it comes."""
    if isinstance(f, DeviceReader):
        return True
    try:
        import stat

        fileno = getattr(f, "fileno", None)
        if fileno is None:
            return False
        mode = os.fstat(fileno()).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def parse_devices(text: str) -> dict[str, DeviceSpec]:
    """`sensor:1=sim:sine;log:1=file:/var/log/x` → {"sensor/1": spec, ...}."""
    out: dict[str, DeviceSpec] = {}
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        key, eq, drv = item.partition("=")
        if not eq:
            raise DeviceError(f"device {item!r}: expected KIND:N=DRIVER:ARG")
        spec = parse_device_spec(drv, key)
        out[spec.key] = spec
    return out


def local_devices_from_env(env: dict[str, str] | None = None) -> dict[str, DeviceSpec]:
    """The devices of this runtime ($ONESH_DEVICES), keyed by "sensor/1"."""
    return parse_devices((env if env is not None else os.environ).get(ENV, ""))


def device_for_path(path: str, env: dict[str, str] | None = None) -> DeviceSpec | None:
    """The local device a path like /dev/sensor/1 names, if any."""
    if not path.startswith("/dev/"):
        return None
    devices = local_devices_from_env(env)
    return devices.get(os.path.normpath(path)[len("/dev/"):])


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m onesh.runtime.devices",
                                description="Print a device's readings locally (as the cluster streams them).")
    p.add_argument("spec", help="[KIND:N=]sim:WAVE[,rate=R,seed=S,period=P] or [KIND:N=]file:PATH")
    p.add_argument("--count", type=int, help="stop after N readings (default: never)")
    p.add_argument("--start", type=int, default=0, help="first reading (seq) to print")
    p.add_argument("--no-pace", action="store_true", help="print as fast as possible")
    a = p.parse_args(argv)
    try:
        spec = parse_device_spec(a.spec)
    except DeviceError as e:
        sys.stderr.write(f"devices: {e.message}\n")
        return 2
    out = sys.stdout.buffer
    try:
        if spec.driver != "sim":
            with open_device(spec, pace=False) as f:
                while data := f.read(65536):
                    out.write(data)
                    out.flush()
            return 0
        if a.no_pace:
            for line in sensor_lines(spec, a.start, a.count):
                out.write(line)
        else:
            reader = DeviceReader(spec, pace=True, start=a.start)
            k = 0
            while a.count is None or k < a.count:
                out.write(reader.readline())
                out.flush()
                k += 1
        out.flush()
    except OSError as e:
        if isinstance(e, BrokenPipeError):
            _quiet_stdout()
            return 141
        sys.stderr.write(f"devices: {spec.arg}: {e.strerror or e}\n")
        return 1
    except KeyboardInterrupt:
        try:
            out.flush()
        except OSError:
            _quiet_stdout()
        return 130
    return 0


def _quiet_stdout() -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
