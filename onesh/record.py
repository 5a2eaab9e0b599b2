"""Cheap record classes for the modules on the start-up path.

`dataclasses` compiles several methods per class while the module is being
imported, and pulls in `inspect`: the syntax tree alone has 35 node classes,
which cost `onesh -c true` more than Python's own start-up.  A `Record`
subclass gets `__slots__` from its annotations when the class is created;
its `__init__` is compiled the first time the class is instantiated, so a
command pays only for the node kinds it uses.  `__eq__`, `__hash__` (frozen
records) and `__repr__` are shared, not generated.

Type checkers see records as dataclasses (PEP 681): fields are declared
with annotations and defaults, `field(default_factory=...)` works, and
`class X(Record, frozen=True)` makes the fields read-only, and a
`__post_init__` method runs after the fields are set.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing (and the re it imports) stays off the start-up path
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, ClassVar, TypeVar, dataclass_transform

    R = TypeVar("R", bound="Record")
else:
    def dataclass_transform(**_kw: object) -> object:
        return lambda cls: cls

_MISSING: Any = object()
_setattr = object.__setattr__


class Field:
    """What `field()` returns: a default for the generated `__init__`."""

    __slots__ = ("compare", "default", "default_factory")

    def __init__(self, default: Any, default_factory: Callable[[], Any] | None, compare: bool) -> None:
        self.default = default
        self.default_factory = default_factory
        self.compare = compare


def field(*, default: Any = _MISSING, default_factory: Callable[[], Any] | None = None,
          compare: bool = True) -> Any:
    """Like dataclasses.field, for the options records use."""
    return Field(default, default_factory, compare)


@dataclass_transform(eq_default=True, field_specifiers=(field,))
class RecordMeta(type):
    """Builds each record class: slots, field table, lazy `__init__`."""

    def __new__(mcls, name: str, bases: tuple[type, ...], ns: dict[str, Any], *,
                frozen: bool = False) -> RecordMeta:
        inherited: tuple[str, ...] = ()
        defaults: dict[str, Any] = {}
        nocompare: set[str] = set()
        for base in bases:
            inherited += getattr(base, "_fields", ())
            defaults.update(getattr(base, "_defaults", {}))
            nocompare.update(getattr(base, "_nocompare", ()))
        own = [k for k, t in ns.get("__annotations__", {}).items()
               if not k.startswith("_") and not (isinstance(t, str) and t.startswith("ClassVar"))]
        for k in own:
            if k in ns:
                d = ns.pop(k)
                defaults[k] = d
                if isinstance(d, Field) and not d.compare:
                    nocompare.add(k)
        ns["__slots__"] = tuple(k for k in own if k not in inherited)
        ns["_fields"] = inherited + tuple(k for k in own if k not in inherited)
        ns["_defaults"] = defaults
        ns["_nocompare"] = frozenset(nocompare)
        ns["_frozen"] = frozen
        if frozen:
            ns["__setattr__"] = _frozen_setattr
            ns["__delattr__"] = _frozen_delattr
            ns.setdefault("__hash__", _hash)
        else:
            ns.setdefault("__hash__", None)  # mutable and compared by value: unhashable
        cls = super().__new__(mcls, name, bases, ns)
        if bases:
            type.__setattr__(cls, "__init__", _lazy_init(cls))
        return cls


class Record(metaclass=RecordMeta):
    """Base of all records; see the module docstring."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]]
    _defaults: ClassVar[dict[str, Any]]
    _nocompare: ClassVar[frozenset[str]]
    _frozen: ClassVar[bool]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        skip = self._nocompare
        return all(getattr(self, f) == getattr(other, f) for f in self._fields if f not in skip)

    def __repr__(self) -> str:
        args = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({args})"


def _frozen_setattr(self: Record, name: str, value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _frozen_delattr(self: Record, name: str) -> None:
    raise AttributeError(f"cannot delete field {name!r} of a frozen {type(self).__name__}")


def _hash(self: Record) -> int:
    skip = self._nocompare
    return hash((self.__class__, *(getattr(self, f) for f in self._fields if f not in skip)))


def _lazy_init(cls: Any) -> Callable[..., None]:
    def __init__(self: Record, *args: Any, **kw: Any) -> None:
        init = _compile_init(cls)
        type.__setattr__(cls, "__init__", init)
        init(self, *args, **kw)

    return __init__


def _compile_init(cls: Any) -> Callable[..., None]:
    params: list[str] = []
    body: list[str] = []
    env: dict[str, Any] = {"_MISSING": _MISSING, "_set": _setattr}
    for f in cls._fields:
        d = cls._defaults.get(f, _MISSING)
        if isinstance(d, Field) and d.default_factory is not None:
            env[f"_f_{f}"] = d.default_factory
            params.append(f"{f}=_MISSING")
            body.append(f"    if {f} is _MISSING: {f} = _f_{f}()")
        elif d is not _MISSING:
            env[f"_d_{f}"] = d.default if isinstance(d, Field) else d
            params.append(f"{f}=_d_{f}")
        else:
            params.append(f)
        body.append(f"    _set(self, {f!r}, {f})" if cls._frozen else f"    self.{f} = {f}")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    src = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "    pass") + "\n"
    exec(src, env)  # source built from the class's own field names only
    init: Callable[..., None] = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def fields(record: Record | type[Record]) -> tuple[str, ...]:
    """The field names, in order (what dataclasses.fields gives, by name)."""
    return record._fields


def is_record(obj: object) -> bool:
    return isinstance(obj, Record)


def replace(record: R, **changes: Any) -> R:
    """A copy with some fields changed (dataclasses.replace)."""
    values = {f: getattr(record, f) for f in record._fields}
    values.update(changes)
    return type(record)(**values)


def values(record: Record) -> Iterator[Any]:
    """The field values, in order."""
    return (getattr(record, f) for f in record._fields)
