"""Running a study: check everything, create or resume it, then let workers take trials.

Everything a user can get wrong (the study file, its space, ``--set`` values, the dataset,
the storage URL) is checked before the study is created or touched, so a mistake costs
one line on stderr and leaves stored results as they were. Then the study is created (or
loaded), a grid is enqueued (only what is missing: rerunning resumes), and one or more
worker processes run trials with heartbeats. Workers on other machines run the same
command against the same storage.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from tuner import interrupt, records
from tuner.errors import TunerError
from tuner.optuna_internals import sql_engine, stale_trial_retry
from tuner.search.pruners import build_pruner
from tuner.search.samplers import build_sampler
from tuner.storage import artifact_store, open_storage, redact, storage_url, study_lock
from tuner.storage.grpc import is_grpc
from tuner.study.caveats import study_caveats
from tuner.study.checks import check_spec, searched_fields
from tuner.study.notes import save_study_note
from tuner.study.objective import Objective
from tuner.study.setup import defaults_difference, first_difference, study_setup
from tuner.study.spec import StudySpec
from tuner.workers import trial_queue
from tuner.workers.heartbeat import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S, MAX_RETRY
from tuner.workers.worker import STORAGE_ERRORS, LoopResult, run_trials


@dataclass
class RunOptions:
    """What ``tuner run`` was asked to do (command-line flags over the study file)."""

    storage: str | None = None
    study_name: str | None = None
    n_trials: int | None = None  # this run's budget; None: finish the grid / the study's n_trials
    timeout: float | None = None  # seconds, per worker
    overrides: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    save_weights: bool = False
    galleries: bool = True
    devices: list[int] | None = None  # GPUs for local workers; None: every visible one
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int = GRACE_PERIOD_S
    stage: str | None = None  # a campaign stage: spawned workers rebuild its spec by name
    stage_n_trials: int | None = None  # that stage's trials in all (tuner campaign --n-trials)


# -- the study ------------------------------------------------------------------------------
def _open_run_storage(url: str, options: RunOptions) -> optuna.storages.RDBStorage:
    """The storage with heartbeats and the retry callback of a run's workers."""
    return open_storage(url, heartbeat_interval=options.heartbeat_interval,
                        grace_period=options.grace_period,
                        stale_trial_callback=stale_trial_retry(MAX_RETRY))


def open_study(spec: StudySpec, url: str, options: RunOptions,
               storage: optuna.storages.RDBStorage | None = None) -> optuna.Study:
    """Create or load the study with heartbeats, the retry callback, sampler and pruner."""
    with warnings.catch_warnings():  # "set_metric_names is experimental" and the like
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.create_study(study_name=options.study_name or spec.name,
                                   storage=storage or _open_run_storage(url, options),
                                   sampler=build_sampler(spec), pruner=build_pruner(spec),
                                   direction="maximize", load_if_exists=True)


def prepare_study(spec: StudySpec, options: RunOptions) -> optuna.Study:
    """Check everything, then create the study and record its setup, or load it and insist
    on the same setup; for grids, enqueue what is missing. Returns the study.

    A study is one setup (:mod:`tuner.study.setup`): resuming with another study file,
    base, space, sampler, pruner, ``--set`` or dataset is refused before anything is
    written, and a study's attributes and note are written once, when it is created
    (with the data's caveats, :mod:`tuner.study.caveats`, for the run and the report).
    """
    check_spec(spec, options.overrides)
    caveats = study_caveats(spec, options.overrides)
    url = storage_url(options.storage)
    name = options.study_name or spec.name
    setup = study_setup(spec, options.overrides, searched_fields(spec))
    storage = _open_run_storage(url, options)
    try:
        return _create_or_resume(spec, options, url, name, setup, storage, caveats)
    except STORAGE_ERRORS as exc:  # e.g. a read-only database file or folder
        raise TunerError(f"storage {redact(url)}: cannot write the study "
                         f"({redact(_root_cause(exc))[:200]}); nothing was changed") from None


def _create_or_resume(spec: StudySpec, options: RunOptions, url: str, name: str,
                      setup: dict[str, Any], storage: optuna.storages.RDBStorage,
                      caveats: list[str]) -> optuna.Study:
    # two runs starting at once: one creates, one resumes (the lock on the storage's pool)
    with study_lock(url, name, sql_engine(storage)):
        existed = name in optuna.get_all_study_names(storage)
        study = open_study(spec, url, options, storage)
        stored = study.user_attrs.get(records.SETUP)
        if not existed:
            _describe_new_study(study, spec, options, setup, caveats)
        elif stored is None:  # made by a tuner that kept no setup: adopt this run's
            study.set_user_attr(records.SETUP, setup)
        else:
            difference = _setup_difference(study, stored, setup)
            if difference is not None:
                raise TunerError(
                    f"study {name!r} in {redact(url)} was created with another setup "
                    f"({difference}); a study is one setup: give this one a new name with "
                    "--study-name NAME, or rerun with the stored setup")
        if spec.is_grid:
            trial_queue.enqueue_grid(study, spec)
    return study


def _setup_difference(study: optuna.Study, stored: dict[str, Any], setup: dict[str, Any]
                      ) -> str | None:
    """The first difference between a study's stored setup and this run's; a setup stored
    without its defaults is checked against the configs its trials trained with."""
    if "defaults" in stored:
        return first_difference(stored, setup)
    configs = [t.user_attrs[records.CONFIG] for t in study.get_trials(deepcopy=False)
               if isinstance(t.user_attrs.get(records.CONFIG), dict)]
    return first_difference(stored, {k: v for k, v in setup.items() if k != "defaults"}) \
        or defaults_difference(stored, setup, configs)


def _describe_new_study(study: optuna.Study, spec: StudySpec, options: RunOptions,
                        setup: dict[str, Any], caveats: list[str]) -> None:
    """The attributes and the dashboard note of a study just created (written only now)."""
    study.set_metric_names([records.METRIC_NAME])
    study.set_user_attr(records.SETUP, setup)
    study.set_user_attr(records.CAVEATS, list(caveats))
    study.set_user_attr(records.QUESTION, spec.question)
    study.set_user_attr(records.STUDY_FILE, spec.source)
    study.set_user_attr(records.SEARCHED, sorted(searched_fields(spec)))
    study.set_user_attr(records.BASE, {**spec.base, **options.overrides})
    study.set_user_attr(records.REPEATS, spec.repeats)
    save_study_note(study, spec, options.overrides)


def remaining_work(study: optuna.Study, spec: StudySpec) -> int:
    """Trials still to run: for a grid the waiting ones plus the running ones (a running
    trial may be a dead worker's, to be retried once its heartbeat is stale); for a
    sampled study, up to ``n_trials``."""
    if spec.is_grid:
        return len(study.get_trials(deepcopy=False,
                                    states=(TrialState.WAITING, TrialState.RUNNING)))
    done = study.get_trials(deepcopy=False, states=(*trial_queue.PENDING_OR_DONE,))
    return max(spec.default_n_trials() - len(done), 0)


# -- one worker -----------------------------------------------------------------------------
def run_worker(spec: StudySpec, options: RunOptions, *, max_trials: int | None = None,
               on_trial_end: Callable[[FrozenTrial], None] | None = None,
               objective: Objective | None = None,
               wait_for_stale: bool = True, claim_only: bool | None = None,
               storage: optuna.storages.BaseStorage | None = None) -> LoopResult:
    """Run trials of the (already prepared) study in this process. A grid worker whose
    queue is empty waits (``wait_for_stale``) until other running trials are finished or
    their heartbeat is stale, so that it can take over a dead worker's trial.
    ``claim_only`` (default: for grids) takes only queued trials, never new sampled ones.
    ``storage``: the storage the run prepared the study with (one pool per process: at
    most two connections, docs/scale-out.md); else one is opened."""
    interrupt.install()
    url = storage_url(options.storage)
    study = open_study(spec, url, options, storage)
    objective = objective or Objective(spec, options.overrides, artifact_store(url),
                                       options.save_weights, options.galleries)
    deadline = time.monotonic() + options.timeout if options.timeout else None

    def under_target() -> bool:
        return max_trials is not None or remaining_work(study, spec) > 0

    def finished(trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE and not spec.is_grid:
            trial_queue.enqueue_repeats(study, trial, spec.repeats)
        if on_trial_end is not None:
            on_trial_end(trial)

    claim_only = spec.is_grid if claim_only is None else claim_only
    try:
        return run_trials(study, objective, claim_only=claim_only, max_trials=max_trials,
                          deadline=deadline, should_continue=under_target,
                          grace_period=options.grace_period if wait_for_stale else 0,
                          on_trial_end=finished,
                          heartbeat_interval=options.heartbeat_interval)
    except STORAGE_ERRORS as exc:
        raise TunerError(lost_database(url, exc)) from None


def lost_database(url: str, exc: BaseException) -> str:
    """What to say when the storage failed under a running worker, by its cause."""
    reason = redact(_root_cause(exc))
    parsed = sqlalchemy.engine.make_url(url)
    db_file = Path(parsed.database) if parsed.get_backend_name() == "sqlite" and \
        parsed.database else None
    if db_file is not None and not db_file.exists():
        return (f"storage {redact(url)}: the database file {db_file} was deleted while the "
                "run trained; the trials it held are gone with it")
    if "disk is full" in reason or "No space left" in reason:
        return (f"storage {redact(url)}: the disk holding the database is full "
                f"({reason[:200]}); free space, then rerun the same command to resume")
    lost = "the proxy" if is_grpc(url) else "the database"
    return (f"storage {redact(url)}: lost {lost} ({reason[:200]}); finished trials "
            "are stored; rerun the same command to resume")


def _root_cause(exc: BaseException) -> str:
    """First line of the innermost error with a message: Optuna wraps the driver's."""
    chain = [exc]
    while (chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    for error in reversed(chain):
        text = str(error).strip()
        if text and text != "()":
            return f"{type(error).__name__}: {text.splitlines()[0]}"
    return type(chain[-1]).__name__
