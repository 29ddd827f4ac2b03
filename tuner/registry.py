"""Name -> component registries: each entry declares its name, its factory and its options.

Losses, optimizers, schedulers, dataset adapters, augmentations, samplers and pruners are
each looked up by name in a :class:`Registry` (the smp ``create_model`` habit: an unknown
name raises a :class:`~tuner.errors.TunerError` that lists the valid ones). An entry is a
:class:`Component`: its factory, a line of help, its options, each an :class:`Option`
with its type, default, help and allowed values, the Python package it needs (where it is
optional), and the facts its kind needs (``extra``: a pruner's first epoch and the reason
it gives, a sampler's shared seed, an adapter's path), so that what a component takes and
does is said where the component is written, and ``tuner fields``, the docs and the
pre-run checks read it from there (adding a loss, a dataset adapter or a pruner is one
registration).

Options are checked before the factory is called (unknown names, types, ranges: one line
naming the component and the option). An exception raised inside the factory is its own
(a bug keeps its traceback), unless the caller names it among ``refusals``: a library's
own complaint about a combination of values (Optuna's samplers and pruners) is one line.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from tuner.errors import TunerError

T = TypeVar("T")
TYPES = {"float": float, "int": int, "bool": bool, "str": str}
KIND_WORDS = {"bool": "true or false", "int": "an integer", "float": "a number",
              "str": "a string"}


@dataclass(frozen=True)
class Option:
    """One option of a component: ``kind`` is ``float``, ``int``, ``bool`` or ``str``;
    ``low`` / ``high`` bound it (excluded where ``low_open`` / ``high_open``), ``words``
    are values taken as they are besides the kind's (``"auto"``), and an option whose
    default is None also takes None ("not set": the factory's own default)."""

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    low_open: bool = False
    high_open: bool = False
    words: tuple[str, ...] = ()

    def checked(self, value: Any, owner: str) -> Any:
        """``value`` as this option's type, or a TunerError naming ``owner`` and the option."""
        def fail(expected: str) -> TunerError:
            also = "".join(f" or {word}" for word in self._alternatives())
            return TunerError(f"{owner} option {self.name!r}: got {value!r}, "
                              f"expected {expected}{also}")

        if (value is None and self.default is None) or (
                isinstance(value, str) and value in self.words):
            return value
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise fail("true or false")
        elif self.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    self.kind == "int" and not float(value).is_integer()):
                raise fail(f"{KIND_WORDS[self.kind]} {self.range_text()}".strip())
            value = int(value) if self.kind == "int" else float(value)
            if not math.isfinite(value):
                raise fail("a finite number")
        elif self.kind == "str":
            if isinstance(value, int | float) and not isinstance(value, bool):
                value = str(value)  # --set foreground_values=255 arrives as a number
            if not isinstance(value, str):
                raise fail("a string")
        if self.choices and value not in self.choices:
            raise fail("one of " + ", ".join(map(str, self.choices)))
        too_low = self.low is not None and (value <= self.low if self.low_open
                                            else value < self.low)
        too_high = self.high is not None and (value >= self.high if self.high_open
                                              else value > self.high)
        if too_low or too_high:
            raise fail(f"a value {self.range_text()}")
        return value

    def range_text(self) -> str:
        """``in [0, 1)``, ``>= 1``, ``> 0``, ``<= 100``, or empty: no bound."""
        if self.low is not None and self.high is not None:
            return (f"in {'(' if self.low_open else '['}{self.low}, "
                    f"{self.high}{')' if self.high_open else ']'}")
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {self.high}"
        return ""

    def _alternatives(self) -> list[str]:
        return [repr(word) for word in self.words] + (["None"] if self.default is None else [])

    def describe(self) -> str:
        """The help line with the allowed values: ``help [>= 1 | 'auto']``."""
        bounds = self.range_text()
        if bounds.startswith("in ") and not self._alternatives():
            return f"{self.help} {bounds[3:]}"  # help [0, 10]
        allowed = [str(c) for c in self.choices] if self.choices else \
            [bounds.removeprefix("in "), *self._alternatives()] if bounds else []
        return self.help + (" [" + " | ".join(allowed) + "]" if allowed else "")


@dataclass(frozen=True)
class Component(Generic[T]):
    """A registry entry: the factory, a line of help, the declared options, the Python
    package it needs where that is optional (``requires``) and ``extra`` facts its kind
    needs."""

    name: str
    factory: Callable[..., T]
    help: str = ""
    options: tuple[Option, ...] = ()
    requires: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def resolved(self, given: Mapping[str, Any] | None, owner: str) -> dict[str, Any]:
        """The declared options with ``given`` values checked in, defaults for the rest."""
        given = dict(given or {})
        known = {o.name: o for o in self.options}
        unknown = [name for name in given if name not in known]
        if unknown:
            names = ", ".join(f"{o.name} ({o.kind}, default {o.default!r})"
                              for o in self.options) or "none"
            raise TunerError(f"{owner} has no option {unknown[0]!r}; its options: {names}")
        return {o.name: o.checked(given[o.name], owner) if o.name in given else o.default
                for o in self.options}


class Registry(Generic[T]):
    """An ordered mapping from names to :class:`Component` entries of one ``kind``."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Component[T]] = {}

    def register(self, name: str, *, help: str = "", options: tuple[Option, ...] = (),
                 requires: str | None = None,
                 **extra: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@LOSSES.register("dice", help=..., options=(...))``."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = help or (inspect.getdoc(factory) or "").split("\n\n")[0].replace("\n", " ")
            self._items[name] = Component(name, factory, doc, tuple(options), requires, extra)
            return factory

        return add

    def add(self, name: str, factory: Callable[..., T], *, help: str = "",
            options: tuple[Option, ...] = (), requires: str | None = None,
            **extra: Any) -> None:
        """Register ``factory`` (a library's class, say) under ``name``."""
        self.register(name, help=help, options=options, requires=requires, **extra)(factory)

    def component(self, name: str) -> Component[T]:
        try:
            return self._items[name]
        except KeyError:
            raise TunerError(
                f"unknown {self.kind} {name!r}; expected one of: {', '.join(self._items)}"
            ) from None

    def get(self, name: str) -> Callable[..., T]:
        """The factory of ``name`` (a TunerError listing the valid names if unknown)."""
        return self.component(name).factory

    def owner(self, name: str) -> str:
        """How messages name entry ``name``: ``loss 'focal'``."""
        return f"{self.kind} {name!r}"

    def build(self, name: str, options: Mapping[str, Any] | None = None, *, args: tuple = (),
              owner: str | None = None, refusals: tuple[type[Exception], ...] = ()) -> T:
        """``factory(*args, **options)`` after checking ``options`` and the package the
        entry requires (one line naming ``owner``, default :meth:`owner`); an exception of
        a type in ``refusals`` raised by the factory is one line too."""
        entry = self.component(name)
        owner = owner or self.owner(name)
        if entry.requires is not None and importlib.util.find_spec(entry.requires) is None:
            raise TunerError(f"{owner} needs the Python package {entry.requires!r}, which is "
                             f"not installed; expected: pip install {entry.requires}")
        values = entry.resolved(options, owner)
        if not refusals:
            return entry.factory(*args, **values)
        try:
            return entry.factory(*args, **values)
        except refusals as exc:  # the library's own check of its values, on one line
            raise TunerError(f"{owner}: {' '.join(str(exc).split())}") from None

    def check_options(self, given: Mapping[str, Any], owner: str) -> None:
        """Every ``{name: {option: value}}`` of ``given`` checked against its entry (an
        unknown name, an unknown option, a value out of range: one line from ``owner``),
        whether or not the entry is the one in use."""
        for name, options in given.items():
            try:
                entry = self.component(name)
            except TunerError as exc:
                raise TunerError(f"{owner}: {exc}") from None
            entry.resolved(options, f"{owner}: {self.owner(name)}")

    def option_rows(self, prefix: str) -> list[tuple[str, str, str, str]]:
        """(``prefix.name.option``, type, default, help with the allowed values) for every
        option of every entry (``tuner fields``, docs/fields.md)."""
        return [(f"{prefix}.{entry.name}.{o.name}", o.kind, repr(o.default), o.describe())
                for entry in self._items.values() for o in entry.options]

    def names(self) -> list[str]:
        return list(self._items)

    def components(self) -> list[Component[T]]:
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
