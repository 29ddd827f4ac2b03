"""Terminal tables: the studies of a storage, and the best configurations of one study.

"Which is best" has one answer everywhere (:mod:`tuner.results.winner`): configurations
ranked by their mean validation Dice over their runs (repeats and folds), the winner
possibly a cheaper configuration within the repeat noise of the best mean. The end-of-run
table, ``tuner best`` in every format and ``tuner studies`` read that rule here, as the
report and the campaign do, rather than ranking single trials by their value: a lucky seed
of a worse configuration is not the answer. Each configuration's best single run stays
visible as a column (``trial``, for ``tuner evaluate --trial``)."""

from __future__ import annotations

import statistics
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich import box
from rich.table import Table

from tuner import records
from tuner.reports import tables
from tuner.results import formatting as fmt
from tuner.results import paired
from tuner.results.runs import configurations
from tuner.results.winner import Configuration, Ranking, configuration_key, rank

WIDTH = 78  # the caption's lines; the table itself fits any console of 80 columns
STYLES = {"best": "bold", "tie": "italic", "": ""}  # as the report's bold and italic


@dataclass(frozen=True)
class Standing:
    """One configuration in the winner rule's order: its ``place`` by mean (1: the best
    mean), its ``mark`` (``best``: the winner; ``tie``: not distinguishable from the best
    mean, as in the report's tables) and its runs' trials."""

    place: int
    mark: str
    configuration: Configuration
    trials: list[FrozenTrial]

    def mean_of(self, read: Callable[[FrozenTrial], Any]) -> float | None:
        """The mean of ``read`` over this configuration's runs that recorded it."""
        found = [float(v) for v in map(read, self.trials) if isinstance(v, int | float)]
        return statistics.fmean(found) if found else None

    @property
    def top_trial(self) -> int:
        """The number of its best single run."""
        scores = dict(zip(self.configuration.trials, self.configuration.scores, strict=True))
        return max(scores, key=scores.get)


def _test_dice(trial: FrozenTrial) -> Any:
    return (trial.user_attrs.get(records.TEST) or {}).get("dice")


def _attr(name: str) -> Callable[[FrozenTrial], Any]:
    return lambda trial: trial.user_attrs.get(name)


def _cost(name: str) -> Callable[[FrozenTrial], Any]:
    """A trial's :data:`tuner.records.COST_NAMES` entry ``name`` (None: not recorded)."""
    return lambda trial: records.trial_costs(trial.user_attrs)[name]


def searched(study: optuna.Study) -> list[str]:
    """The fields ``study`` searches, as stored when it was created (what the campaign and
    ``evaluate --best`` read); a study made by another tool: its tables' parameter columns
    (a learning rate per optimizer, ``lr_adam``, folded into ``lr``)."""
    return list(study.user_attrs.get(records.SEARCHED) or tables.searched_columns(study))


def ranking_of(study: optuna.Study) -> Ranking | None:
    """The winner rule's ranking of ``study``'s completed runs (None without any)."""
    return rank(configurations(study, searched(study)))


def standings(study: optuna.Study, top: int | None = None) -> list[Standing]:
    """The ``top`` configurations of ``study`` by the winner rule, best mean first; the
    winner is always among them (after the ``top``, when a cheaper tie ranks lower)."""
    ranking = ranking_of(study)
    if ranking is None:
        return []
    by_number = {t.number: t for t in study.get_trials(deepcopy=False,
                                                       states=(TrialState.COMPLETE,))}
    found = paired.against_best(ranking)
    out = []
    for place, c in enumerate(ranking.configurations, start=1):
        if top is not None and place > top and c is not ranking.winner:
            continue
        mark = paired.mark(ranking, c, found.get(configuration_key(c.values)))
        out.append(Standing(place, mark, c, [by_number[n] for n in c.trials]))
    return out


def standing_row(standing: Standing) -> dict[str, Any]:
    """One configuration as plain values for JSON and CSV: place, mark, its values, the
    mean and sd of validation Dice over its ``n`` runs, means of the rest (its work:
    epochs, optimizer steps, GFLOP x images; process CPU seconds; wall seconds with the
    load average they ran under; None where not recorded), its runs."""
    c = standing.configuration
    return {"place": standing.place, "mark": standing.mark, **c.values,
            "val_dice": c.mean, "val_dice_sd": c.sd, "n": c.n,
            "test_dice": standing.mean_of(_test_dice),
            "best_epoch": standing.mean_of(_attr(records.BEST_EPOCH)),
            "epochs_run": standing.mean_of(_attr(records.EPOCHS_RUN)),
            "steps": standing.mean_of(_cost("steps")), "work": standing.mean_of(_cost("work")),
            "cpu_seconds": standing.mean_of(_cost("cpu_seconds")),
            "wall_seconds": standing.mean_of(_attr(records.SECONDS)),
            "load": standing.mean_of(_cost("load")),
            "top_trial": standing.top_trial, "trials": list(c.trials)}


def best_trials_table(study: optuna.Study, top: int = 10) -> Table:
    """A rich table of the ``top`` configurations by the winner rule that fits 80 columns:
    short headers (``wd`` for weight_decay), readable numbers (``2.0e-04``, Dice to 3
    decimals, whole CPU seconds), the winner bold and its ties italic with their mark, and a
    caption that spells it out. Test columns appear only when some run has them; columns
    sit one space apart instead of three when three would not fit."""
    rows = standings(study, top)
    names = searched(study)
    heads = fmt.short(dict.fromkeys(names))
    tests = any(s.mean_of(_test_dice) is not None for s in rows)
    header = ["#", "mark", *heads.values(), "val", "n", *(["test"] if tests else []),
              "best", "ep", "cpu", "trial"]
    cells = [_cells(s, names, tests) for s in rows]
    header, cells = _fitting(header, cells)
    natural = sum(max(len(c) for c in column) for column in zip(header, *cells, strict=True))
    roomy = natural + 3 * len(header) <= WIDTH
    table = Table(title=f"best configurations of {study.study_name!r} (mean validation Dice)",
                  box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1 if roomy else 0),
                  caption_justify="left")
    for head in header:
        table.add_column(head, justify="right", min_width=len(head), overflow="fold")
    for standing, row in zip(rows, cells, strict=True):
        table.add_row(*row, style=STYLES[standing.mark])
    cpu = any(s.mean_of(_cost("cpu_seconds")) is not None for s in rows)
    table.caption = textwrap.fill(_caption(heads, tests, bool(rows), header, cpu), WIDTH)
    return table


#: columns left out, in this order, while a table would not fit :data:`WIDTH` unfolded
DROPPABLE = ("best", "ep", "cpu", "test")


def _fitting(header: list[str], cells: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """``header`` and ``cells`` without the :data:`DROPPABLE` columns that a table of
    :data:`WIDTH` columns (one space apart) has no room for: a number folded over two
    lines (``0.825±0.`` / ``007``) misreads, a missing column does not."""
    for name in DROPPABLE:
        widths = [max(len(c) for c in column) for column in zip(header, *cells, strict=True)]
        if sum(widths) + len(header) + 1 <= WIDTH or name not in header:
            continue
        k = header.index(name)
        header = header[:k] + header[k + 1:]
        cells = [row[:k] + row[k + 1:] for row in cells]
    return header, cells


def _cells(standing: Standing, names: list[str], tests: bool) -> list[str]:
    c = standing.configuration
    return [str(standing.place), standing.mark, *(fmt.param(c.values.get(n), n) for n in names),
            fmt.mean_sd(c.mean, c.sd, pm="±"), str(c.n),
            *([fmt.number(standing.mean_of(_test_dice))] if tests else []),
            fmt.number(standing.mean_of(_attr(records.BEST_EPOCH)), "epoch"),
            fmt.number(standing.mean_of(_attr(records.EPOCHS_RUN)), "epoch"),
            fmt.number(standing.mean_of(_cost("cpu_seconds")), "seconds"),
            str(standing.top_trial)]


def _caption(heads: dict[str, str], tests: bool, any_rows: bool,
             shown: list[str] | None = None, cpu: bool = True) -> str:
    """What the columns and marks mean (explicit line breaks: the CLI's console does not
    wrap, so 80 columns must hold)."""
    if not any_rows:
        return "No completed run yet: nothing to rank."
    spelled = [fmt.legend(heads),
               "#: place by mean validation Dice over a configuration's runs (repeats and "
               "folds), n of them; val: that mean ± sd",
               "mark best: the winner by the winner rule (the best mean, or a configuration "
               "within the repeat noise of it that needs less training work); tie: not "
               "distinguishable from the best mean (paired test, or the repeat noise where "
               "too few pairs), as in the report",
               "test: mean test Dice" if tests else "",
               "best: mean best epoch", "ep: mean epochs run",
               "cpu: mean process CPU seconds of a run (training and validation)" if cpu else
               "cpu: not recorded (a study stored before tuner recorded CPU seconds)",
               "trial: its best single run"]
    kept = [part for part in spelled if part and (
        shown is None or part.split(":")[0] not in DROPPABLE or part.split(":")[0] in shown)]
    return "; ".join(kept)


def state_counts(study: optuna.Study) -> dict[str, int]:
    counts = {state.name.lower(): 0 for state in TrialState}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] += 1
    return counts


def winner_text(study: optuna.Study) -> str:
    """The winner's mean validation Dice and its runs, ``0.8123 (3)``; '' without any."""
    ranking = ranking_of(study)
    return "" if ranking is None else f"{ranking.winner.mean:.4f} ({ranking.winner.n})"


def studies_table(storage: optuna.storages.BaseStorage) -> Table:
    """One row per study in ``storage``: trials by state and the winner's mean validation
    Dice over its runs (the winner rule, as ``tuner best`` and the report)."""
    table = Table(title="studies", caption="winner: mean validation Dice of the winning "
                  "configuration over its runs (n)", caption_justify="left")
    for column in ("study", "complete", "pruned", "running", "waiting", "fail", "winner"):
        table.add_column(column, justify="right" if column != "study" else "left")
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        counts = state_counts(study)
        table.add_row(summary.study_name, *(str(counts[k]) for k in
                                            ("complete", "pruned", "running", "waiting", "fail")),
                      winner_text(study))
    return table
