"""The winner of a finished study: its best configuration, by the mean over repeats.

A configuration is one set of values of the fields the study searches (read from each
trial's resolved config, so a learning rate searched as ``lr_adam`` counts as ``lr``). Its
score is the mean best validation Dice of its completed trials (its repeats), with the
sample standard deviation and n. The best mean wins, with one exception, the tie rule:
configurations whose mean lies within the repeat noise of the best (the pooled standard
deviation of configurations with two or more repeats) are ties, and among ties the
cheapest (fewest mean training seconds per run) wins, because a report should not
recommend a costlier setting for a difference the seeds alone produce. Without repeats
there is no noise estimate and the best mean wins alone.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner import records
from tuner.errors import TunerError


@dataclass
class Configuration:
    """One configuration's values and its completed trials' scores."""

    values: dict[str, Any]
    dice: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.dice)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.dice) if len(self.dice) > 1 else 0.0

    @property
    def cost(self) -> float:
        return statistics.fmean(self.seconds) if self.seconds else math.inf

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.values.items())
        return f"{shown} ({self.mean:.3f} ± {self.sd:.3f}, n={len(self.dice)})"


@dataclass
class Winner:
    """What a later stage fixes, and the evidence for it (stored as a plain dict)."""

    study: str
    fields: dict[str, Any]
    mean: float
    sd: float
    n: int
    trials: list[int]
    rule: str  # how it was chosen, in words

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def unfinished_trials(study: optuna.Study) -> int:
    """Trials still waiting or running: a study with any is not read for a winner."""
    return len(study.get_trials(deepcopy=False,
                                states=(TrialState.WAITING, TrialState.RUNNING)))


def configurations(study: optuna.Study, searched: list[str]) -> list[Configuration]:
    """The study's completed trials grouped by their values of ``searched``."""
    groups: dict[str, Configuration] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        config = trial.user_attrs.get(records.CONFIG) or {}
        values = {name: config.get(name, trial.params.get(name)) for name in searched}
        group = groups.setdefault(repr(sorted(values.items())), Configuration(values))
        group.dice.append(float(trial.value))
        group.seconds.append(float(trial.user_attrs.get(records.SECONDS, math.inf)))
        group.trials.append(trial.number)
    return list(groups.values())


def choose_winner(study: optuna.Study, searched: list[str]) -> Winner:
    """The winning configuration of a finished study (see the module's rule)."""
    name = study.study_name
    if not searched:
        raise TunerError(f"study {name!r} searches no field: there is no winner to fix")
    waiting = unfinished_trials(study)
    if waiting:
        raise TunerError(f"study {name!r} is unfinished ({waiting} trial(s) waiting or "
                         "running): finish it before a later stage reads its winner")
    groups = configurations(study, searched)
    if not groups:
        raise TunerError(f"study {name!r} has no completed trial: nothing to choose from")
    best = max(groups, key=lambda g: g.mean)
    noise = pooled_sd(groups)
    rule = f"best mean validation Dice: {best.describe()}"
    if noise:
        ties = [g for g in groups if best.mean - g.mean <= noise]
        cheapest = min(ties, key=lambda g: (g.cost, -g.mean))
        if cheapest is not best:
            rule = (f"{cheapest.describe()} is within the repeat noise (pooled sd "
                    f"{noise:.3f}) of the best mean, {best.describe()}, and cheaper "
                    f"({cheapest.cost:.0f} s vs {best.cost:.0f} s per run): the tie rule "
                    "prefers the cheaper")
            best = cheapest
        elif len(ties) > 1:
            rule += f"; {len(ties) - 1} other(s) within the repeat noise ({noise:.3f}) cost more"
    return Winner(study=name, fields=best.values, mean=best.mean, sd=best.sd,
                  n=len(best.dice), trials=best.trials, rule=rule)


def pooled_sd(groups: list[Configuration]) -> float | None:
    """The pooled standard deviation of configurations with two or more repeats."""
    repeated = [g for g in groups if len(g.dice) > 1]
    dof = sum(len(g.dice) - 1 for g in repeated)
    if not dof:
        return None
    return math.sqrt(sum(g.sd ** 2 * (len(g.dice) - 1) for g in repeated) / dof)
