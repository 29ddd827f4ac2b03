"""Name -> factory registries, so that a study can search over names.

Losses, optimizers, schedulers, datasets and augmentations are each looked up by name in a
:class:`Registry`; an unknown name raises a :class:`~tuner.errors.TunerError` that lists
the valid ones (the smp ``create_model`` habit).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from tuner.errors import TunerError

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered mapping from names to factories of one kind (``kind`` names it in errors)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@LOSSES.register("dice")`` adds the decorated factory."""

        def add(factory: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = factory
            return factory

        return add

    def add(self, name: str, factory: T) -> None:
        self.register(name)(factory)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise TunerError(
                f"unknown {self.kind} {name!r}; expected one of: {', '.join(self._items)}"
            ) from None

    def build(self, name: str, options: dict[str, Any],
              requires: dict[str, str] | None = None) -> Any:
        """``get(name)(**options)`` for factories with keyword options (samplers, pruners):
        an unknown or badly typed option, or a missing package that ``requires[name]``
        names, becomes a one-line TunerError naming the factory."""
        factory = self.get(name)
        package = (requires or {}).get(name)
        if package is not None and importlib.util.find_spec(package) is None:
            raise TunerError(f"{self.kind} {name!r} needs the Python package {package!r}, "
                             f"which is not installed; expected: pip install {package}")
        try:
            return factory(**options)
        except TypeError as exc:
            raise TunerError(f"{self.kind} {name!r}: bad options {options}: {exc}") from None
        except ValueError as exc:
            raise TunerError(f"{self.kind} {name!r}: {exc}") from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)
