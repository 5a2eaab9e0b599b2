"""Suite-wide: the tests' own user directories, and a guard that nothing a
test started is left running.

Every cluster a test starts lives under pytest's temporary directory; at
the end of the session no process may still name that directory on its
command line (a runtime, a stage host, a device).  Any that does is
killed and the session fails, naming it."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import pytest


def _leftovers(root: str) -> dict[int, str]:
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if root in cmdline:
            found[int(entry)] = cmdline.strip()
    return found


@pytest.fixture(scope="session", autouse=True)
def nothing_left_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    root = str(tmp_path_factory.getbasetemp())
    # The tests' own user dirs: a `cluster up` in a test must not become the
    # current cluster of the user running them (nor of the other tests),
    # and an embedded cluster a test starts lives under this root.
    saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME")}
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("data"))
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    left = _leftovers(root)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if left:
        pytest.fail("processes left running by the tests (now killed):\n  "
                    + "\n  ".join(f"{pid}: {cmd[:200]}" for pid, cmd in sorted(left.items())), pytrace=False)


@pytest.fixture(autouse=True)
def current_cluster_kept() -> Iterator[None]:
    """A test that runs `onesh cluster up` makes that cluster the current
    one; the next test must not inherit it (a stopped current cluster is
    harmless to local commands, but a running one would take them over)."""
    from onesh import contexts

    path = os.path.join(contexts.config_dir(), "current")
    try:
        with open(path, "rb") as f:
            before: bytes | None = f.read()
    except OSError:
        before = None
    yield
    if before is None:
        with contextlib.suppress(OSError):
            os.unlink(path)
    else:
        with open(path, "wb") as f:
            f.write(before)

