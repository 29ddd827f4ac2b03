"""Pruners by name: Optuna's own, and the few combinations a study file asks for by name.

Like samplers, pruners are not stored in the database: every worker rebuilds its pruner
from the study file with :func:`build_pruner`.
"""

from __future__ import annotations

from typing import Any

import optuna

from tuner.registry import Registry
from tuner.study.spec import StudySpec

PRUNERS: Registry = Registry("pruner")

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


def build_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    """The pruner the study file names, with its options."""
    return PRUNERS.build(spec.pruner, dict(spec.pruner_options))
