"""The REPL's history: the prompt's store (a private file in the user data
dir, or memory) and what the `history` builtin lists.  Built by the
composition root and given both to the interpreter and to the REPL."""

from __future__ import annotations

import os

from prompt_toolkit.history import FileHistory, History, InMemoryHistory


class ReplHistory:
    def __init__(self, path: str | None) -> None:
        self.path = path
        self.store: History = _open(path)
        self.cleared = 0  # `history -c`: lines before this index are hidden

    @classmethod
    def default(cls) -> ReplHistory:
        """$XDG_DATA_HOME/onesh/history (memory when that is not writable)."""
        try:
            return cls(os.path.join(data_dir(), "history"))
        except OSError:
            return cls(None)

    def lines(self) -> list[str]:
        return list(self.store.get_strings())[self.cleared:]

    def clear(self) -> None:
        self.cleared = len(self.store.get_strings())


def data_dir() -> str:
    import platformdirs

    path = platformdirs.user_data_dir("onesh")
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _open(path: str | None) -> History:
    if path is None:
        return InMemoryHistory()
    # The history file can hold secrets typed on the command line: 0600.
    fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    return FileHistory(path)
