"""What every ``tuner`` subcommand shares: the ``--storage`` option and the rule that a user
mistake ends with one line on stderr and exit code 2."""

from __future__ import annotations

import functools
from typing import Annotated

import typer
from rich.console import Console

from tuner.errors import TunerError
from tuner.storage import STORAGE_ENV

errors = Console(stderr=True, soft_wrap=True)

StorageOption = Annotated[str | None, typer.Option(
    "--storage", envvar=STORAGE_ENV, show_envvar=True, show_default=False,
    help="Study storage URL; default sqlite:///storage/tuner.db")]


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
