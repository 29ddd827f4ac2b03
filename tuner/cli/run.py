"""``tuner run``: create or resume a study and train its trials, with progress
(:func:`tuner.api.run_study`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.common import (
    DataOption,
    SetOption,
    StorageOption,
    WorkersOption,
    console,
    errors,
    user_errors,
)
from tuner.errors import TrialsFailed, TunerError
from tuner.workers.heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S


@user_errors
def run_command(
    study_file: Annotated[Path, typer.Argument(help="A study file, e.g. studies/weight_decay.py")],
    storage: StorageOption = None,
    n_trials: Annotated[int | None, typer.Option(
        "--n-trials", show_default=False, help="Run at most this many trials now (default: "
        "the rest of the grid, or up to the study's n_trials)")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", show_default=False,
        help="Stop starting new trials after this many seconds (>= 1)")] = None,
    data: DataOption = None,
    sets: SetOption = None,
    study_name: Annotated[str | None, typer.Option(
        "--study-name", help="Name in the storage (default: the study file's name)")] = None,
    workers: WorkersOption = "auto",
    save_weights: Annotated[bool, typer.Option(
        "--save-weights", help="Store each finished trial's best weights as an artifact")] = False,
    galleries: Annotated[bool, typer.Option(
        "--galleries/--no-galleries", help="Prediction galleries as trial artifacts")] = True,
    devices: Annotated[str | None, typer.Option(
        "--devices", help="GPUs for the local workers, e.g. 0,1 (default: every visible GPU, "
        "one per worker, round robin)")] = None,
    heartbeat_interval: Annotated[int, typer.Option(
        "--heartbeat-interval",
        help="Seconds between a running trial's heartbeats")] = HEARTBEAT_INTERVAL_S,
    grace_period: Annotated[int, typer.Option(
        "--grace-period", help="A trial without a heartbeat for this long is failed "
        "and re-queued (its worker died)")] = GRACE_PERIOD_S,
) -> None:
    """Create or resume a study and run its trials, showing progress; ends with the best.

    Exit codes: 0 every trial run finished, 1 some failed, 2 a mistake
    found before anything ran, 130 Ctrl-C, 143 SIGTERM. Ctrl-C or SIGTERM
    (Slurm, Kubernetes, timeout) stops every worker at its next batch: the
    running trials go back to the queue with their numbers and finished
    epochs, and the command exits within a batch plus a database write
    (local workers get 20 s more, then are killed); the next run resumes
    those trials first.
    """
    from tuner import api

    try:
        outcome = api.run_study(study_file, storage=storage, study_name=study_name,
                                n_trials=n_trials, timeout=timeout, data=data, sets=sets,
                                workers=workers, save_weights=save_weights,
                                galleries=galleries, devices=parse_devices(devices),
                                heartbeat_interval=heartbeat_interval,
                                grace_period=grace_period, console=errors, results=console)
    except TrialsFailed:
        raise typer.Exit(1) from None
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


def parse_devices(text: str | None) -> list[int] | None:
    """``--devices 0,1``: GPU numbers."""
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise TunerError(f"--devices: got {text!r}, expected GPU numbers like 0,1") from None
