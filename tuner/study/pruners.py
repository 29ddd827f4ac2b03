"""Pruners by name: Optuna's own, and the few combinations a study file asks for by name.

Like samplers, pruners are not stored in the database: every worker rebuilds its pruner
from the study file with :func:`build_pruner`.
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from tuner.registry import Registry
from tuner.study.spec import StudySpec

PRUNERS: Registry = Registry("pruner")
REQUIRES = {"wilcoxon": "scipy"}  # packages Optuna imports only when the pruner first acts

PRUNERS.add("median", optuna.pruners.MedianPruner)
PRUNERS.add("successive_halving", optuna.pruners.SuccessiveHalvingPruner)
PRUNERS.add("hyperband", optuna.pruners.HyperbandPruner)
PRUNERS.add("wilcoxon", optuna.pruners.WilcoxonPruner)
PRUNERS.add("none", optuna.pruners.NopPruner)


@PRUNERS.register("percentile")
def _percentile(percentile: float = 25.0, **options: Any) -> optuna.pruners.BasePruner:
    return optuna.pruners.PercentilePruner(percentile, **options)


@PRUNERS.register("patient")
def _patient(patience: int = 3, min_delta: float = 0.0, **median_options: Any):
    """Median pruning that waits ``patience`` epochs without progress before acting."""
    return optuna.pruners.PatientPruner(optuna.pruners.MedianPruner(**median_options),
                                        patience=patience, min_delta=min_delta)


@PRUNERS.register("threshold")
def _threshold(lower: float = 0.1, **options: Any) -> optuna.pruners.BasePruner:
    """Prune a trial whose validation Dice is below ``lower`` (default 0.1) after warm-up."""
    return optuna.pruners.ThresholdPruner(lower=lower, **options)


class HopelessPruner(optuna.pruners.BasePruner):
    """Prune a trial whose *best* validation Dice so far is below ``lower`` once it has
    trained ``n_warmup_steps`` epochs: it never learned.

    Written by hand because Optuna's ThresholdPruner judges the latest value only: a run
    that learned and then dipped for an epoch (seen with weight decay 0.1 at a high
    learning rate: 0.51, then 0.23 five epochs later) would be pruned as if it had never
    learned, and a comparison grid would lose that cell. No Optuna pruner compares the best
    value so far with a fixed floor.
    """

    def __init__(self, lower: float = 0.1, n_warmup_steps: int = 0) -> None:
        if n_warmup_steps < 0:
            raise ValueError(f"n_warmup_steps must be >= 0, got {n_warmup_steps}")
        self.lower, self.n_warmup_steps = float(lower), int(n_warmup_steps)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < self.n_warmup_steps:
            return False
        values = [v for v in trial.intermediate_values.values() if not math.isnan(v)]
        return not values or max(values) < self.lower


PRUNERS.add("hopeless", HopelessPruner)


def build_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """The pruner the study file names, with its options."""
    return PRUNERS.build(spec.pruner, dict(spec.pruner_options), REQUIRES)


#: the option that holds a pruner back, per pruner name: (option, its default)
_FIRST_STEP = {
    "median": ("n_warmup_steps", 0), "percentile": ("n_warmup_steps", 0),
    "threshold": ("n_warmup_steps", 0), "patient": ("n_warmup_steps", 0),
    "hopeless": ("n_warmup_steps", 0),
    "successive_halving": ("min_resource", 1), "hyperband": ("min_resource", 1),
    "wilcoxon": ("n_startup_steps", 2),
}


def pruner_cannot_act(spec: StudySpec, epochs: int) -> str | None:
    """Why the study's pruner can prune no trial of ``epochs`` epochs, or None.

    Trials are never pruned at their last epoch (that run is finished), so a pruner whose
    warm-up or minimum resource reaches the last epoch, as in a tiny ``--set epochs=2``
    run, cannot act; the run goes on without pruning and says so.
    """
    if spec.pruner not in _FIRST_STEP:
        return None
    option, default = _FIRST_STEP[spec.pruner]
    first = spec.pruner_options.get(option, default)
    if not isinstance(first, int):  # "auto": Optuna decides from the trials it sees
        first = 1
    first = max(first, 1) + (spec.pruner_options.get("patience", 3)
                             if spec.pruner == "patient" else 0)
    if first < epochs:
        return None
    return (f"pruner {spec.pruner!r} cannot act in this run: it waits until epoch "
            f"{first} ({option}) and a trial of {epochs} epoch(s) is never pruned at its last "
            "epoch; every trial runs to the end")
