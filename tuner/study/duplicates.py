"""A sampled configuration the study holds already is not trained again.

Seeding per trial (:mod:`tuner.search.samplers`) keeps workers and resumes from drawing the
same random points, but a sampler can still propose a configuration the study trained
(TPE over a small categorical space does, once the space is used up). Training it again
would cost a run and count as a second repeat in every table, so the objective asks
:func:`earlier_same` first: a draw whose parameters and repeat equal those of another
completed, pruned or running trial is recorded as a duplicate of it
(:data:`tuner.records.DUPLICATE_OF`) and ended as PRUNED without training; the tables,
notes and winner rule leave it out, and the sampler moves on. Trials taken from the queue
(grid points, repeats, retries) are what the queue asked for and never count as duplicates.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from tuner import records
from tuner.records import repeat_of, trial_params
from tuner.results.runs import is_duplicate

HELD = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


def earlier_same(trial: optuna.Trial) -> int | None:
    """The number of another trial holding the configuration that ``trial`` drew (the
    same parameters and repeat), or None (also for trials taken from the queue)."""
    trials = trial.study.get_trials(deepcopy=False)
    this = next((t for t in trials if t.number == trial.number), None)
    if this is None or records.FIXED_PARAMS in this.system_attrs:
        return None
    params, repeat = dict(trial.params), repeat_of(trial)
    for other in trials:
        if other.number == trial.number or other.state not in HELD or is_duplicate(other):
            continue
        if other.state == TrialState.RUNNING and other.number > trial.number:
            continue  # two draws of one configuration at once: the older trial trains it
        if trial_params(other) == params and repeat_of(other) == repeat:
            return other.number
    return None
