"""Samplers and pruners by name: Optuna's own, built from a study file's options.

Optuna does not store samplers or pruners in the database, so every worker rebuilds them
from the study file with :func:`build_sampler` and :func:`build_pruner`.
"""

from __future__ import annotations

from typing import Any

import optuna

from tuner.errors import TunerError
from tuner.registry import Registry
from tuner.spec import StudySpec

SAMPLERS: Registry = Registry("sampler")
PRUNERS: Registry = Registry("pruner")

SAMPLERS.add("tpe", optuna.samplers.TPESampler)
SAMPLERS.add("random", optuna.samplers.RandomSampler)
SAMPLERS.add("cmaes", optuna.samplers.CmaEsSampler)
SAMPLERS.add("gp", optuna.samplers.GPSampler)
SAMPLERS.add("qmc", optuna.samplers.QMCSampler)


@SAMPLERS.register("grid")
def _grid(**options: Any) -> optuna.samplers.BaseSampler:
    """Grid studies enqueue every point with fixed parameters (tuner.queue), so the sampler
    is never consulted; Optuna's GridSampler would also expect to have chosen each trial's
    grid point itself and fails on enqueued ones. A seeded random sampler stands in."""
    return optuna.samplers.RandomSampler(**options)


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


def _build(registry: Registry, name: str, options: dict[str, Any], *args: Any):
    factory = registry.get(name)
    try:
        return factory(*args, **options)
    except TypeError as exc:
        raise TunerError(f"{registry.kind} {name!r}: bad options {options}: {exc}") from None
    except ValueError as exc:
        raise TunerError(f"{registry.kind} {name!r}: {exc}") from None


def build_sampler(spec: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sampler the study file names, with its options."""
    options = dict(spec.sampler_options)
    if seed is not None and "seed" not in options:
        options["seed"] = seed
    return _build(SAMPLERS, spec.sampler, options)


def build_pruner(spec: StudySpec) -> optuna.pruners.BasePruner:
    return _build(PRUNERS, spec.pruner, dict(spec.pruner_options))
