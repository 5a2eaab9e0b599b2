"""Shell state: variables with scopes and attributes, options, positional
parameters, functions and aliases.  No I/O here; the interpreter owns one
`ShellState` (built in the composition root) and passes it to builtins via
their `IO`.
"""

from __future__ import annotations

import os

from onesh.errors import OneshError, Source
from onesh.parser.ast import FunctionDef
from onesh.record import Record, field

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Iterator


class ReadonlyError(OneshError):
    status = 1


class Var(Record):
    """One variable.  `value` is a str for scalars, a dict int->str for
    indexed arrays (sparse, like bash)."""

    value: str | dict[int, str] | None = None  # None = declared but unset
    exported: bool = False
    readonly: bool = False
    integer: bool = False

    @property
    def is_array(self) -> bool:
        return isinstance(self.value, dict)

    def scalar(self) -> str | None:
        """What `$name` means: a scalar, or element 0 of an array."""
        if isinstance(self.value, dict):
            return self.value.get(0)
        return self.value


# `set -o NAME` names and their single-letter `set -X` flags.
OPTION_LETTERS: dict[str, str] = {
    "e": "errexit",
    "u": "nounset",
    "x": "xtrace",
    "f": "noglob",
    "C": "noclobber",
    "v": "verbose",
    "n": "noexec",
    "a": "allexport",
    "m": "monitor",
    "b": "notify",
    "h": "hashall",
    "B": "braceexpand",
}
LONG_ONLY_OPTIONS = ("pipefail", "ignoreeof", "emacs", "vi", "posix", "nullglob", "failglob", "dotglob", "extglob")


class Options(Record):
    on: set[str] = field(default_factory=lambda: {"hashall", "braceexpand"})

    def __contains__(self, name: str) -> bool:
        return name in self.on

    def set(self, name: str, value: bool) -> None:
        if name not in OPTION_LETTERS.values() and name not in LONG_ONLY_OPTIONS:
            raise OneshError(f"set: {name}: invalid option name", status=2)
        if value:
            self.on.add(name)
        else:
            self.on.discard(name)

    def flags(self) -> str:
        """The value of `$-`."""
        return "".join(letter for letter, name in OPTION_LETTERS.items() if name in self.on)


class Frame(Record):
    """A function call frame: its `local` variables and positional parameters."""

    locals: dict[str, Var] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)
    func_name: str = ""


class ShellState:
    """All mutable state of one shell.  Subshells get a deep copy by fork()."""

    def __init__(self, argv0: str = "onesh", args: list[str] | None = None,
                 environ: dict[str, str] | None = None) -> None:
        self.globals: dict[str, Var] = {}
        self.frames: list[Frame] = [Frame(positional=list(args or []))]
        self.argv0 = argv0
        self.options = Options()
        self.functions: dict[str, FunctionDef] = {}
        # The text each function was parsed from (its spans index it).
        self.function_sources: dict[str, Source] = {}
        self.aliases: dict[str, str] = {}
        self.last_status = 0
        self.last_bg_pid: int | None = None
        self.shell_pid = os.getpid()
        self.interactive = False
        self.loop_depth = 0
        # getopts: (OPTIND it last set, next letter in that argument)
        self.getopts_position = (1, 1)
        for name, value in (os.environ if environ is None else environ).items():
            self.globals[name] = Var(value, exported=True)
        self.pipestatus = [0]

    # ------------------------------------------------------------ variables
    def _lookup(self, name: str) -> Var | None:
        for frame in reversed(self.frames[1:]):
            if name in frame.locals:
                return frame.locals[name]
        return self.globals.get(name)

    def var(self, name: str) -> Var | None:
        return self._lookup(name)

    def get(self, name: str) -> str | None:
        """Scalar value of a named variable (not special parameters)."""
        if name == "PIPESTATUS":
            return str(self.pipestatus[0]) if self.pipestatus else None
        v = self._lookup(name)
        return None if v is None else v.scalar()

    def get_array(self, name: str) -> dict[int, str] | None:
        if name == "PIPESTATUS":
            return dict(enumerate(str(s) for s in self.pipestatus))
        v = self._lookup(name)
        if v is None or v.value is None:
            return None
        if isinstance(v.value, dict):
            return v.value
        return {0: v.value}

    def set(self, name: str, value: str | dict[int, str], *, export: bool | None = None) -> None:
        v = self._lookup(name)
        if v is None:
            v = Var()
            self.globals[name] = v
        if v.readonly:
            raise ReadonlyError(f"{name}: readonly variable")
        v.value = value
        if name == "OPTIND":
            self.getopts_position = (0, 1)  # any assignment restarts getopts
        if export is not None:
            v.exported = export
        elif "allexport" in self.options:
            v.exported = True

    def set_index(self, name: str, index: int, value: str) -> None:
        v = self._lookup(name)
        if v is None:
            v = Var({})
            self.globals[name] = v
        if v.readonly:
            raise ReadonlyError(f"{name}: readonly variable")
        if not isinstance(v.value, dict):
            v.value = {} if v.value is None else {0: v.value}
        if index < 0:
            index += (max(v.value) + 1) if v.value else 0
            if index < 0:
                raise OneshError(f"{name}[{index}]: bad array subscript")
        v.value[index] = value

    def unset(self, name: str) -> None:
        for frame in reversed(self.frames[1:]):
            if name in frame.locals:
                if frame.locals[name].readonly:
                    raise ReadonlyError(f"unset: {name}: cannot unset: readonly variable")
                del frame.locals[name]
                return
        v = self.globals.get(name)
        if v is not None:
            if v.readonly:
                raise ReadonlyError(f"unset: {name}: cannot unset: readonly variable")
            del self.globals[name]

    def declare_local(self, name: str) -> Var:
        """`local NAME`: a new variable in the innermost function frame."""
        if len(self.frames) == 1:
            raise OneshError("local: can only be used in a function")
        frame = self.frames[-1]
        if name not in frame.locals:
            outer = self._lookup(name)
            # Like bash, a new local starts unset but inherits the export flag.
            frame.locals[name] = Var(None, exported=outer.exported if outer else False)
        return frame.locals[name]

    def export(self, name: str, value: str | None = None) -> None:
        v = self._lookup(name)
        if v is None:
            v = Var(None)
            self.globals[name] = v
        if value is not None:
            if v.readonly:
                raise ReadonlyError(f"{name}: readonly variable")
            v.value = value
        v.exported = True

    def all_vars(self) -> Iterator[tuple[str, Var]]:
        """Every visible variable (locals shadow globals), sorted by name."""
        seen: dict[str, Var] = dict(self.globals)
        for frame in self.frames[1:]:
            seen.update(frame.locals)
        for name in sorted(seen):
            yield name, seen[name]

    def environ(self) -> dict[str, str]:
        """The environment for a child process: exported, set, scalar variables."""
        env: dict[str, str] = {}
        for name, v in self.all_vars():
            if v.exported and v.value is not None and not isinstance(v.value, dict):
                env[name] = v.value
        return env

    # ------------------------------------------------------ positional args
    @property
    def positional(self) -> list[str]:
        return self.frames[-1].positional

    @positional.setter
    def positional(self, args: list[str]) -> None:
        self.frames[-1].positional = list(args)

    def push_frame(self, func_name: str, args: list[str]) -> None:
        self.frames.append(Frame(positional=list(args), func_name=func_name))

    def pop_frame(self) -> None:
        if len(self.frames) > 1:
            self.frames.pop()

    @property
    def in_function(self) -> bool:
        return len(self.frames) > 1
