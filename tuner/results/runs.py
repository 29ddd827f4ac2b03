"""Completed runs of a stored study, as the evidence the winner rule reads.

A trial is a run of its configuration when it completed and is not a duplicate (a sampled
configuration that the study had trained already is recorded as such and never trained:
:data:`tuner.records.DUPLICATE_OF`). Its configuration's values come from its resolved
config, so a parameter searched under another name (``lr_adam``) counts as its field.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.errors import TunerError
from tuner.results.winner import Configuration, Run, Winner, group_runs, rank, winner_record


def is_duplicate(trial: FrozenTrial) -> bool:
    """Whether ``trial`` was a sampled repeat of a configuration the study held already."""
    return records.DUPLICATE_OF in trial.user_attrs


def searched_values(trial: FrozenTrial, searched: list[str]) -> dict[str, Any]:
    """The values of the ``searched`` fields that ``trial`` trained with."""
    config = trial.user_attrs.get(records.CONFIG) or {}
    params = records.trial_params(trial)
    return {name: config.get(name, params.get(name)) for name in searched}


def searched_of(study: optuna.Study) -> list[str]:
    """The fields ``study`` searches: as stored when it was created, else (a study made by
    another tool) the names of its trials' parameters."""
    stored = study.user_attrs.get(records.SEARCHED)
    if stored:
        return list(stored)
    return sorted({name for trial in study.get_trials(deepcopy=False)
                   for name in records.trial_params(trial)})


def completed_runs(study: optuna.Study, searched: list[str]) -> list[Run]:
    """Every completed, non-duplicate trial of ``study`` as a :class:`Run`."""
    runs = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if is_duplicate(trial) or trial.value is None or not math.isfinite(trial.value):
            continue
        work = trial.user_attrs.get(records.WORK)
        runs.append(Run(searched_values(trial, searched), records.repeat_of(trial),
                        float(trial.value), trial.number,
                        float(work) if isinstance(work, int | float) else None,
                        identity=records.trial_params(trial)))
    return runs


def configurations(study: optuna.Study, searched: list[str]) -> list[Configuration]:
    """The study's configurations of ``searched`` with their runs (one per repeat: per
    paired unit, repeats x folds, in a study with folds)."""
    return group_runs(completed_runs(study, searched))


def unfinished_trials(study: optuna.Study) -> int:
    """Trials still waiting or running: a study with any is not read for a winner."""
    return len(study.get_trials(deepcopy=False,
                                states=(TrialState.WAITING, TrialState.RUNNING)))


def choose_winner(study: optuna.Study, searched: list[str]) -> Winner:
    """The winning configuration of a finished ``study`` by the rule of
    :mod:`tuner.results.winner`; one-line errors for a study that searches nothing, is
    unfinished, or has no completed trial."""
    name = study.study_name
    if not searched:
        raise TunerError(f"study {name!r} searches no field: there is no winner to fix")
    waiting = unfinished_trials(study)
    if waiting:
        raise TunerError(f"study {name!r} is unfinished ({waiting} trial(s) waiting or "
                         "running): finish it before a later stage reads its winner")
    ranking = rank(configurations(study, searched))
    if ranking is None:
        raise TunerError(f"study {name!r} has no completed trial: nothing to choose from")
    return winner_record(name, ranking)
