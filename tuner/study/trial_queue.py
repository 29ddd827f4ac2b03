"""What waits in a study's queue: grid points x repeats, and repeats of sampled trials.

A grid study puts every (grid point, repeat) that is not already done, running or waiting
into Optuna's queue as a WAITING trial; the database then hands each one to exactly one
worker. Failed points (a crash, Ctrl-C) are enqueued again on the next run, so rerunning
the same command resumes the study. Two ``tuner run`` starting at the same moment must not
enqueue the grid twice: the runner enqueues under a study-wide lock (a PostgreSQL advisory
lock, or a lock file beside a SQLite database: :func:`tuner.storage.study_lock`).

Within each repeat, the biggest cells are queued first (longest processing time first):
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
from tuner.study.spec import StudySpec

PENDING_OR_DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING,
                   TrialState.WAITING)


def _key(params: dict[str, Any], repeat: int) -> str:
    return json.dumps({"params": params, "repeat": repeat}, sort_keys=True, default=str)


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


def missing_grid_trials(study: optuna.Study, spec: StudySpec) -> list[tuple[dict, int]]:
    """(grid point, repeat) pairs of ``spec`` that no trial of ``study`` covers yet, repeat
    by repeat and, within a repeat, the most work first (ties in file order)."""
    covered = {
        _key(trial_params(t), repeat_of(t))
        for t in study.get_trials(deepcopy=False, states=PENDING_OR_DONE)
    }
    longest_first = sorted(spec.grid_points(), key=expected_work, reverse=True)
    return [(point, repeat)
            for repeat in range(spec.repeats)
            for point in longest_first
            if _key(point, repeat) not in covered]


def enqueue_grid(study: optuna.Study, spec: StudySpec) -> int:
    """Enqueue the missing grid trials; returns how many. Call it under
    :func:`tuner.storage.study_lock`, so that two runs starting at once enqueue once."""
    missing = missing_grid_trials(study, spec)
    for point, repeat in missing:
        study.enqueue_trial(point, user_attrs={records.REPEAT: repeat})
    return len(missing)


def enqueue_repeats(study: optuna.Study, trial: FrozenTrial, repeats: int) -> None:
    """After repeat 0 of a sampled configuration, queue repeats 1..repeats-1 of it."""
    if repeats > 1 and repeat_of(trial) == 0:
        for repeat in range(1, repeats):
            study.enqueue_trial(trial.params, user_attrs={records.REPEAT: repeat})
