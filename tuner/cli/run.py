"""``tuner run``: create or resume a study and train its trials, with progress."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.common import (
    DataOption,
    SetOption,
    StorageOption,
    console,
    errors,
    heavy_imports,
    overrides_of,
    quiet_optuna,
    user_errors,
)
from tuner.errors import TunerError
from tuner.storage import STORAGE_ENV, redact, storage_url
from tuner.study import standby
from tuner.study.heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S

WORKERS_ENV = "TUNER_WORKERS"


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
    workers: Annotated[str, typer.Option(
        "--workers", envvar=WORKERS_ENV, show_envvar=True,
        help="Worker processes on this machine: 'auto' (one single-thread worker per "
        "physical core, or one per GPU) or a number; capped at the trials left")] = "auto",
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
    requested_workers = parse_workers(workers)
    overrides = overrides_of(sets, data)  # a mistyped --set costs no import and no worker
    with standby_workers(standby.standby_count(requested_workers, n_trials)):
        with heavy_imports():
            from tuner.study.runner import RunOptions
            from tuner.study.spec import load_spec
            from tuner.training.models import ENCODER_WEIGHTS_ENV

        if storage:  # study files that call best_of() read the same storage
            os.environ[STORAGE_ENV] = storage
        if "encoder_weights" in overrides:  # the encoder study asks which weights there are
            os.environ[ENCODER_WEIGHTS_ENV] = overrides["encoder_weights"]
        spec = load_spec(study_file)
        options = RunOptions(storage=storage, study_name=study_name, n_trials=n_trials,
                             timeout=timeout, overrides=overrides,
                             save_weights=save_weights, galleries=galleries,
                             heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                             devices=_devices(devices))
        quiet_optuna()
        outcome = execute_study(spec, options, requested_workers)
        if outcome.exit_code:
            raise typer.Exit(outcome.exit_code)


@contextmanager
def standby_workers(count: int) -> Iterator[None]:
    """Spawn ``count`` workers beside this process before it imports torch, so that their
    imports run beside its own (:mod:`tuner.study.standby`); those that were not needed end
    with the command."""
    standby.start(count)
    try:
        yield
    finally:
        standby.dismiss()


def parse_workers(text: str) -> int | None:
    """``--workers``: None for auto, else a positive number."""
    if text.strip().lower() == "auto":
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise TunerError(f"--workers: got {text!r}, expected 'auto' or a number >= 1")
    return count


def _devices(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise TunerError(f"--devices: got {text!r}, expected GPU numbers like 0,1") from None


def execute_study(spec, options, requested_workers: int | None):
    """Prepare ``spec``'s study, run what is left of it with progress, print the summary;
    returns the run's :class:`~tuner.study.outcome.RunOutcome` (``tuner campaign`` runs
    each stage with it). Ctrl-C ends the command with exit 130."""
    from dataclasses import replace

    from tuner import records
    from tuner.data import build_splits, describe_data
    from tuner.data.caveats import steps_per_epoch
    from tuner.reports.console import best_trials_table
    from tuner.results.caveats import weak_result
    from tuner.study.local_workers import choose_workers, run_local, with_worker_threads
    from tuner.study.notes import save_study_note
    from tuner.study.outcome import finished_numbers, run_outcome
    from tuner.study.progress import StudyProgress
    from tuner.study.pruners import pruner_cannot_act
    from tuner.study.runner import prepare_study, remaining_work
    from tuner.training import resolve_runtime

    url = storage_url(options.storage)
    errors.print(f"checking study {spec.name!r} from {spec.source} ...")
    study = prepare_study(spec, options)
    base = spec.config({}, options.overrides)
    errors.print(describe_data(base), markup=False, highlight=False)
    for caveat in study.user_attrs.get(records.CAVEATS) or []:
        errors.print(f"caution: {caveat}", markup=False, highlight=False)
    todo = remaining_work(study, spec)
    if options.n_trials is not None:
        todo = options.n_trials if not spec.is_grid else min(todo, options.n_trials)
    workers, why = choose_workers(requested_workers, todo, options.devices)
    options = replace(options, workers=workers)
    per_worker = spec.config({}, with_worker_threads(options).overrides) if workers > 1 \
        else base  # decided at the thread count each worker will train with
    errors.print(f"runtime: {resolve_runtime(per_worker).describe()}", markup=False,
                 highlight=False)
    cannot_prune = pruner_cannot_act(
        spec, base.epochs, steps_per_epoch(len(build_splits(base).train), base))
    if cannot_prune and todo:
        errors.print(f"note: {cannot_prune}")
    errors.print(f"study {study.study_name!r} in {redact(url)}: {todo} trial(s) to run"
                 + (f" on {workers} worker(s) ({why})" if todo else ""))
    before = finished_numbers(study)
    notices: list[str] = []
    try:
        with StudyProgress(todo, errors, enabled=todo > 0) as progress:
            if todo == 0:
                errors.print("nothing left to run: every trial of this study is finished "
                              "(--n-trials N runs more of a sampled study)")
            else:
                notices = run_local(spec, options, study, progress)
    except KeyboardInterrupt:
        errors.print("interrupted: the running trial is marked failed; run the same "
                     "command again to resume")
        raise typer.Exit(130) from None
    except TunerError as exc:  # found while trials ran: not "before anything ran" (exit 2)
        errors.print(f"tuner: error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    outcome = run_outcome(study, before)
    outcome.left = remaining_work(study, spec)
    if outcome.ran:  # the note names the best configuration so far; nothing ran: unchanged
        save_study_note(study, spec, options.overrides)
    console.print(best_trials_table(study))
    for notice in notices:
        errors.print(f"warning: {notice}")
    if outcome.duplicates:
        errors.print(f"note: {outcome.duplicates} sampled configuration(s) were ones the study "
                     "held already (same parameters and repeat): recorded as duplicates, "
                     "not trained again")
    weak = weak_result(study)
    if weak and outcome.ran:
        errors.print(f"caution: {weak}", markup=False, highlight=False)
    if outcome.study_complete == 0 and outcome.pruned:
        errors.print(f"no trial of this study completed: all {outcome.pruned} run now were "
                     "pruned (the pruner's threshold or warm-up may not suit this data); "
                     f"see tuner best {study.study_name} --state pruned")
    console.print(f"results: {redact(url)} (study {study.study_name!r}); tables and plots: "
                  f"tuner export {study.study_name}; live view: tuner dashboard")
    if outcome.failed:
        errors.print(f"tuner: {outcome.failure_line(study.study_name)}", markup=False,
                     highlight=False)
    return outcome
