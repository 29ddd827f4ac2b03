"""What the ``tuner`` subcommands share: the ``--storage``, ``--set`` and ``--data`` options,
and the rule that a user mistake ends with one line on stderr and exit code 2."""

from __future__ import annotations

import functools
from typing import Annotated

import typer
from rich.console import Console

from tuner import interrupt
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
    "--data", help="Dataset: 'synthetic' or KIND:PATH, e.g. folder:PATH ('tuner fields' "
    "lists the kinds and their options; docs/datasets.md)")]
WORKERS_ENV = "TUNER_WORKERS"
#: tuner.optuna_internals.VERBOSE_ENV (not imported here: that module imports Optuna)
VERBOSE_ENV = "TUNER_VERBOSE"
WorkersOption = Annotated[str, typer.Option(
    "--workers", envvar=WORKERS_ENV, show_envvar=True,
    help="Worker processes on this machine: 'auto' (one single-thread worker per physical "
    "core, or one per GPU) or a number; capped at the trials left")]


def quiet_optuna() -> None:
    """Optuna's log at warnings only, unless ``tuner --verbose``
    (:func:`tuner.optuna_internals.quiet_optuna`); commands call it when they first need
    Optuna, so that ``tuner train`` never imports it."""
    from tuner.optuna_internals import quiet_optuna as quiet

    quiet()


def user_errors(command):
    """Turn a TunerError raised by ``command`` into one stderr line and exit code 2, and a
    stop (Ctrl-C, SIGTERM: :mod:`tuner.interrupt`) into exit code 130 or 143, no traceback
    (a command that trains says what it kept before)."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except TunerError as exc:
            errors.print(f"tuner: error: {exc}", markup=False, highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            raise typer.Exit(interrupt.exit_code()) from None

    return wrapper
