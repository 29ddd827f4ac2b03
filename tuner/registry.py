"""Name -> component registries: each entry declares its name, its factory and its options.

Losses, optimizers, schedulers, dataset adapters, augmentations, samplers and pruners are
each looked up by name in a :class:`Registry` (the smp ``create_model`` habit: an unknown
name raises a :class:`~tuner.errors.TunerError` that lists the valid ones). An entry is a
:class:`Component`: its factory, a line of help, and its options, each an :class:`Option`
with its type, default, help and allowed values, so that what a component takes is said
where the component is written, and ``tuner fields``, the docs and the pre-run checks read
it from there (adding a loss, a dataset adapter or a pruner is one registration).

Options are checked before the factory is called (unknown names, types, ranges: one line
naming the component and the option); an exception raised inside the factory is its own
(a bug keeps its traceback). Factories that pass their options on to a library (Optuna's
samplers and pruners) declare no options: their names are checked against the factory's
signature, and the library's own complaint about a value is that one line.
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


@dataclass(frozen=True)
class Option:
    """One option of a component: ``kind`` is ``float``, ``int``, ``bool`` or ``str``."""

    name: str
    kind: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None

    def checked(self, value: Any, owner: str) -> Any:
        """``value`` as this option's type, or a TunerError naming ``owner`` and the option."""
        def fail(expected: str) -> TunerError:
            return TunerError(f"{owner} option {self.name!r}: got {value!r}, expected {expected}")

        if self.kind == "bool":
            if not isinstance(value, bool):
                raise fail("true or false")
        elif self.kind in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float) or (
                    self.kind == "int" and not float(value).is_integer()):
                raise fail("an integer" if self.kind == "int" else "a number")
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
        if (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            raise fail(f"a value in [{self.low}, {self.high}]" if self.high is not None
                       else f"a value >= {self.low}")
        return value

    def describe(self) -> str:
        allowed = (" [" + " | ".join(map(str, self.choices)) + "]" if self.choices else
                   f" [{self.low}, {self.high}]" if self.low is not None and self.high is not None
                   else f" [>= {self.low}]" if self.low is not None else "")
        return f"{self.help}{allowed}"


@dataclass(frozen=True)
class Component(Generic[T]):
    """A registry entry: the factory, a line of help, the declared options (None: passed
    on to the factory's own keyword arguments) and ``extra`` facts its kind needs."""

    name: str
    factory: Callable[..., T]
    help: str = ""
    options: tuple[Option, ...] | None = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def resolved(self, given: Mapping[str, Any] | None, owner: str) -> dict[str, Any]:
        """The declared options with ``given`` values checked in, defaults for the rest."""
        given = dict(given or {})
        if self.options is None:
            return given
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

    def register(self, name: str, *, help: str = "", options: tuple[Option, ...] | None = (),
                 **extra: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@LOSSES.register("dice", help=..., options=(...))``."""

        def add(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            doc = help or (inspect.getdoc(factory) or "").split("\n\n")[0].replace("\n", " ")
            self._items[name] = Component(name, factory, doc, options, extra)
            return factory

        return add

    def add(self, name: str, factory: Callable[..., T], *, help: str = "",
            options: tuple[Option, ...] | None = None, **extra: Any) -> None:
        """Register ``factory`` (default: options passed on to its keyword arguments)."""
        self.register(name, help=help, options=options, **extra)(factory)

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

    def build(self, name: str, options: Mapping[str, Any] | None = None, *,
              requires: dict[str, str] | None = None, args: tuple = ()) -> T:
        """``factory(*args, **options)`` after checking ``options`` (see the module's text);
        a missing package that ``requires[name]`` names is one line too."""
        entry = self.component(name)
        owner = f"{self.kind} {name!r}"
        package = (requires or {}).get(name)
        if package is not None and importlib.util.find_spec(package) is None:
            raise TunerError(f"{owner} needs the Python package {package!r}, which is not "
                             f"installed; expected: pip install {package}")
        values = entry.resolved(options, owner)
        if entry.options is not None:
            return entry.factory(*args, **values)
        try:
            inspect.signature(entry.factory).bind(*args, **values)
        except TypeError as exc:
            raise TunerError(f"{owner}: bad options {dict(values)}: {exc}") from None
        try:
            return entry.factory(*args, **values)
        except (TypeError, ValueError) as exc:  # the library's own check of a value
            raise TunerError(f"{owner}: {exc}") from None

    def names(self) -> list[str]:
        return list(self._items)

    def components(self) -> list[Component[T]]:
        return list(self._items.values())

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
