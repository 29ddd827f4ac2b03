"""Tables of a study, computed once and reused by exports, plots and reports.

Computation only: every function returns a pandas DataFrame (Optuna's plot modules work the
same way: compute the data, then draw it). Column meanings are in ``docs/exports.md``.

- :func:`trials_frame`: one row per trial (``trials.csv``);
- :func:`comparison_frame`: one row per configuration (the searched parameters), mean,
  standard deviation and count over its repeats (``comparison.*``);
- :func:`pivot_frame`: two-parameter studies, first parameter down, second across;
- :func:`curves_frame`: per-epoch curves in long format, for learning-curve plots.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import optuna
import pandas as pd

from tuner import records
from tuner.config import TrainConfig
from tuner.records import trial_params

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
    "best_epoch", "epochs_run", "pruned_at", "seconds",
)  # fmt: skip
#: columns that :func:`comparison_frame` averages, the first one ranks configurations
COMPARED = (
    "best_val_dice", "best_val_iou", "best_val_precision", "best_val_recall",
    "final_train_loss", "final_val_loss", "final_train_dice", "final_val_dice",
    "best_epoch", "epochs_run", "seconds",
)  # fmt: skip
RANK_BY = "best_val_dice_mean"
#: the columns of the readable comparison (Markdown, LaTeX, the report), with their titles
DISPLAY = (
    ("best_val_dice", "best val Dice", 4), ("best_val_iou", "best val IoU", 4),
    ("final_train_loss", "final train loss", 4), ("final_val_loss", "final val loss", 4),
    ("final_train_dice", "final train Dice", 4), ("final_val_dice", "final val Dice", 4),
    ("best_epoch", "best epoch", 1), ("seconds", "seconds", 1),
)  # fmt: skip
#: columns that hold whole numbers (nullable: empty where a trial has no value)
INTEGER_COLUMNS = ("number", "repeat", "seed", "best_epoch", "epochs_run", "pruned_at")
PARAM_PREFIX = "param_"  # only for a searched parameter whose name is a fixed column
FINISHED = ("COMPLETE", "PRUNED")


def param_columns(study: optuna.Study) -> dict[str, str]:
    """Searched parameter name -> its column in :func:`trials_frame`, in search order.

    The column is the parameter's own name (``lr``), or ``param_<name>`` in the rare case
    that the name is also a fixed column (``seed``, ``repeat``, ...).
    """
    names: dict[str, str] = {}
    for trial in study.get_trials(deepcopy=False):
        for name in trial_params(trial):
            if name not in names:
                names[name] = PARAM_PREFIX + name if name in FIXED_COLUMNS else name
    return names


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
        row.update({column: trial_params(trial).get(name) for name, column in params.items()})
        for metric, value in (trial.user_attrs.get(records.TEST) or {}).items():
            row[f"test_{metric}"] = value
            if metric not in test_names:
                test_names.append(metric)
        rows.append(row)
    order = [*FIXED_COLUMNS[:2], *params.values(), *FIXED_COLUMNS[2:],
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
        pruned_at=attrs.get(records.PRUNED_AT), seconds=attrs.get(records.SECONDS),
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

    Statistics over completed trials (the repeats of a configuration): for every column of
    :data:`COMPARED`, ``<column>_mean`` and ``<column>_std`` (sample standard deviation,
    empty with one repeat); ``n``: completed trials, ``pruned``: pruned trials. A
    configuration whose trials were all pruned keeps its row with ``n = 0``.
    """
    finished = trials[trials["state"].isin(FINISHED)]
    keys = list(params) or ["_all"]
    finished = finished.assign(_all="all") if not params else finished
    done = finished[finished["state"] == "COMPLETE"]
    grouped = done.groupby(keys, dropna=False, sort=False)
    columns = [c for c in COMPARED if c in trials]
    stats = grouped[columns].agg(["mean", "std"])
    stats.columns = [f"{col}_{stat}" for col, stat in stats.columns]
    counts = finished.groupby(keys, dropna=False, sort=False)["state"]
    table = pd.DataFrame({
        "n": counts.apply(lambda s: int((s == "COMPLETE").sum())),
        "pruned": counts.apply(lambda s: int((s == "PRUNED").sum())),
    })  # fmt: skip
    table = table.join(stats).reset_index()
    if not params:
        table = table.drop(columns="_all")
    return table.sort_values(RANK_BY, ascending=False, na_position="last", kind="stable",
                             ignore_index=True)


def display_frame(comparison: pd.DataFrame, params: list[str], pm: str = " ± "
                  ) -> pd.DataFrame:
    """The comparison as text for a report: parameters as written, ``n``, ``pruned`` and a
    ``mean ± std`` cell (``pm`` between) per :data:`DISPLAY` column; empty where unknown."""
    shown = pd.DataFrame({p: comparison[p].map(_text) for p in params})
    shown["n"] = comparison["n"].astype(int).astype(str)
    shown["pruned"] = comparison["pruned"].astype(int).astype(str)
    for column, title, digits in DISPLAY:
        if f"{column}_mean" in comparison:
            shown[title] = [
                _mean_std(m, s, pm, digits) for m, s in zip(
                    comparison[f"{column}_mean"], comparison[f"{column}_std"], strict=True)
            ]
    return shown


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _mean_std(mean: float, std: float, pm: str, digits: int) -> str:
    if pd.isna(mean):
        return ""
    return f"{mean:.{digits}f}" if pd.isna(std) else f"{mean:.{digits}f}{pm}{std:.{digits}f}"


def pivot_frame(comparison: pd.DataFrame, params: list[str],
                value: str = RANK_BY) -> pd.DataFrame:
    """``params[0]`` down, ``params[1]`` across, ``value`` in the cells (two-parameter studies).

    Rows and columns are sorted by parameter value. :func:`best_cell` finds the cell to mark.
    """
    if len(params) != 2:
        raise ValueError(f"a pivot needs exactly two parameters, got {params}")
    table = comparison.pivot_table(index=params[0], columns=params[1], values=value,
                                   aggfunc="first", dropna=False)
    return table.sort_index().sort_index(axis=1)


def best_cell(pivot: pd.DataFrame) -> tuple[Any, Any] | None:
    """(row label, column label) of the highest cell of ``pivot``; None when all empty."""
    stacked = pivot.stack().dropna()
    return None if stacked.empty else stacked.idxmax()


def curves_frame(study: optuna.Study) -> pd.DataFrame:
    """Per-epoch curves in long format: ``trial, epoch, metric, value`` (epoch 1-based)."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        for metric, values in (trial.user_attrs.get(records.CURVES) or {}).items():
            rows.extend((trial.number, epoch, metric, value)
                        for epoch, value in enumerate(values, start=1))
    return pd.DataFrame(rows, columns=["trial", "epoch", "metric", "value"])


def config_summary(study: optuna.Study) -> tuple[dict[str, list], dict[str, Any]]:
    """What a study searched and what it fixed, from the configs its trials recorded.

    Returns ``(varied, fixed)``: ``varied`` maps every config field that differs between
    trials (the searched parameters, and ``seed`` where repeats change it) to its sorted
    values; ``fixed`` maps every field that is the same in all trials but differs from the
    :class:`~tuner.config.TrainConfig` default to that value (what the study's base set).
    """
    configs = [t.user_attrs[records.CONFIG] for t in study.get_trials(deepcopy=False)
               if isinstance(t.user_attrs.get(records.CONFIG), dict)]
    defaults = TrainConfig().to_dict()
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


def pooled_std(comparison: pd.DataFrame, column: str = "best_val_dice") -> float | None:
    """Spread between repeats: sqrt of the mean variance over configurations with n >= 2."""
    stds = comparison.loc[comparison["n"] >= 2, f"{column}_std"].dropna()
    return None if stds.empty else float(np.sqrt((stds**2).mean()))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b)
    return a == b


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))
