"""The init manifest: which kernel agents and services run, how many
replicas, and where they may run (tags).  TOML, like /etc/inittab.

    version = 1
    [agents.scheduler]
    replicas = 1
    [services.web]
    command = ["python3", "-m", "http.server", "8080"]
    replicas = 1
    tags = { role = "edge" }
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

from onesh.errors import OneshError

KERNEL_AGENTS = ("pubsub", "scheduler", "session", "fs", "storage")

DEFAULT_MANIFEST = """\
# onesh init manifest: the kernel agents every cluster runs.
version = 1

[agents.pubsub]
replicas = 1

[agents.scheduler]
replicas = 1

[agents.session]
replicas = 1

[agents.fs]
replicas = 1

[agents.storage]
replicas = 1
"""


class ManifestError(OneshError):
    status = 2


@dataclass(frozen=True)
class Unit:
    """One kernel agent or service; `slots` are its replica names."""

    name: str
    kind: str  # "agent" | "service"
    replicas: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()

    @property
    def slots(self) -> list[str]:
        return [self.name] if self.replicas == 1 else [f"{self.name}#{k}" for k in range(self.replicas)]


@dataclass(frozen=True)
class Manifest:
    version: int
    units: tuple[Unit, ...]
    text: str

    def slots(self) -> dict[str, Unit]:
        return {slot: u for u in self.units for slot in u.slots}


def parse_manifest(text: str, name: str = "manifest") -> Manifest:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{name}: {e}") from None
    version = data.get("version", 1)
    if not isinstance(version, int) or version < 1:
        raise ManifestError(f"{name}: `version' must be a positive integer")
    units: list[Unit] = []
    agents = data.get("agents", {})
    services = data.get("services", {})
    if not isinstance(agents, dict) or not isinstance(services, dict):
        raise ManifestError(f"{name}: [agents] and [services] must be tables")
    for uname, spec in agents.items():
        if uname not in KERNEL_AGENTS:
            raise ManifestError(f"{name}: [agents.{uname}]: unknown kernel agent "
                                f"(known: {', '.join(KERNEL_AGENTS)}); user programs go under [services]")
        units.append(_unit(name, uname, "agent", spec))
    missing = [a for a in KERNEL_AGENTS if a not in agents]
    if missing:
        raise ManifestError(f"{name}: kernel agents missing: {', '.join(missing)}")
    for uname, spec in services.items():
        unit = _unit(name, uname, "service", spec)
        if not unit.command:
            raise ManifestError(f"{name}: [services.{uname}]: `command' (a list of strings) is required")
        units.append(unit)
    unknown = set(data) - {"version", "agents", "services"}
    if unknown:
        raise ManifestError(f"{name}: unknown keys: {', '.join(sorted(unknown))}")
    return Manifest(version, tuple(units), text)


def _unit(name: str, uname: str, kind: str, spec: Any) -> Unit:
    where = f"{name}: [{kind}s.{uname}]"
    if not isinstance(spec, dict):
        raise ManifestError(f"{where}: must be a table")
    replicas = spec.get("replicas", 1)
    if not isinstance(replicas, int) or not 1 <= replicas <= 16:
        raise ManifestError(f"{where}: `replicas' must be an integer from 1 to 16")
    tags = spec.get("tags", {})
    if not isinstance(tags, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
        raise ManifestError(f"{where}: `tags' must be a table of strings")
    command = spec.get("command", [])
    if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
        raise ManifestError(f"{where}: `command' must be a list of strings")
    extra = set(spec) - {"replicas", "tags", "command"}
    if extra:
        raise ManifestError(f"{where}: unknown keys: {', '.join(sorted(extra))}")
    return Unit(uname, kind, replicas, dict(tags), tuple(command))
