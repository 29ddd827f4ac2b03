"""``tuner run``: create or resume a study and train its trials, with progress."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.common import (
    DataOption,
    SetOption,
    StorageOption,
    console,
    errors,
    overrides_of,
    user_errors,
)
from tuner.errors import TunerError
from tuner.storage import STORAGE_ENV, redact, storage_url
from tuner.study.heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S


@user_errors
def run_command(
    study_file: Annotated[Path, typer.Argument(help="A study file, e.g. studies/weight_decay.py")],
    storage: StorageOption = None,
    n_trials: Annotated[int | None, typer.Option(
        "--n-trials", min=1, help="Run at most this many trials now (default: the rest of "
        "the grid, or up to the study's n_trials)")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=1, help="Stop starting new trials after this many seconds")] = None,
    data: DataOption = None,
    sets: SetOption = None,
    study_name: Annotated[str | None, typer.Option(
        "--study-name", help="Name in the storage (default: the study file's name)")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="Worker processes on this machine (torch threads are "
        "split between them)")] = 1,
    save_weights: Annotated[bool, typer.Option(
        "--save-weights", help="Store each finished trial's best weights as an artifact")] = False,
    galleries: Annotated[bool, typer.Option(
        "--galleries/--no-galleries", help="Prediction galleries as trial artifacts")] = True,
    devices: Annotated[str | None, typer.Option(
        "--devices", help="GPUs for the local workers, e.g. 0,1 (default: every visible GPU, "
        "one per worker, round robin)")] = None,
    heartbeat_interval: Annotated[int, typer.Option(
        "--heartbeat-interval", min=1,
        help="Seconds between a running trial's heartbeats")] = HEARTBEAT_INTERVAL_S,
    grace_period: Annotated[int, typer.Option(
        "--grace-period", min=1, help="A trial without a heartbeat for this long is failed "
        "and re-queued (its worker died)")] = GRACE_PERIOD_S,
) -> None:
    """Create or resume a study and run its trials, showing progress; ends with the best."""
    import optuna

    from tuner.study.runner import RunOptions
    from tuner.study.spec import load_spec

    if storage:  # study files that call best_of() read the same storage
        os.environ[STORAGE_ENV] = storage
    spec = load_spec(study_file)
    options = RunOptions(storage=storage, study_name=study_name, n_trials=n_trials,
                         timeout=timeout, overrides=overrides_of(sets, data), workers=workers,
                         save_weights=save_weights, galleries=galleries,
                         heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                         devices=_devices(devices))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _run_study(spec, options)


def _devices(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise TunerError(f"--devices: got {text!r}, expected GPU numbers like 0,1") from None


def _run_study(spec, options) -> None:
    from tuner.reports.console import best_trials_table
    from tuner.study.local_workers import run_local
    from tuner.study.progress import StudyProgress
    from tuner.study.runner import prepare_study, remaining_work

    url = storage_url(options.storage)
    errors.print(f"checking study {spec.name!r} from {spec.source} ...")
    study = prepare_study(spec, options)
    todo = remaining_work(study, spec)
    if options.n_trials is not None:
        todo = options.n_trials if not spec.is_grid else min(todo, options.n_trials)
    errors.print(f"study {study.study_name!r} in {redact(url)}: {todo} trial(s) to run"
                 + (f" on {options.workers} workers" if options.workers > 1 else ""))
    try:
        with StudyProgress(todo, errors, enabled=todo > 0) as progress:
            if todo == 0:
                errors.print("nothing left to run: every trial of this study is finished "
                              "(--n-trials N runs more of a sampled study)")
            else:
                run_local(spec, options, study, progress)
    except KeyboardInterrupt:
        errors.print("interrupted: the running trial is marked failed; run the same "
                     "command again to resume")
        raise typer.Exit(130) from None
    console.print(best_trials_table(study))
    console.print(f"results: {redact(url)} (study {study.study_name!r}); tables and plots: "
                  f"tuner export {study.study_name}; live view: tuner dashboard")
