"""Samplers by name: Optuna's own, built from a study file's options.

Optuna does not store samplers in the database, so every worker rebuilds its sampler from
the study file with :func:`build_sampler` (and its pruner, :mod:`tuner.study.pruners`).
"""

from __future__ import annotations

from typing import Any

import optuna

from tuner.registry import Registry
from tuner.study.spec import StudySpec

SAMPLERS: Registry = Registry("sampler")
#: Optuna samplers that import an optional package only when they first sample: checked
#: before the study starts instead of failing every trial
REQUIRES = {"cmaes": "cmaes", "gp": "scipy", "qmc": "scipy"}

SAMPLERS.add("tpe", optuna.samplers.TPESampler)
SAMPLERS.add("random", optuna.samplers.RandomSampler)
SAMPLERS.add("cmaes", optuna.samplers.CmaEsSampler)
SAMPLERS.add("gp", optuna.samplers.GPSampler)
SAMPLERS.add("qmc", optuna.samplers.QMCSampler)


@SAMPLERS.register("grid")
def _grid(**options: Any) -> optuna.samplers.BaseSampler:
    """Grid studies enqueue every point with fixed parameters (tuner.study.grid), so the sampler
    is never consulted; Optuna's GridSampler would also expect to have chosen each trial's
    grid point itself and fails on enqueued ones. A seeded random sampler stands in."""
    return optuna.samplers.RandomSampler(**options)


def build_sampler(spec: StudySpec, seed: int | None = None) -> optuna.samplers.BaseSampler:
    """The sampler the study file names, with its options."""
    options = dict(spec.sampler_options)
    if seed is not None and "seed" not in options:
        options["seed"] = seed
    return SAMPLERS.build(spec.sampler, options, REQUIRES)
