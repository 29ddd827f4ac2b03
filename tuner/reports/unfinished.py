"""Trials that did not complete, in the terminal: which were pruned where, which failed why.

``tuner run`` ends a run with failed trials on exit code 1 and points here
(``tuner best STUDY --state fail``); a study whose trials were all pruned points to
``--state pruned``.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.table import Table

from tuner import records
from tuner.records import repeat_of, trial_params
from tuner.results.formatting import param

#: ``--state`` names of ``tuner best`` for trials that did not complete
STATES = {"pruned": TrialState.PRUNED, "fail": TrialState.FAIL}


def trials_in_state(study: optuna.Study, state: str, top: int | None = None
                    ) -> list[FrozenTrial]:
    """The study's trials in ``state`` (a key of :data:`STATES`), newest first."""
    trials = study.get_trials(deepcopy=False, states=(STATES[state],))
    newest = sorted(trials, key=lambda t: t.number, reverse=True)
    return newest if top is None else newest[:top]


def why(trial: FrozenTrial) -> str:
    """In words: where a pruned trial stopped, or why a failed one failed."""
    attrs = trial.user_attrs
    if trial.state == TrialState.PRUNED:
        where = f"pruned at epoch {attrs.get(records.PRUNED_AT, '?')}"
        reason = attrs.get(records.PRUNE_REASON)
        if records.DUPLICATE_OF in attrs:
            return str(reason)
        return f"{where}: {reason}" if reason else where
    return records.fail_reason(trial)


def unfinished_table(study: optuna.Study, state: str, top: int = 10) -> Table:
    """A rich table of the newest ``top`` trials in ``state``: parameters (written as in
    every other table: ``3.4e-03`` for a learning rate) and reason."""
    trials = trials_in_state(study, state, top)
    names = sorted({name for t in trials for name in trial_params(t)})
    table = Table(title=f"{state} trials of {study.study_name!r} (newest first)")
    for column in ("trial", *names, "repeat", "epochs", "why"):
        table.add_column(column, justify="left" if column == "why" else "right")
    for t in trials:
        params = trial_params(t)
        table.add_row(str(t.number), *(param(params.get(n), n) for n in names),
                      str(repeat_of(t)), str(t.user_attrs.get(records.EPOCHS_RUN, "")), why(t))
    return table
