"""The trial queue of a study: grid points x repeats enqueued once, repeats of sampled trials.

A grid study puts every (grid point, repeat) that is not already done, running or waiting
into Optuna's queue as a WAITING trial; the database then hands each one to exactly one
worker. Failed points (a crash, Ctrl-C) are enqueued again on the next run, so rerunning
the same command resumes the study. Two ``tuner run`` starting at the same moment must not
enqueue the grid twice: enqueueing happens under a study-wide lock (a PostgreSQL advisory
lock, or a lock file beside a SQLite database).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.records import trial_params
from tuner.spec import StudySpec
from tuner.storage import sqlite_lock

PENDING_OR_DONE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING,
                   TrialState.WAITING)


def _key(params: dict[str, Any], repeat: int) -> str:
    return json.dumps({"params": params, "repeat": repeat}, sort_keys=True, default=str)


def missing_grid_trials(study: optuna.Study, spec: StudySpec) -> list[tuple[dict, int]]:
    """(grid point, repeat) pairs of ``spec`` that no trial of ``study`` covers yet."""
    covered = {
        _key(trial_params(t), int(t.user_attrs.get(records.REPEAT, 0)))
        for t in study.get_trials(deepcopy=False, states=PENDING_OR_DONE)
    }
    return [(point, repeat)
            for repeat in range(spec.repeats)
            for point in spec.grid_points()
            if _key(point, repeat) not in covered]


def enqueue_grid(study: optuna.Study, spec: StudySpec, storage_url: str) -> int:
    """Enqueue the missing grid trials under the study lock; returns how many."""
    with study_lock(storage_url, study.study_name):
        missing = missing_grid_trials(study, spec)
        for point, repeat in missing:
            study.enqueue_trial(point, user_attrs={records.REPEAT: repeat})
    return len(missing)


def enqueue_repeats(study: optuna.Study, trial: FrozenTrial, repeats: int) -> None:
    """After repeat 0 of a sampled configuration, queue repeats 1..repeats-1 of it."""
    if repeats > 1 and int(trial.user_attrs.get(records.REPEAT, 0)) == 0:
        for repeat in range(1, repeats):
            study.enqueue_trial(trial.params, user_attrs={records.REPEAT: repeat})


@contextlib.contextmanager
def study_lock(storage_url: str, study_name: str) -> Iterator[None]:
    """Mutual exclusion between processes that prepare the same study."""
    url = sqlalchemy.engine.make_url(storage_url)
    if url.get_backend_name() == "postgresql":
        key = int.from_bytes(hashlib.sha1(study_name.encode()).digest()[:8], "big", signed=True)
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("select pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("select pg_advisory_unlock(:k)"), {"k": key})
        finally:
            engine.dispose()
    elif url.get_backend_name() == "sqlite" and url.database:
        with sqlite_lock(Path(url.database)):
            yield
    else:  # other databases: the one-machine case, a single preparing process
        yield
