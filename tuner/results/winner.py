"""The one rule for "the best configuration" and "within the noise", used everywhere.

A campaign freezing a stage, ``best_of`` in a study file, ``tuner evaluate --best``, the
marks of every table, the report's conclusion and the dashboard note all call
:func:`rank` (through :func:`tuner.results.runs.choose_winner` for a stored study, which
refuses an unfinished one), so they name the same winner on the same evidence. This module
reads no storage: runs come in as :class:`Run` values.

- A **configuration** is one set of values of the searched fields, read from each trial's
  resolved config (a learning rate searched as ``lr_adam`` counts as ``lr``). Its **runs**
  are its completed trials, one per repeat index: a second completed trial of the same
  repeat (a duplicate, or a trial that a retry also finished) is not another repeat, and
  the first is kept. Its score is the mean over its runs, with a sample standard deviation
  only from two runs on (one run has no spread to show).
- The **repeat noise** is the spread between repeats of one configuration, estimated
  robustly: each configuration with two or more runs gives its sample standard deviation,
  scaled by the median of that statistic for normal noise (``scipy.stats.chi2``) so that
  it estimates the noise's sigma, and the noise is the median of those estimates. One
  diverged repeat inflates one configuration's estimate, which the median then ignores
  (the pooled variance it replaces was dominated by it: 0.053 in a loss stage whose other
  configurations varied by 0.005).
- A configuration **ties** with the best mean when the gap is at most the standard error
  of a difference of two means, ``noise * sqrt(1/n_best + 1/n)``: the seeds alone make
  gaps that large.
- The **winner** is the best mean, unless a tie costs less **training work** (forward
  GFLOP per image x images trained, recorded per trial; never wall seconds, which measure
  the machine's load as much as the configuration): then the cheapest tie wins, because
  a report should not recommend a costlier setting for a difference the seeds alone
  produce. Without a noise estimate (every configuration ran once) the best mean wins.

Beside the rule, :mod:`tuner.results.paired` compares each configuration with the best
mean run by run (pairs of the same repeat index) for the tables' and the report's marks.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Run:
    """One completed trial as evidence: its configuration's ``values``, its ``repeat``
    index (the paired unit: runs of two configurations with the same index trained on the
    same images with the same seed; with folds, fold and repeat together), its ``score``
    (best validation Dice, or the metric ranked), its number and its training work in
    GFLOP (None when it recorded none). ``identity``: every parameter the
    trial ran with, where ``values`` holds only some of them (runs of one identity and
    repeat are one run); None: ``values`` is the whole identity."""

    values: dict[str, Any]
    repeat: int
    score: float
    trial: int
    work: float | None = None
    identity: dict[str, Any] | None = None


@dataclass
class Configuration:
    """One configuration's ``values`` and the scores of its runs (one per repeat).

    ``work``: its runs' mean training work in GFLOP (None where no run recorded any);
    ``trials``: the trial numbers of its runs; ``repeats``: their repeat indices (the
    paired unit: :mod:`tuner.results.paired` pairs runs of two configurations by it).
    """

    values: dict[str, Any]
    scores: list[float] = field(default_factory=list)
    trials: list[int] = field(default_factory=list)
    works: list[float] = field(default_factory=list)
    repeats: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.scores)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores)

    @property
    def sd(self) -> float | None:
        """Sample standard deviation over the runs; None for a single run."""
        return statistics.stdev(self.scores) if self.n >= 2 else None

    @property
    def work(self) -> float | None:
        return statistics.fmean(self.works) if self.works else None

    def describe(self) -> str:
        """``loss=dice (0.873 ± 0.004, n=3)``; ``(0.861, n=1)`` for one run."""
        shown = ", ".join(f"{k}={v}" for k, v in self.values.items()) or "all trials"
        spread = f" ± {self.sd:.3f}" if self.sd is not None else ""
        return f"{shown} ({self.mean:.3f}{spread}, n={self.n})"


def configuration_key(values: dict[str, Any]) -> str:
    """The identity of a configuration's values, the same whether they come from stored
    trials or from a table's cells: numpy scalars as Python ones, and every empty value
    (None, NaN, pandas' NA: not searched in this branch of a space) alike."""
    return repr(sorted((k, _plain(v)) for k, v in values.items()))


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()  # numpy scalars
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def group_runs(runs: Iterable[Run]) -> list[Configuration]:
    """``runs`` grouped by configuration in the order first seen, one run per repeat
    index: a later run of a repeat already held is left out (see the module's text)."""
    groups: dict[str, Configuration] = {}
    held: set[tuple[str, int]] = set()
    for run in sorted(runs, key=lambda r: r.trial):
        key = configuration_key(run.values)
        identity = key if run.identity is None else configuration_key(run.identity)
        if (identity, run.repeat) in held or not math.isfinite(run.score):
            continue
        held.add((identity, run.repeat))
        group = groups.setdefault(key, Configuration(dict(run.values)))
        group.scores.append(float(run.score))
        group.trials.append(run.trial)
        group.repeats.append(run.repeat)
        if run.work is not None and math.isfinite(run.work):
            group.works.append(float(run.work))
    return list(groups.values())


@dataclass
class Ranking:
    """Configurations best first, the repeat noise, the winner and the ties of the best."""

    configurations: list[Configuration]
    noise: float | None
    winner: Configuration
    ties: list[Configuration]  # within the noise of the best mean, the best excluded
    rule: str  # how the winner was chosen, in words
    higher_is_better: bool = True

    @property
    def best(self) -> Configuration:
        return self.configurations[0]

    def mark(self, configuration: Configuration) -> str:
        """``best`` for the winner, ``tie`` for the others within the noise, else ''."""
        if configuration is self.winner:
            return "best"
        if configuration is self.best or any(configuration is t for t in self.ties):
            return "tie"
        return ""


@dataclass
class Winner:
    """What a later stage fixes, and the evidence for it (stored as a plain dict)."""

    study: str
    fields: dict[str, Any]
    mean: float
    sd: float | None
    n: int
    trials: list[int]
    rule: str  # how it was chosen, in words
    work: float | None = None

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=64)
def _median_sd_ratio(n: int) -> float:
    """Median of (sample sd / sigma) for ``n`` normal values: sqrt(chi2 median / (n-1))."""
    from scipy.stats import chi2

    return math.sqrt(chi2.ppf(0.5, n - 1) / (n - 1))


def repeat_noise(configurations: Iterable[Configuration]) -> float | None:
    """The robust repeat noise (see the module's text); None when no configuration has
    two or more runs."""
    estimates = [c.sd / _median_sd_ratio(c.n) for c in configurations
                 if c.n >= 2 and c.sd is not None and math.isfinite(c.sd)]
    return statistics.median(estimates) if estimates else None


def tie_margin(noise: float, a: Configuration, b: Configuration) -> float:
    """The gap between ``a``'s and ``b``'s means that the seeds alone make: the standard
    error of a difference of two means."""
    return noise * math.sqrt(1 / a.n + 1 / b.n)


def rank(configurations: Iterable[Configuration], *, higher_is_better: bool = True,
         prefer_cheaper: bool = True) -> Ranking | None:
    """The ranking of ``configurations`` with at least one run (None when none has)."""
    done = [c for c in configurations if c.n > 0]
    if not done:
        return None
    sign = 1.0 if higher_is_better else -1.0
    ordered = sorted(done, key=lambda c: -sign * c.mean)  # stable: ties keep their order
    best, noise = ordered[0], repeat_noise(done)
    ties = [] if noise is None else [
        c for c in ordered[1:] if sign * (best.mean - c.mean) <= tie_margin(noise, best, c)]
    winner, rule = best, f"best mean: {best.describe()}"
    if noise is None:
        rule += "; every configuration ran once, so the repeat noise is unknown"
    elif prefer_cheaper and ties:
        cheaper = [c for c in ties if _cheaper(c, best)]
        if cheaper:
            winner = min(cheaper, key=lambda c: (c.work, -sign * c.mean))
            rule = (f"{winner.describe()} is within the repeat noise ({noise:.3f}) of the "
                    f"best mean, {best.describe()}, and cheaper ({_work(winner)} vs "
                    f"{_work(best)} of training): the tie rule prefers the cheaper")
        else:
            rule += (f"; {len(ties)} other(s) within the repeat noise ({noise:.3f}) cost as "
                     "much or more" if best.work is not None else
                     f"; {len(ties)} other(s) within the repeat noise ({noise:.3f}), no "
                     "training work recorded to prefer a cheaper one")
    return Ranking(ordered, noise, winner, ties, rule, higher_is_better)


def _cheaper(candidate: Configuration, best: Configuration) -> bool:
    return candidate.work is not None and best.work is not None and candidate.work < best.work


def _work(configuration: Configuration) -> str:
    return f"{configuration.work:,.0f} GFLOP"


def winner_record(study_name: str, ranking: Ranking) -> Winner:
    """The :class:`Winner` of ``ranking`` for study ``study_name``."""
    chosen = ranking.winner
    return Winner(study=study_name, fields=dict(chosen.values), mean=chosen.mean,
                  sd=chosen.sd, n=chosen.n, trials=list(chosen.trials), rule=ranking.rule,
                  work=chosen.work)
