"""Every Optuna name tuner relies on that Optuna does not promise to keep, in one place.

tuner claims waiting trials itself (a grid point must go to exactly one worker:
``tuner.study.worker``), beats a running trial's heartbeat from its own thread, reads the
artifacts of a stored trial, and finds the SQLite file behind a storage. Optuna's public
API offers none of these, so the private names they need (``Study._storage``,
``Study._study_id``, ``FrozenTrial._trial_id``, the ``Trial`` constructor, the cached
storage's ``_backend``) are read here and nowhere else, and so are the names that differ
between the supported releases (the stale-trial retry callback is
``RetryHeartbeatStaleTrialCallback`` from Optuna 5, ``RetryFailedTrialCallback`` before, and
``RDBStorage`` takes it under another keyword).

It also sets how loud Optuna is (:func:`quiet_optuna`), the one other thing every command
asks of Optuna before using it.

``tests/test_optuna_internals.py`` runs every function here on the installed Optuna; CI
runs it on the lowest and the newest release that ``pyproject.toml`` admits, so an upgrade
that moves one fails there, by name, instead of deep inside a run.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial


def quiet_optuna() -> None:
    """Optuna's log at warnings only, and no ExperimentalWarning (heartbeats, metric names,
    PatientPruner, constant_liar... are marked experimental; a user cannot act on that)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage behind ``study`` (Optuna's own artifact helpers need it passed)."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    """The storage's id of ``study`` (what the storage's trial queries take)."""
    return study._study_id


def trial_id(trial: optuna.Trial | FrozenTrial) -> int:
    """The storage's id of ``trial`` (a trial's number is per study; its id is global)."""
    return trial._trial_id


def live_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """An ``optuna.Trial`` for a trial this worker has set RUNNING itself: what
    ``Study.ask`` returns after popping its queue, without its own pop."""
    return optuna.Trial(study, trial_id)


def sql_engine(storage: object) -> Any | None:
    """The SQLAlchemy engine of an RDB storage (inside Optuna's cache around it), or None
    for storages of other kinds."""
    backend = getattr(storage, "_backend", storage)
    return getattr(backend, "engine", None)


def stale_trial_retry(max_retry: int) -> Any:
    """The callback that puts a heartbeat-stale trial back in the queue, at most
    ``max_retry`` times (named by the release)."""
    callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
        or optuna.storages.RetryFailedTrialCallback
    return callback(max_retry=max_retry)


def heartbeat_options(interval: int | None, grace_period: int | None,
                      stale_trial_callback: Any) -> dict[str, Any]:
    """``RDBStorage`` keyword arguments for heartbeats and the stale-trial callback (the
    callback's keyword is ``heartbeat_stale_trial_callback`` from Optuna 5,
    ``failed_trial_callback`` before)."""
    parameters = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    keyword = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" \
        in parameters else "failed_trial_callback"
    return {"heartbeat_interval": interval, "grace_period": grace_period,
            keyword: stale_trial_callback}


def retry_history(trial: FrozenTrial) -> list[int]:
    """Numbers of the trials that ``trial`` retries, oldest first (empty: no retry)."""
    callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) \
        or optuna.storages.RetryFailedTrialCallback
    return list(callback.retry_history(trial))
