"""Samplers by name: Optuna's own, built from a study file's options, seeded per trial.

Optuna does not store samplers in the database, so every worker rebuilds its sampler from
the study file with :func:`build_sampler` (and its pruner, :mod:`tuner.search.pruners`).

Why per trial: a sampler built with ``seed=0`` in every worker process draws the same
sequence in each of them, so two workers trained the same configurations twice, and a
resumed run drew the first run's points again (seen: 6 trials, 3 configurations). Here the
randomness of trial ``k`` comes from the study's seed and ``k`` alone
(:class:`TrialSeededSampler` builds a fresh Optuna sampler for each trial, seeded with
:func:`trial_seed`); everything else a sampler knows it reads from the storage, which every
worker shares. So N workers draw the start-up set that one worker draws, a resume continues
the sequence, and every machine draws new points. TPE also runs with Optuna's
``constant_liar``, so that trials running at the same time steer later draws away from
each other. QMC keeps one seed for all trials: its points are numbered in the storage and
its scrambling must be the same in every worker.

Each registration declares the options a study file may give its sampler
(``sampler_options``: kind, range, default, help; ``tuner fields`` lists them), the
optional package it needs (``requires``) and whether it keeps one seed for all trials
(``shared_seed``). Options are checked, and the sampler built, by the pre-run checks: a
mistake, or a combination Optuna refuses, is one line before anything is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from tuner.registry import Option, Registry
from tuner.search import SearchSettings

SAMPLERS: Registry = Registry("sampler")
#: the study's seed when its study file gives none: draws are reproducible by default
DEFAULT_SEED = 0
SEED = Option("seed", "int", DEFAULT_SEED, "the study's seed: trial k draws from it and k "
              "alone, so every worker, machine and resume draws new points", low=0)


def startup(default: int, what: str) -> Option:
    """The ``n_startup_trials`` option of a sampler that models results after them."""
    return Option("n_startup_trials", "int", default, f"trials drawn at random before {what}",
                  low=0)


@SAMPLERS.register("tpe", options=(
    startup(10, "TPE models the results"),
    Option("n_ei_candidates", "int", 24, "candidates drawn from the good configurations' "
           "model, the most promising of which is tried", low=1),
    Option("multivariate", "bool", True, "model the parameters jointly (false: each alone)"),
    Option("group", "bool", False, "with multivariate: model each set of parameters that "
           "a space function suggests together on its own (conditional spaces)"),
    Option("constant_liar", "bool", True, "a running trial counts as a poor result, so "
           "that workers running at the same time sample elsewhere"),
    SEED))
def _tpe(**options: Any) -> optuna.samplers.BaseSampler:
    """Optuna's TPE (tree-structured Parzen estimator), with ``constant_liar``."""
    return optuna.samplers.TPESampler(**options)


SAMPLERS.add("random", optuna.samplers.RandomSampler, help="Optuna's uniform random draws",
             options=(SEED,))
SAMPLERS.add("cmaes", optuna.samplers.CmaEsSampler, requires="cmaes",
             help="Optuna's CMA-ES (float and int ranges; categorical choices drawn at random)",
             options=(
                 startup(1, "CMA-ES starts"),
                 Option("sigma0", "float", None, "initial step size (None: a sixth of the "
                        "narrowest range; deprecated by Optuna 4.9)", low=0, low_open=True),
                 Option("popsize", "int", None, "population size (None: 4 + 3 ln(number of "
                        "parameters))", low=2),
                 Option("consider_pruned_trials", "bool", False, "pruned trials count, at "
                        "their last value"),
                 Option("use_separable_cma", "bool", False, "a diagonal covariance (many "
                        "parameters, few trials)"),
                 Option("with_margin", "bool", False, "CMA-ES with margin (int ranges)"),
                 Option("lr_adapt", "bool", False, "adapt the learning rate (noisy or "
                        "multimodal results)"),
                 SEED))
SAMPLERS.add("gp", optuna.samplers.GPSampler, requires="scipy",
             help="Optuna's Gaussian-process Bayesian optimisation", options=(
                 startup(10, "the Gaussian process models the results"),
                 Option("deterministic_objective", "bool", False, "the results have no "
                        "noise (false: repeats and seeds make them noisy)"),
                 SEED))
#: qmc keeps one seed for all trials (its points are numbered in the storage, its
#: scrambling the same in every worker: see the module's text)
SAMPLERS.add("qmc", optuna.samplers.QMCSampler, requires="scipy", shared_seed=True,
             help="Optuna's quasi-Monte Carlo points, spread evenly over the space", options=(
                 Option("qmc_type", "str", "sobol", "the low-discrepancy sequence",
                        choices=("sobol", "halton")),
                 Option("scramble", "bool", False, "scramble the sequence (with the seed)"),
                 Option("seed", "int", DEFAULT_SEED, "the study's seed: one scrambling for "
                        "every trial and worker", low=0)))


@SAMPLERS.register("grid", shared_seed=True, options=(
    Option("seed", "int", DEFAULT_SEED, "the seed of a stand-in sampler that is never "
           "consulted (a grid's points are queued)", low=0),))
def _grid(**options: Any) -> optuna.samplers.BaseSampler:
    """Grid studies enqueue every point with fixed parameters (``trial_queue.enqueue_grid``),
    so the sampler is never consulted; Optuna's GridSampler would also expect to have chosen
    each trial's grid point itself and fails on enqueued ones. A seeded random sampler
    stands in."""
    return optuna.samplers.RandomSampler(**options)


def trial_seed(study_seed: int, number: int) -> int:
    """The seed of trial ``number``'s draws: independent streams for every (seed, number)."""
    return int(np.random.SeedSequence([int(study_seed), int(number)]).generate_state(1)[0])


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """An Optuna sampler whose draws for trial ``k`` depend on the study's ``seed``, ``k``
    and the stored trials only, never on which process draws them or how many it drew.

    ``make(seed)`` builds the wrapped sampler (TPE, random, CMA-ES, GP); one is built per
    trial with :func:`trial_seed`. The samplers wrapped here keep nothing between trials
    that the storage does not hold (TPE and random are stateless but for their random
    state; CMA-ES restores its optimizer from trial attributes), so a fresh one per trial
    samples as a long-lived one would, except for its random state.
    """

    KEPT = 8  # wrapped samplers kept for trials not told yet (one per running trial)

    def __init__(self, make: Callable[[int], optuna.samplers.BaseSampler], seed: int) -> None:
        self.seed = int(seed)
        self._make = make
        self.prototype = make(self.seed)  # builds once now: bad options fail before a trial
        self._by_trial: dict[int, optuna.samplers.BaseSampler] = {}

    def __str__(self) -> str:
        return f"{type(self.prototype).__name__}(seeded per trial from seed {self.seed})"

    def sampler_for(self, number: int) -> optuna.samplers.BaseSampler:
        """The wrapped sampler of trial ``number`` (built on first use)."""
        sampler = self._by_trial.get(number)
        if sampler is None:
            while len(self._by_trial) >= self.KEPT:  # trials that ended without a tell
                self._by_trial.pop(next(iter(self._by_trial)))
            sampler = self._by_trial[number] = self._make(trial_seed(self.seed, number))
        return sampler

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.sampler_for(trial.number).before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial
                                    ) -> dict[str, BaseDistribution]:
        return self.sampler_for(trial.number).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.sampler_for(trial.number).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.sampler_for(trial.number).sample_independent(study, trial, param_name,
                                                                 param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.sampler_for(trial.number).after_trial(study, trial, state, values)
        self._by_trial.pop(trial.number, None)


def build_sampler(spec: SearchSettings) -> optuna.samplers.BaseSampler:
    """The sampler the study file names, with its options (each checked: one line naming
    the study file, the sampler and the option), seeded as the module says."""
    owner = f"study file {spec.source!r}: sampler {spec.sampler!r}"
    entry = SAMPLERS.component(spec.sampler)
    options = entry.resolved(spec.sampler_options, owner)

    def make(seed: int) -> optuna.samplers.BaseSampler:
        return SAMPLERS.build(spec.sampler, {**options, "seed": seed}, owner=owner,
                              refusals=(TypeError, ValueError))

    if entry.extra.get("shared_seed"):
        return make(options["seed"])
    return TrialSeededSampler(make, options["seed"])
