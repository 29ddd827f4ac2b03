"""Terminal tables: the studies of a storage, and the best trials of one study."""

from __future__ import annotations

import optuna
from optuna.trial import TrialState
from rich.table import Table

from tuner import records
from tuner.records import repeat_of, trial_params


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def best_trials_table(study: optuna.Study, top: int = 10) -> Table:
    """A rich table of the ``top`` trials: parameters, repeat, Dice, epochs, seconds."""
    trials = records.ranked_trials(study, top)
    names = sorted({name for t in trials for name in trial_params(t)})
    table = Table(title=f"best trials of {study.study_name!r} (validation Dice)")
    for column in ("trial", *names, "repeat", "val Dice", "test Dice", "best epoch",
                   "epochs", "seconds"):
        table.add_column(column, justify="right")
    for t in trials:
        attrs = t.user_attrs
        test = attrs.get(records.TEST, {}).get("dice")
        table.add_row(str(t.number), *(_fmt(t.params.get(n, "")) for n in names),
                      str(repeat_of(t)), f"{t.value:.4f}",
                      "" if test is None else f"{test:.4f}",
                      str(attrs.get(records.BEST_EPOCH, "")),
                      str(attrs.get(records.EPOCHS_RUN, "")),
                      f"{attrs.get(records.SECONDS, 0.0):.1f}")
    return table


def state_counts(study: optuna.Study) -> dict[str, int]:
    counts = {state.name.lower(): 0 for state in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] += 1
    return counts


def studies_table(storage: optuna.storages.BaseStorage) -> Table:
    """One row per study in ``storage``: trials by state and the best value."""
    table = Table(title="studies")
    for column in ("study", "complete", "pruned", "running", "waiting", "fail", "best val Dice"):
        table.add_column(column, justify="right" if column != "study" else "left")
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=True):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        counts = state_counts(study)
        best = summary.best_trial.value if summary.best_trial is not None else None
        table.add_row(summary.study_name, *(str(counts[k]) for k in
                                            ("complete", "pruned", "running", "waiting", "fail")),
                      "" if best is None else f"{best:.4f}")
    return table
