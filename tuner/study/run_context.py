"""What a study file may ask of the run that loads it: its storage and its ``--set`` values.

A study file is Python and may depend on the run: ``best_of("lr_by_optimizer")`` reads the
winner from the run's storage, and ``studies/encoder.py`` plans its grid by the encoder
weights the run will use. The runner loads study files inside :func:`loading` (in every
worker process alike, from what the worker was handed), and the file reads the run
through :func:`storage` and :func:`setting`, instead of environment variables set as a
side channel.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunContext:
    """The storage URL (None: ``$TUNER_STORAGE`` or the default) and the ``--set`` /
    ``--data`` fields of the run that loads a study file."""

    storage: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[RunContext | None] = ContextVar("tuner_run_context", default=None)
_OUTSIDE = RunContext()  # a study file imported outside a run: the defaults


@contextlib.contextmanager
def loading(storage: str | None, overrides: dict[str, Any]) -> Iterator[None]:
    """Make ``storage`` and ``overrides`` the run a study file sees while it loads."""
    token = _current.set(RunContext(storage, dict(overrides)))
    try:
        yield
    finally:
        _current.reset(token)


def storage() -> str | None:
    """The storage URL of the run loading the study file (None: the default one)."""
    return (_current.get() or _OUTSIDE).storage


def setting(name: str, default: Any) -> Any:
    """The value the run gives config field ``name`` with ``--set`` (or ``--data``), else
    ``default``: what a study file plans with (``setting("encoder_weights", "imagenet")``)."""
    return (_current.get() or _OUTSIDE).overrides.get(name, default)
