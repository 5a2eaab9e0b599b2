"""What the interpreter is given at construction by the composition root
(cli.py): the way to its cluster and the command history.

Both are small objects with a narrow protocol, so the engine never imports
the cluster client or the REPL: `onesh -c` gets a lazy cluster link whose
client is imported (and the embedded cluster started) only when a command
needs it, and no history; the REPL passes its prompt history.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from onesh.runtime.client import ClusterClient, ClusterHandle
else:
    Protocol = object


class ClusterLink(Protocol):
    """The shell's way to its cluster."""

    def client(self) -> ClusterClient:
        """A client of the cluster, attaching (or starting the embedded
        cluster) on first use; raises OneshError when that fails."""
        ...

    def attached(self) -> bool:
        """Has this shell a cluster already?  Never starts one: completion
        and other best-effort callers ask this first."""
        ...

    def close(self) -> None:
        """The shell (or a forked child) ends: stop a cluster it started."""
        ...


class History(Protocol):
    """The lines entered so far, for `history` and `fc`-like builtins."""

    def lines(self) -> list[str]: ...

    def clear(self) -> None: ...


class NoHistory:
    """Scripts and -c: no history."""

    def lines(self) -> list[str]:
        return []

    def clear(self) -> None:
        return None


class LazyClusterLink:
    """A ClusterLink over onesh.runtime.client.ClusterHandle, imported (with
    zmq and the rest) only when a command first needs the cluster.
    `directory` is --cluster / $ONESH_CLUSTER (None: the current cluster,
    else the embedded one: onesh.contexts)."""

    RECHECK = 1.0  # seconds an answer of attached() holds (the user may `cluster use` meanwhile)

    def __init__(self, directory: str | None, *, notify: Callable[[str], None] | None = None) -> None:
        self.directory = directory
        self.notify = notify
        self.handle: ClusterHandle | None = None
        self._attached = (False, -1e9)  # (answer, when)

    def client(self) -> ClusterClient:
        if self.handle is None:
            from onesh.runtime.client import ClusterHandle

            self.handle = ClusterHandle(self.directory, notify=self.notify)
        return self.handle.client()

    def attached(self) -> bool:
        """Chosen explicitly, or the current cluster (else the embedded
        service) running: then a name not on this host may be the cluster's.
        (Small files and kill(pid, 0): no import, no round trip.)"""
        if self.directory is not None:
            return True
        if self.handle is not None and getattr(self.handle, "_client", None) is not None:
            return True
        import time

        answer, when = self._attached
        now = time.monotonic()
        if now - when > self.RECHECK:
            from onesh import contexts

            # A recorded current cluster that no longer runs (stopped,
            # crashed, the machine rebooted) attaches nothing: local
            # commands stay local; one that names the namespace is told how
            # to start it.
            current = contexts.current()
            answer = contexts.running(current if current is not None else contexts.embedded_dir())
            self._attached = (answer, now)
        return answer

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()


def print_notice(text: str) -> None:
    """An asynchronous message (a job finished, the cluster starts), through
    sys.stderr: at the REPL's prompt that prints above the input line."""
    print(text, file=sys.stderr, flush=True)
