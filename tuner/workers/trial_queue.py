"""What waits in a study's queue: grid points x units, and the units of sampled trials.

A configuration's units are its repeats x folds (:func:`tuner.study.spec.unit_parts`; a
unit is stored as the trial's repeat, and with folds > 1 its fold beside it, so that
tables can show it). A grid study puts every (grid point, unit) that is not already done,
running or waiting
into Optuna's queue as a WAITING trial; the database then hands each one to exactly one
worker. Failed points (a crash, Ctrl-C) are enqueued again on the next run, so rerunning
the same command resumes the study. Two ``tuner run`` starting at the same moment must not
enqueue the grid twice: the runner enqueues under a study-wide lock (a PostgreSQL advisory
lock, or a lock file beside a SQLite database: :func:`tuner.storage.study_lock`), the lock
under which a worker also fails a stale trial and queues its retry
(:mod:`tuner.workers.worker`), so a run starting meanwhile never sees the point failed
without its retry.

A trial's point is its enqueued ``fixed_params`` (retries copy them), never the
parameters it has suggested so far: a running trial between its first and last suggest
holds only part of its point, and reading that as a point of its own once queued a grid
point a second time while the first trial of it ran on (8 processes on 2 cores).

Within each unit, the biggest cells are queued first (longest processing time first):
the last trials to start are then the shortest, and workers finish nearly together
instead of one training the largest cell alone while the others idle.
"""

from __future__ import annotations

import json
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.records import repeat_of, trial_params
from tuner.study.spec import StudySpec, unit_parts

PENDING_OR_DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING,
                   TrialState.WAITING)


def _key(params: dict[str, Any], repeat: int) -> str:
    return json.dumps({"params": params, "repeat": repeat}, sort_keys=True, default=str)


def unit_attrs(unit: int, folds: int) -> dict[str, int]:
    """The user attributes a queued trial of paired unit ``unit`` starts with: its unit
    (as its repeat) and, with folds > 1, its fold (without: exactly what was stored before)."""
    return {records.REPEAT: unit, **({records.FOLD: unit_parts(unit, folds)[0]}
                                     if folds > 1 else {})}


def study_folds(study: optuna.Study, spec: StudySpec) -> int:
    """The folds of ``study``: of the base and ``--set`` it was created with (stored, and
    the same in every run of one setup), else of ``spec`` and the run that loaded it."""
    return spec.folds_of(study.user_attrs.get(records.BASE) or {})


# Fields whose value scales a trial's training work, with the power it scales by (conv
# cost grows with the square of the image side and of the width); the others cost alike.
WORK_POWERS = {"train_fraction": 1, "epochs": 1, "image_size": 2, "base_channels": 2}


def expected_work(point: dict[str, Any]) -> float:
    """A grid point's training work relative to the other points of its grid, from the
    fields it sets (fields every point shares scale them all alike)."""
    work = 1.0
    for name, power in WORK_POWERS.items():
        value = point.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            work *= value ** power
    return work


def grid_point_of(trial: FrozenTrial) -> dict[str, Any]:
    """The point a trial was queued with (its ``fixed_params``, whole from the moment it
    is queued), else, for a trial never queued, the parameters it ran with."""
    fixed = trial.system_attrs.get(records.FIXED_PARAMS)
    return dict(fixed) if isinstance(fixed, dict) else trial_params(trial)


def missing_grid_trials(study: optuna.Study, spec: StudySpec) -> list[tuple[dict, int]]:
    """(grid point, unit) pairs of ``spec`` that no trial of ``study`` covers yet
    (complete, pruned, running or waiting), unit by unit and, within a unit, the most
    work first (ties in file order); units are repeats x folds."""
    covered = {
        _key(grid_point_of(t), repeat_of(t))
        for t in study.get_trials(deepcopy=False, states=PENDING_OR_DONE)
    }
    longest_first = sorted(spec.grid_points(), key=expected_work, reverse=True)
    return [(point, repeat)
            for repeat in range(spec.repeats * study_folds(study, spec))
            for point in longest_first
            if _key(point, repeat) not in covered]


def enqueue_grid(study: optuna.Study, spec: StudySpec) -> int:
    """Enqueue the missing grid trials; returns how many. Call it under
    :func:`tuner.storage.study_lock`, so that two runs starting at once enqueue once and
    a stale trial's takeover (failed, then its retry queued) is never seen half done."""
    missing = missing_grid_trials(study, spec)
    folds = study_folds(study, spec)
    for point, unit in missing:
        study.enqueue_trial(point, user_attrs=unit_attrs(unit, folds))
    return len(missing)


def enqueue_repeats(study: optuna.Study, trial: FrozenTrial, repeats: int) -> None:
    """After unit 0 of a sampled configuration, queue its units 1 .. repeats x folds - 1
    (its folds: those of the config it trained with)."""
    folds = int((trial.user_attrs.get(records.CONFIG) or {}).get("folds", 1))
    if repeats * folds > 1 and repeat_of(trial) == 0:
        for unit in range(1, repeats * folds):
            study.enqueue_trial(trial.params, user_attrs=unit_attrs(unit, folds))
