"""Terminal tables: the studies of a storage, and the best trials of one study."""

from __future__ import annotations

import textwrap

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich import box
from rich.table import Table

from tuner import records
from tuner.records import repeat_of, trial_params
from tuner.reports import tables
from tuner.results import formatting as fmt

WIDTH = 78  # the caption's lines; the table itself fits any console of 80 columns


def best_trials_table(study: optuna.Study, top: int = 10) -> Table:
    """A rich table of the ``top`` trials that fits 80 columns: short headers (``wd`` for
    weight_decay; a learning rate per optimizer folded into ``lr``), readable numbers
    (``2.0e-04``, Dice to 3 decimals, whole seconds), and a caption that spells them out.
    Repeat and test columns appear only when some trial has them; columns sit one space
    apart instead of three when three would not fit, and a value wider still folds."""
    trials = records.ranked_trials(study, top)
    columns = tables.param_columns(study)
    heads = fmt.short(dict.fromkeys(columns.values()))
    repeats = any(repeat_of(t) for t in trials)
    tests = any(records.TEST in t.user_attrs for t in trials)
    header = ["#", *heads.values(), *(["rep"] if repeats else []), "val",
              *(["test"] if tests else []), "best", "ep", "s"]
    rows = [_row(t, columns, list(heads), repeats, tests) for t in trials]
    natural = sum(max(len(c) for c in column) for column in zip(header, *rows, strict=True))
    roomy = natural + 3 * len(header) <= WIDTH
    table = Table(title=f"best trials of {study.study_name!r} (validation Dice)",
                  box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1 if roomy else 0),
                  caption_justify="left")
    for head in header:
        table.add_column(head, justify="right", min_width=len(head), overflow="fold")
    for row in rows:
        table.add_row(*row)
    spelled = [fmt.legend(heads), "rep: repeat" if repeats else "",
               "val: best validation Dice", "test: test Dice" if tests else "",
               "best: best epoch", "ep: epochs run", "s: seconds"]
    # explicit line breaks: the CLI's console does not wrap (soft_wrap), 80 columns must hold
    table.caption = textwrap.fill("; ".join(part for part in spelled if part), WIDTH)
    return table


def _row(trial: FrozenTrial, columns: dict[str, str], names: list[str], repeats: bool,
         tests: bool) -> list[str]:
    attrs = trial.user_attrs
    values = {columns[k]: v for k, v in trial_params(trial).items()}
    return [str(trial.number), *(fmt.param(values.get(n), n) for n in names),
            *([str(repeat_of(trial))] if repeats else []), fmt.number(trial.value),
            *([fmt.number((attrs.get(records.TEST) or {}).get("dice"))] if tests else []),
            fmt.number(attrs.get(records.BEST_EPOCH), "count"),
            fmt.number(attrs.get(records.EPOCHS_RUN), "count"),
            fmt.number(attrs.get(records.SECONDS), "seconds")]


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
