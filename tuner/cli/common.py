"""What the ``tuner`` subcommands share: the ``--storage``, ``--set`` and ``--data`` options,
and the rule that a user mistake ends with one line on stderr and exit code 2."""

from __future__ import annotations

import functools
import gc
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console

from tuner.config import TrainConfig, parse_assignments
from tuner.errors import TunerError
from tuner.storage import STORAGE_ENV

errors = Console(stderr=True, soft_wrap=True)  # progress, notes and errors
console = Console(soft_wrap=True)  # results

StorageOption = Annotated[str | None, typer.Option(
    "--storage", envvar=STORAGE_ENV, show_envvar=True, show_default=False,
    help="Study storage URL; default sqlite:///storage/tuner.db")]
SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a config field, e.g. --set epochs=30 (repeatable)")]
DataOption = Annotated[str | None, typer.Option(
    "--data", help="Dataset: 'synthetic', 'folder:PATH', 'oxford-pet:PATH', 'isic:PATH' or "
    "'csv:FILE' (docs/datasets.md)")]


def overrides_of(sets: list[str] | None, data: str | None) -> dict:
    """The ``--set`` / ``--data`` fields as a dict, each value validated."""
    overrides = parse_assignments(sets or [])
    if data:
        overrides["dataset"] = data
    TrainConfig.from_dict(overrides, "--set")  # reject bad values before anything else
    return overrides


def quiet_optuna() -> None:
    """Optuna's log at warnings only, and no ExperimentalWarning (heartbeats, metric names,
    PatientPruner... are marked experimental; a user cannot act on that). Commands call it
    when they first need Optuna, so that ``tuner train`` never imports it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


_imports_frozen = False  # heavy_imports froze the objects of the first imports


@contextmanager
def heavy_imports() -> Iterator[None]:
    """Import torch, smp, albumentations and Optuna with the cyclic garbage collector
    paused: their thousands of modules would set it off again and again for nothing
    (measured: 1 s of a 7 s start). What they created is frozen, so that later
    collections during training do not walk it either.

    Only the first use in a process freezes, after collecting what is already garbage:
    a frozen object is never collected again, so freezing on every command run inside one
    process (tests, notebooks) would keep each earlier storage and its open database
    connections for good (CI ran PostgreSQL out of connections that way)."""
    global _imports_frozen
    enabled = gc.isenabled()
    if not _imports_frozen:
        gc.collect()  # cheap here: before the imports, little is loaded
    gc.disable()
    try:
        yield
    finally:
        if not _imports_frozen:
            gc.freeze()
            _imports_frozen = True
        if enabled:
            gc.enable()


def user_errors(command):
    """Turn a TunerError raised by ``command`` into one stderr line and exit code 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TunerError as exc:
            errors.print(f"tuner: error: {exc}", markup=False, highlight=False)
            raise typer.Exit(2) from None

    return wrapper
