"""Tables of a study, computed once and reused by exports, plots and reports.

Computation only: every function returns numbers in a pandas DataFrame (Optuna's plot
modules work the same way: compute the data, then draw it); :mod:`tuner.reports.display`
turns them into text. Column meanings are in ``docs/exports.md``.

- :func:`trials_frame`: one row per trial (``trials.csv``);
- :func:`comparison_frame`: one row per configuration (the searched parameters), mean,
  standard deviation and count over its repeats (``comparison.*``), and each metric's
  marks and paired comparison with the best (:mod:`tuner.results.paired`);
- :func:`pivot_frame`: two-parameter studies, first parameter down, second across;
- :func:`best_value_frame`: the best learning rate (or other value) per optimizer x loss;
- :func:`curves_frame`: every per-epoch curve in tidy long format (``curves.csv``).

Parameters that set a config field under another name (``lr_adam``, ``lr_sgd`` in a space
that searches a learning rate per optimizer) are folded back into that field's column
(``lr``), so a table has one ``lr`` column instead of one per optimizer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd

from tuner import records
from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.records import repeat_of, trial_params
from tuner.results import curves as curve_names
from tuner.results import paired
from tuner.results.formatting import label
from tuner.results.winner import Ranking, Run, configuration_key, group_runs, rank

#: metrics taken from the per-epoch curves, as ``final_<name>`` (last epoch run) and
#: ``best_<name>`` (at ``best_epoch``, the epoch of the highest validation Dice, whose
#: weights a trial keeps)
CURVE_COLUMNS = (
    "train_loss", "val_loss", "train_dice", "val_dice", "train_iou", "val_iou",
)  # fmt: skip
#: precision and recall are reported at the best epoch only
BEST_ONLY = ("val_precision", "val_recall")
FIXED_COLUMNS = (
    "number", "state", "repeat", "seed",
    *(f"{kind}_{name}" for name in CURVE_COLUMNS for kind in ("final", "best")),
    *(f"best_{name}" for name in BEST_ONLY),
    "best_epoch", "epochs_run", "pruned_at", *records.COST_NAMES, "duplicate_of",
)  # fmt: skip
#: columns that :func:`comparison_frame` averages, the first one ranks configurations
COMPARED = (
    "best_val_dice", "best_val_iou", "best_val_precision", "best_val_recall",
    "test_dice", "test_iou", "final_train_loss", "final_val_loss", "final_train_dice",
    "final_val_dice", "best_epoch", "epochs_run", *records.COST_NAMES,
)  # fmt: skip
RANK_BY = "best_val_dice_mean"
#: the comparison column whose ranking names the winner (the others only mark their best)
WINNER_COLUMN = "best_val_dice"
#: columns that hold whole numbers (nullable: empty where a trial has no value)
INTEGER_COLUMNS = ("number", "repeat", "seed", "best_epoch", "epochs_run", "pruned_at",
                   "steps", "duplicate_of")
PARAM_PREFIX = "param_"  # only for a searched parameter whose name is a fixed column
FINISHED = ("COMPLETE", "PRUNED")
CONFIG_FIELDS = tuple(TrainConfig().to_dict())


@dataclass(frozen=True)
class Metric:
    """A value a table can show per configuration: ``column`` of :func:`trials_frame`
    (``<column>_mean``, ``<column>_std`` in :func:`comparison_frame`), its title, whether
    higher is better, and its kind of number (:func:`tuner.results.formatting.number`)."""

    column: str
    title: str
    higher_is_better: bool
    kind: str


#: what ``--metric`` can pick, by name
METRICS = {
    "val_dice": Metric("best_val_dice", "val Dice", True, "score"),
    "test_dice": Metric("test_dice", "test Dice", True, "score"),
    "train_dice": Metric("final_train_dice", "train Dice", True, "score"),
    "val_iou": Metric("best_val_iou", "val IoU", True, "score"),
    "test_iou": Metric("test_iou", "test IoU", True, "score"),
    "train_loss": Metric("final_train_loss", "train loss", False, "loss"),
    "val_loss": Metric("final_val_loss", "val loss", False, "loss"),
    "best_epoch": Metric("best_epoch", "best epoch", False, "epoch"),
    "epochs": Metric("epochs_run", "epochs", False, "epoch"),
    "seconds": Metric("seconds", "wall s", False, "seconds"),
    "seconds_to_best": Metric("seconds_to_best", "wall s to best", False, "seconds"),
}  # fmt: skip


def metric(name: str) -> Metric:
    """The :data:`METRICS` entry ``name``; TunerError naming the valid names."""
    if name not in METRICS:
        raise TunerError(f"--metric: got {name!r}, expected one of {', '.join(METRICS)}")
    return METRICS[name]


def param_columns(study: optuna.Study) -> dict[str, str]:
    """Searched parameter name -> its column in :func:`trials_frame`, in search order.

    The column is the parameter's own name (``weight_decay``); the config field it sets
    when its name is that field plus a suffix and every trial's config agrees (``lr_adam``
    -> ``lr``, unless ``lr`` itself is searched); ``param_<name>`` in the rare case that
    the name is also a fixed column (``seed``, ``repeat``, ...).
    """
    trials = study.get_trials(deepcopy=False)
    names = list(dict.fromkeys(name for trial in trials for name in trial_params(trial)))
    columns: dict[str, str] = {}
    for name in names:
        field = _folded_field(name, trials)
        column = field if field is not None and field not in names else name
        columns[name] = PARAM_PREFIX + column if column in FIXED_COLUMNS else column
    return columns


def searched_columns(study: optuna.Study) -> list[str]:
    """The parameter columns of the study's tables, each once (``lr_*`` folded to ``lr``)."""
    return list(dict.fromkeys(param_columns(study).values()))


def continuous_columns(study: optuna.Study) -> set[str]:
    """The parameter columns searched over a range (float or int), not from a list."""
    columns = param_columns(study)
    return {columns[name] for trial in study.get_trials(deepcopy=False)
            for name, dist in trial.distributions.items()
            if name in columns and not isinstance(
                dist, optuna.distributions.CategoricalDistribution)}


def _folded_field(name: str, trials: list[optuna.trial.FrozenTrial]) -> str | None:
    """The config field that parameter ``name`` sets under another name, or None."""
    if name in CONFIG_FIELDS:
        return None
    fields = [f for f in CONFIG_FIELDS if name.startswith(f + "_")]
    if not fields:
        return None
    field, seen = max(fields, key=len), False
    for trial in trials:
        config, value = trial.user_attrs.get(records.CONFIG), trial_params(trial).get(name)
        if value is None or not isinstance(config, dict):
            continue
        if field not in config or not _same(config[field], value):
            return None
        seen = True
    return field if seen else None


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    """One row per trial of any state: ``number, state, <params>, repeat, seed, ...``.

    Column order is :data:`FIXED_COLUMNS` with the searched parameters after ``state``,
    then ``test_<metric>`` for every metric of the test split (finished trials only).
    Values a trial does not have (no curves yet, not pruned) are empty (NaN).
    """
    params = param_columns(study)
    rows, test_names = [], []
    for trial in study.get_trials(deepcopy=False):
        row = _trial_row(trial)
        values = trial_params(trial)
        for name, column in params.items():
            if values.get(name) is not None or column not in row:
                row[column] = values.get(name)
        for name, value in (trial.user_attrs.get(records.TEST) or {}).items():
            row[f"test_{name}"] = value
            if name not in test_names:
                test_names.append(name)
        rows.append(row)
    order = [*FIXED_COLUMNS[:2], *dict.fromkeys(params.values()), *FIXED_COLUMNS[2:],
             *(f"test_{m}" for m in test_names)]
    frame = pd.DataFrame(rows, columns=order)
    return frame.astype({c: "Int64" for c in INTEGER_COLUMNS if _whole(frame[c])})


def _whole(column: pd.Series) -> bool:
    values = pd.to_numeric(column, errors="coerce").dropna()
    return len(values) == column.notna().sum() and bool((values % 1 == 0).all())


def _trial_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    attrs = trial.user_attrs
    curves = attrs.get(records.CURVES) or {}
    epochs_run = attrs.get(records.EPOCHS_RUN, len(curves.get("val_dice", [])) or None)
    best_epoch = attrs.get(records.BEST_EPOCH)
    row: dict[str, Any] = dict(
        number=trial.number, state=trial.state.name,
        repeat=attrs.get(records.REPEAT), seed=attrs.get(records.SEED),
        best_epoch=best_epoch, epochs_run=epochs_run,
        pruned_at=attrs.get(records.PRUNED_AT), **records.trial_costs(attrs),
        duplicate_of=attrs.get(records.DUPLICATE_OF),
    )  # fmt: skip
    for name in (*CURVE_COLUMNS, *BEST_ONLY):
        values = curves.get(name) or []
        if name in CURVE_COLUMNS:
            row[f"final_{name}"] = values[-1] if values else None
        in_range = best_epoch is not None and 1 <= best_epoch <= len(values)
        row[f"best_{name}"] = values[best_epoch - 1] if in_range else None
    if row["best_val_dice"] is None:  # no curves: the recorded best is still known
        row["best_val_dice"] = attrs.get(records.BEST_VAL_DICE)
    return row


def comparison_frame(trials: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """One row per configuration of ``params`` (columns of ``trials``), best first.

    Statistics over the runs of each configuration: its completed trials, one per repeat
    (duplicates, and a second completed trial of a repeat, are no further repeats:
    :func:`runs_frame`). For every column of :data:`COMPARED`, ``<column>_mean`` and
    ``<column>_std`` (sample standard deviation, empty with one run); ``n``: runs,
    ``pruned``: pruned trials; and for every ranked metric of :data:`METRICS`,
    ``<column>_mark`` (``best``, ``tie`` or ``""``), ``<column>_noise`` (its repeat
    noise, the same in every row) and the paired comparison with the best
    (:func:`tuner.results.paired.columns`). A configuration whose trials were all pruned
    keeps its row with ``n = 0``.
    """
    finished = trials[trials["state"].isin(FINISHED) & trials["duplicate_of"].isna()]
    keys = list(params) or ["_all"]
    finished = finished.assign(_all="all") if not params else finished
    done = runs_frame(finished)
    grouped = done.groupby(keys, dropna=False, sort=False)
    columns = [c for c in COMPARED if c in trials]
    stats = grouped[columns].agg(["mean", "std"])
    stats.columns = [f"{col}_{stat}" for col, stat in stats.columns]
    counts = finished.groupby(keys, dropna=False, sort=False)["state"]
    table = pd.DataFrame({
        "n": grouped.size(),
        "pruned": counts.apply(lambda s: int((s == "PRUNED").sum())),
    })  # fmt: skip
    table["n"] = table["n"].fillna(0).astype(int)
    table = table.join(stats).reset_index()
    table = _with_marks(table, done, keys)
    if not params:
        table = table.drop(columns="_all")
    return table.sort_values(RANK_BY, ascending=False, na_position="last", kind="stable",
                             ignore_index=True)


def identity_columns(trials: pd.DataFrame) -> list[str]:
    """The parameter columns of a trials frame: together with the repeat, a run's identity."""
    return [c for c in trials.columns if c not in FIXED_COLUMNS and c != "_all"
            and not c.startswith("test_")]


def runs_frame(finished: pd.DataFrame) -> pd.DataFrame:
    """The completed rows of ``finished`` that count as runs: the first completed trial of
    each set of parameters and repeat, as :func:`tuner.results.winner.group_runs` counts
    them."""
    done = finished[finished["state"] == "COMPLETE"].sort_values("number", kind="stable")
    identity = identity_columns(done)
    marker = done[identity].astype(object).where(done[identity].notna(), None).map(repr)
    return done[~marker.assign(_repeat=done["repeat"].fillna(0)).duplicated(keep="first")]


def _with_marks(table: pd.DataFrame, done: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``table`` with every ranked metric's marks and paired comparison with the best
    (:func:`tuner.results.paired.columns`: ``<column>_mark``, ``_noise``, ``_pairs``...)."""
    rows = [configuration_key(row) for row in table[keys].to_dict("records")]
    added = {}
    for m in (m for m in METRICS.values() if m.column in done):
        found, empty = paired.columns(rank_rows(done, keys, m), m.column)
        for name in paired.names(m.column):
            values = [found.get(key, empty)[name] for key in rows]
            added[name] = pd.array(values, dtype="Int64") if name.endswith("_pairs") else values
    return pd.concat([table, pd.DataFrame(added, index=table.index)], axis=1)


def rank_rows(done: pd.DataFrame, keys: list[str], m: Metric | None = None) -> Ranking | None:
    """The ranking of the run rows ``done`` (:func:`runs_frame`) by metric ``m`` (default:
    validation Dice, which alone applies the tie rule's preference for less work)."""
    m = m or METRICS["val_dice"]
    identity = identity_columns(done)
    runs = [Run(values={k: row[k] for k in keys}, repeat=int(_number(row.get("repeat")) or 0),
                score=value, trial=int(row["number"]), work=_number(row.get("work")),
                identity={k: row[k] for k in identity})
            for row in done.to_dict("records")
            if (value := _number(row.get(m.column))) is not None]
    return rank(group_runs(runs), higher_is_better=m.higher_is_better,
                prefer_cheaper=m.column == WINNER_COLUMN)


def ranking(trials: pd.DataFrame, params: list[str]) -> Ranking | None:
    """The winner rule's ranking of the study's configurations by validation Dice."""
    finished = trials[trials["state"].isin(FINISHED) & trials["duplicate_of"].isna()]
    keys = list(params) or ["_all"]
    finished = finished.assign(_all="all") if not params else finished
    return rank_rows(runs_frame(finished), keys)


def _number(value: Any) -> float | None:
    """A finite float, or None for empty cells (NaN, NA, None)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def pivot_frame(comparison: pd.DataFrame, params: list[str],
                value: str = RANK_BY) -> pd.DataFrame:
    """``params[0]`` down, ``params[1]`` across, comparison column ``value`` in the cells
    (two-parameter studies); rows and columns sorted by parameter value.

    ``value`` is any column of :func:`comparison_frame`: ``<metric>_mean`` for the cells,
    ``<metric>_std`` and ``n`` for what :mod:`tuner.reports.display` writes beside them.
    """
    if len(params) != 2:
        raise ValueError(f"a pivot needs exactly two parameters, got {params}")
    table = comparison.pivot_table(index=params[0], columns=params[1], values=value,
                                   aggfunc="first", dropna=False)
    return table.sort_index().sort_index(axis=1)


def best_value_frame(comparison: pd.DataFrame, params: list[str], value: str = "lr"
                     ) -> pd.DataFrame | None:
    """For every combination of the other parameters (optimizer x loss, say), the row of
    ``comparison`` with the highest mean validation Dice, and so its ``value`` (the best
    learning rate). None unless ``value`` is searched beside other parameters and takes
    more than one value within some combination (otherwise there is nothing to choose).

    Chosen by validation Dice, never by test Dice: choosing on the test split would make
    its score optimistic.
    """
    others = [p for p in params if p != value]
    if value not in params or not others:
        return None
    done = comparison[comparison["n"] > 0]
    groups = done.groupby(others, dropna=False, sort=True)
    if done.empty or groups[value].nunique().max() < 2:
        return None
    best = done.loc[groups[RANK_BY].idxmax()]
    return best.reset_index(drop=True)


def curves_frame(study: optuna.Study) -> pd.DataFrame:
    """Every stored per-epoch curve, tidy: one row per trial, epoch and curve, columns
    ``trial, configuration, repeat, epoch, split, metric, value`` (epoch 1-based).

    ``configuration`` names the searched values (``weight_decay=0.01, train_fraction=0.8``),
    the same for all repeats; ``split`` is ``train``, ``val`` (or ``test``), empty for
    ``lr`` and ``seconds``, which belong to the epoch; ``metric`` is ``loss``, ``dice``...
    """
    columns = param_columns(study)
    rows = []
    for trial in study.get_trials(deepcopy=False):
        values = trial_params(trial)
        config = label({column: values[name] for name, column in columns.items()
                        if name in values})
        for name, series in (trial.user_attrs.get(records.CURVES) or {}).items():
            split, quantity = curve_names.split_metric(name)
            rows.extend((trial.number, config, repeat_of(trial), epoch, split, quantity, value)
                        for epoch, value in enumerate(series, start=1))
    return pd.DataFrame(rows, columns=list(curve_names.TIDY_COLUMNS))


def config_summary(study: optuna.Study) -> tuple[dict[str, list], dict[str, Any]]:
    """What a study searched and what it fixed, from the configs its trials recorded.

    Returns ``(varied, fixed)``: ``varied`` maps every config field that differs between
    trials (the searched parameters, and ``seed`` where repeats change it) to its sorted
    values; ``fixed`` maps every field that is the same in all trials but differs from the
    :class:`~tuner.config.TrainConfig` default to that value (what the study's base set).
    """
    stored = (t.user_attrs.get(records.CONFIG) for t in study.get_trials(deepcopy=False))
    configs = [records.flat_config(c) for c in stored if isinstance(c, dict)]
    defaults = records.flat_config(TrainConfig().to_dict())
    varied: dict[str, list] = {}
    fixed: dict[str, Any] = {}
    for name in dict.fromkeys(k for config in configs for k in config):
        values = [config.get(name) for config in configs]
        distinct = list(dict.fromkeys(values))
        if len(distinct) > 1:
            varied[name] = sorted(distinct, key=_sort_key)
        elif name not in defaults or not _same(distinct[0], defaults[name]):
            fixed[name] = distinct[0]
    return varied, fixed


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b)
    return a == b


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))
