"""The REPL's history: the prompt's store (a private file in the user data
dir, or memory) and what the `history` builtin lists.  Built by the
composition root and given both to the interpreter and to the REPL.

prompt_toolkit is imported when the store is first used, not when this is
built: importing any part of it loads all of it (~0.1 s), and the first
prompt is shown before that (onesh.repl.terminal).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from prompt_toolkit.history import History


class ReplHistory:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self._store: History | None = None
        self.cleared = 0  # `history -c`: lines before this index are hidden

    @classmethod
    def default(cls) -> ReplHistory:
        """$XDG_DATA_HOME/onesh/history (memory when that is not writable)."""
        try:
            return cls(os.path.join(data_dir(), "history"))
        except OSError:
            return cls(None)

    @property
    def store(self) -> History:
        """prompt_toolkit's history object (the PromptSession's)."""
        if self._store is None:
            self._store = _open(self.path)
        return self._store

    def lines(self) -> list[str]:
        return list(self.store.get_strings())[self.cleared:]

    def clear(self) -> None:
        self.cleared = len(self.store.get_strings())


def data_dir() -> str:
    """The user data dir: platformdirs' answer, which on Linux is the XDG
    rule, spelled out there so the first prompt does not wait for
    platformdirs (and the pathlib it imports)."""
    if sys.platform.startswith("linux"):
        base = os.environ.get("XDG_DATA_HOME", "").strip() or os.path.expanduser("~/.local/share")
        path = os.path.join(base, "onesh")
    else:
        import platformdirs

        path = platformdirs.user_data_dir("onesh")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _open(path: str | None) -> History:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    if path is None:
        return InMemoryHistory()
    # The history file can hold secrets typed on the command line: 0600.
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return FileHistory(path)
