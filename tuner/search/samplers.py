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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import TunerError
from tuner.registry import Registry
from tuner.search import SearchSettings

SAMPLERS: Registry = Registry("sampler")
#: Optuna samplers that import an optional package only when they first sample: checked
#: before the study starts instead of failing every trial
REQUIRES = {"cmaes": "cmaes", "gp": "scipy", "qmc": "scipy"}
#: the study's seed when its study file gives none: draws are reproducible by default
DEFAULT_SEED = 0
#: samplers whose randomness must not change from trial to trial (see the module's text)
SHARED_SEED = ("qmc", "grid")


@SAMPLERS.register("tpe", options=None)
def _tpe(**options: Any) -> optuna.samplers.BaseSampler:
    """Optuna's TPE; ``constant_liar`` on unless the study file says otherwise (several
    workers: a running trial counts as a poor result, so others sample elsewhere)."""
    return optuna.samplers.TPESampler(**{"constant_liar": True, **options})


SAMPLERS.add("random", optuna.samplers.RandomSampler)
SAMPLERS.add("cmaes", optuna.samplers.CmaEsSampler)
SAMPLERS.add("gp", optuna.samplers.GPSampler)
SAMPLERS.add("qmc", optuna.samplers.QMCSampler)


@SAMPLERS.register("grid", options=None)
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


def study_seed(spec: SearchSettings) -> int:
    """The seed of a study's draws: its sampler options' ``seed``, else :data:`DEFAULT_SEED`."""
    seed = spec.sampler_options.get("seed")
    if seed is None:
        return DEFAULT_SEED
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TunerError(f"study file {spec.source!r}: sampler_options 'seed': got {seed!r}, "
                         "expected an integer >= 0")
    return seed


def build_sampler(spec: SearchSettings) -> optuna.samplers.BaseSampler:
    """The sampler the study file names, with its options, seeded as the module says."""
    options = {**spec.sampler_options, "seed": study_seed(spec)}
    if spec.sampler in SHARED_SEED:
        return SAMPLERS.build(spec.sampler, options, requires=REQUIRES)

    def make(seed: int) -> optuna.samplers.BaseSampler:
        return SAMPLERS.build(spec.sampler, {**options, "seed": seed}, requires=REQUIRES)

    return TrialSeededSampler(make, options["seed"])
