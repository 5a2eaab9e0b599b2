"""The `bootstrap` builtin: `onesh bootstrap` from inside the shell, joining
the shell's own cluster (or --cluster DIR)."""

from __future__ import annotations

from typing import Any

from onesh.builtins.api import IO
from onesh.errors import OneshError


def bootstrap(argv: list[str], io: IO) -> int:
    from onesh.runtime.bootstrap.command import Frontend, ask_on, cluster_from_config, run
    from onesh.runtime.bootstrap.steps import ClusterRef

    def cluster(explicit: str | None) -> ClusterRef:
        if explicit is not None:
            return cluster_from_config(explicit)
        get: Any = getattr(io.shell, "cluster", None)
        if get is None:
            raise OneshError("no cluster available in this shell")
        client = get()
        return ClusterRef(list(client.boot), str(client.secret))

    # Text streams over the builtin's fds (the engine applied redirections).
    with open(io.stdin, closefd=False) as stdin, open(io.stdout, "w", closefd=False) as out, \
            open(io.stderr, "w", closefd=False) as err:
        try:
            return run(argv[1:], Frontend(out, err, ask_on(stdin, err), cluster))
        except OneshError as e:
            err.flush()
            io.error("bootstrap", e.message)
            return e.status or 1
        except KeyboardInterrupt:
            return 130
