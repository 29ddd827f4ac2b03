"""Cost beside quality: seconds per trial, to its best epoch, and to reach a target Dice.

A better score is only worth what it costs: a configuration that reaches a given validation
Dice in a third of the time may be the one to use (pretrained against scratch, a bigger
learning rate, a smaller model). :func:`cost_frame` puts, per configuration, the mean best
validation Dice beside the seconds it took, the seconds to its best epoch, and the epochs
and seconds until validation Dice first reached a target.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import optuna
import pandas as pd

from tuner import records
from tuner.reports import tables

TARGET_SHARE = 0.95  # the default target: 95 % of the best configuration's mean Dice
COST_COLUMNS = ("n", "best_val_dice_mean", "best_val_dice_std", "seconds_mean",
                "seconds_to_best_mean")


def default_target(comparison: pd.DataFrame) -> float | None:
    """:data:`TARGET_SHARE` of the best mean best validation Dice, rounded down to 0.01
    (a round number a reader can quote); None when no configuration completed."""
    means = comparison["best_val_dice_mean"].dropna()
    if means.empty:
        return None
    return math.floor(TARGET_SHARE * float(means.max()) * 100) / 100


def time_to_target(curves: Mapping[str, list], target: float
                   ) -> tuple[int | None, float | None]:
    """(first epoch whose validation Dice is at least ``target``, training and validation
    seconds of the epochs up to it), or (None, None) when the run never got there."""
    seconds = curves.get("seconds") or []
    for epoch, value in enumerate(curves.get("val_dice") or [], start=1):
        if value is not None and value >= target:
            spent = seconds[:epoch]
            known = len(spent) == epoch and None not in spent
            return epoch, float(sum(spent)) if known else None
    return None, None


def cost_frame(study: optuna.Study, trials: pd.DataFrame, comparison: pd.DataFrame,
               params: list[str], target: float) -> pd.DataFrame:
    """One row per completed configuration in the order of ``comparison`` (best first): the
    parameters, ``n``, mean and sd of best validation Dice, mean ``seconds`` and
    ``seconds_to_best``, ``reached`` (completed repeats whose validation Dice reached
    ``target``), and over those the mean ``epochs_to_target`` and ``seconds_to_target``."""
    stored = {t.number: t for t in study.get_trials(deepcopy=False)}
    done = tables.runs_frame(trials)  # one run per repeat, as the comparison counts
    reach = [time_to_target(stored[int(n)].user_attrs.get(records.CURVES) or {}, target)
             for n in done["number"]]
    done = done.assign(
        epochs_to_target=pd.array([e for e, _ in reach], dtype="Float64"),
        seconds_to_target=pd.array([s for _, s in reach], dtype="Float64"),
    )  # fmt: skip
    keys = list(params) or ["_all"]
    if not params:
        done, comparison = done.assign(_all="all"), comparison.assign(_all="all")
    stats = done.groupby(keys, dropna=False, sort=False).agg(
        reached=("epochs_to_target", "count"),
        epochs_to_target_mean=("epochs_to_target", "mean"),
        seconds_to_target_mean=("seconds_to_target", "mean"),
    ).reset_index()  # fmt: skip
    kept = [c for c in COST_COLUMNS if c in comparison]
    table = comparison[keys + kept].merge(stats, on=keys, how="left", sort=False)
    table = table[table["n"] > 0].reset_index(drop=True)  # all pruned: nothing to time
    table["reached"] = table["reached"].fillna(0).astype(int)
    return table.drop(columns="_all") if not params else table
