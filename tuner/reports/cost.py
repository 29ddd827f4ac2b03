"""Cost beside quality: the work a configuration trained, the CPU seconds it took, and both
until its validation Dice first reached a target; wall seconds only beside their load.

A better score is only worth what it costs: a configuration that reaches a given validation
Dice with a third of the work may be the one to use (pretrained against scratch, a bigger
learning rate, a smaller model). Work is counted in epochs, optimizer steps and forward
GFLOP x images trained (what the winner rule calls cheaper), time in this process's CPU
seconds (device seconds on CUDA), which the machine's other work hardly changes. Wall
seconds measure that other work as much as the configuration (the same model took 115 s
and 1,504 s on one loaded machine), so they are shown only as ``wall s`` beside ``load``,
the one-minute load average the run's epochs began under. Studies stored before these
were recorded show "not recorded" where they lack them.

:func:`cost_frame` computes the numbers per configuration; :func:`cost_shown` writes them
for a reader (Markdown, HTML, LaTeX through :mod:`tuner.reports.display`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import optuna
import pandas as pd

from tuner import records
from tuner.reports import tables
from tuner.reports.display import Shown
from tuner.results import formatting as fmt

TARGET_SHARE = 0.95  # the default target: 95 % of the best configuration's mean Dice
#: per-run costs averaged per configuration (``<name>_mean`` in the frame)
RUN_COSTS = ("epochs_run", "steps", "work", "cpu_seconds", "cpu_seconds_to_best",
             "device_seconds", "seconds", "seconds_to_best", "load")
#: costs until a run's validation Dice first reached the target (``<name>_mean``)
TO_TARGET = ("epochs_to_target", "steps_to_target", "work_to_target",
             "cpu_seconds_to_target", "seconds_to_target")
COST_COLUMNS = ("n", "best_val_dice_mean", "best_val_dice_std",
                *(f"{name}_mean" for name in RUN_COSTS))
NOT_RECORDED = "not recorded"


def default_target(comparison: pd.DataFrame) -> float | None:
    """:data:`TARGET_SHARE` of the best mean best validation Dice, rounded down to 0.01
    (a round number a reader can quote); None when no configuration completed."""
    means = comparison["best_val_dice_mean"].dropna()
    if means.empty:
        return None
    return math.floor(TARGET_SHARE * float(means.max()) * 100) / 100


@dataclass(frozen=True)
class Reach:
    """What a run spent until its validation Dice first reached a target: the epoch, and
    the steps, work, CPU and wall seconds of epochs 1..epoch (None: never reached, or not
    recorded)."""

    epoch: int | None = None
    steps: float | None = None
    work: float | None = None
    cpu_seconds: float | None = None
    seconds: float | None = None

    def row(self) -> dict[str, float | None]:
        return dict(zip(TO_TARGET, (self.epoch, self.steps, self.work, self.cpu_seconds,
                                    self.seconds), strict=True))


def to_target(attrs: Mapping[str, Any], target: float) -> Reach:
    """What the trial with user attributes ``attrs`` spent until its validation Dice first
    reached ``target`` (:class:`Reach`; empty when it never did)."""
    curves = attrs.get(records.CURVES) or {}
    dice = curves.get("val_dice") or []
    epoch = next((e for e, v in enumerate(dice, start=1) if v is not None and v >= target),
                 None)
    if epoch is None:
        return Reach()
    steps = records.curve_total(curves, records.STEPS, epoch)
    per_epoch = attrs.get(records.STEPS_PER_EPOCH)
    if steps is None and per_epoch is not None:
        steps = float(epoch * per_epoch)
    work = attrs.get(records.WORK)
    return Reach(epoch, steps, None if work is None else float(work) * epoch / len(dice),
                 records.curve_total(curves, records.CPU_SECONDS, epoch),
                 records.curve_total(curves, records.WALL_SECONDS, epoch))


def cost_frame(study: optuna.Study, trials: pd.DataFrame, comparison: pd.DataFrame,
               params: list[str], target: float) -> pd.DataFrame:
    """One row per completed configuration in the order of ``comparison`` (best first): the
    parameters, ``n``, mean and sd of best validation Dice, the mean of each of
    :data:`RUN_COSTS`, ``reached`` (completed repeats whose validation Dice reached
    ``target``) and, over those, the mean of each of :data:`TO_TARGET`."""
    stored = {t.number: t for t in study.get_trials(deepcopy=False)}
    done = tables.runs_frame(trials)  # one run per repeat, as the comparison counts
    reach = pd.DataFrame([to_target(stored[int(n)].user_attrs, target).row()
                          for n in done["number"]], columns=list(TO_TARGET), index=done.index)
    done = done.assign(**{name: pd.array(reach[name], dtype="Float64") for name in TO_TARGET})
    keys = list(params) or ["_all"]
    if not params:
        done, comparison = done.assign(_all="all"), comparison.assign(_all="all")
    stats = done.groupby(keys, dropna=False, sort=False).agg(
        reached=("epochs_to_target", "count"),
        **{f"{name}_mean": (name, "mean") for name in TO_TARGET},
    ).reset_index()  # fmt: skip
    kept = [c for c in COST_COLUMNS if c in comparison]
    table = comparison[keys + kept].merge(stats, on=keys, how="left", sort=False)
    table = table[table["n"] > 0].reset_index(drop=True)  # all pruned: nothing to time
    table["reached"] = table["reached"].fillna(0).astype(int)
    return table.drop(columns="_all") if not params else table


def cost_shown(cost: pd.DataFrame, params: list[str], target: float) -> Shown:
    """The cost frame for a reader: val Dice; epochs, steps and GFLOP x images of a run;
    its CPU seconds (and to its best epoch); epochs and CPU seconds to ``target``; then
    wall seconds (a run, to ``target``) beside the load they ran under."""
    goal = f"Dice {fmt.number(target, 'score')}"
    cells = pd.DataFrame({p: [fmt.param(v, p) for v in cost[p]] for p in params},
                         index=cost.index)
    cells["val Dice"] = [fmt.mean_sd(m, s, n) for m, s, n in zip(
        cost["best_val_dice_mean"], cost["best_val_dice_std"], cost["n"], strict=True)]
    # (title, column, kind of number, the column whose absence means "not recorded")
    columns = [("epochs", "epochs_run_mean", "epoch", None),
               ("steps", "steps_mean", "count", None),
               ("GFLOP x images", "work_mean", "count", "work_mean"),
               ("CPU s", "cpu_seconds_mean", "seconds", "cpu_seconds_mean"),
               ("CPU s to best", "cpu_seconds_to_best_mean", "seconds", "cpu_seconds_mean"),
               (f"epochs to {goal}", "epochs_to_target_mean", "epoch", None),
               (f"CPU s to {goal}", "cpu_seconds_to_target_mean", "seconds",
                "cpu_seconds_mean")]
    if _any(cost, "device_seconds_mean"):  # CUDA runs: their device seconds too
        columns.insert(5, ("device s", "device_seconds_mean", "seconds", None))
    columns += [("wall s", "seconds_mean", "seconds", None),
                (f"wall s to {goal}", "seconds_to_target_mean", "seconds", "seconds_mean"),
                ("load", "load_mean", "load", "load_mean")]
    for title, column, kind, needs in columns:
        recorded = needs is None or _any(cost, needs)
        cells[title] = [_cell(v, kind) if recorded else NOT_RECORDED
                        for v in _values(cost, column)]
    cells["reached"] = [f"{r}/{n}" for r, n in zip(cost["reached"], cost["n"], strict=True)]
    legend = (f"epochs, steps (optimizer steps), GFLOP x images (forward GFLOP per image x "
              f"images trained: the winner rule's work): a run's training work; CPU s: this "
              f"process's CPU seconds in training and validation (every thread), of a run "
              f"and until its best epoch; epochs and CPU s to {goal}: until validation Dice "
              f"first reached {fmt.number(target)}, mean over the runs that did (reached: how "
              f"many of the completed repeats). wall s: wall-clock seconds, which measure the "
              f"machine's other work as much as the configuration: compare them only at a "
              f"like load (the one-minute load average as each epoch began, mean over the "
              f"runs). Means over repeats; {NOT_RECORDED}: a study stored before tuner "
              f"recorded it.")
    cells = cells.reset_index(drop=True)
    return Shown(cells, pd.DataFrame("", index=cells.index, columns=cells.columns),
                 len(params), legend)


def _values(cost: pd.DataFrame, column: str) -> list:
    return list(cost[column]) if column in cost else [None] * len(cost)


def _any(cost: pd.DataFrame, column: str) -> bool:
    """Whether some configuration recorded ``column`` (studies before it: none did)."""
    return column in cost and bool(cost[column].notna().any())


def _cell(value: Any, kind: str) -> str:
    """``value`` as text ('' when this configuration has none, as a target never reached);
    a load average to one decimal."""
    if kind == "load":
        return "" if fmt.missing(value) else f"{float(value):.1f}"
    return fmt.number(value, kind)
