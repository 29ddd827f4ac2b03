"""Each configuration against the best, run by run: paired differences, a confidence
interval and a paired test, beside the winner rule of :mod:`tuner.results.winner`.

- **Pairs.** Two runs are a pair when they have the same repeat index (:attr:`Run.repeat
  <tuner.results.winner.Run.repeat>`, the paired unit: the same seed and the same images;
  with folds, fold and repeat together). A configuration is compared with the best mean
  (:attr:`Ranking.best <tuner.results.winner.Ranking.best>`) over the repeat indices both
  ran; a pair shares the seed's luck (initial weights, batch order, augmentation), which
  the difference cancels, so a paired comparison sees gaps that the spread of unpaired
  means hides.
- **Difference.** The mean over the pairs of this configuration's score minus the best's,
  with a 95 % confidence interval from ``scipy.stats.bootstrap`` over the pairs'
  differences (BCa, :data:`RESAMPLES` resamples, a fixed seed, so every export of a study
  writes the same numbers). With few pairs the interval is rough: three pairs span it
  from their smallest to their largest difference.
- **Test.** A two-sided paired t-test (``scipy.stats.ttest_rel``) by default. Studies
  usually run 2 to 5 repeats or folds: the Wilcoxon signed-rank test (also offered, as
  ``test="wilcoxon"``) cannot reach p < 0.05 with fewer than 6 pairs whatever the data
  (its smallest p with 5 pairs is 0.0625), so it would call every configuration a tie.
  A configuration is **not distinguishable from the best** when p >= :data:`ALPHA`; the
  comparisons are not adjusted for their number. With fewer pairs than the test needs
  (one run per configuration, or repeats that do not line up) there is no p-value, and
  :func:`mark` falls back to the winner rule's tie (within the repeat noise).

Plain values in and out (no pandas, no storage): :mod:`tuner.reports.tables` writes the
results as columns, :mod:`tuner.reports.display` and the report as words.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.results.winner import Configuration, Ranking, configuration_key

ALPHA = 0.05  # p below this: distinguishable from the best
CONFIDENCE = 0.95
RESAMPLES = 9999
SEED = 0  # of the bootstrap's resampling
DECIMALS = 12  # differences rounded to this: float noise is no variance between pairs
#: the columns :func:`columns` fills per ranked metric, after ``<column>``
SUFFIXES = ("_mark", "_noise", "_pairs", "_diff", "_ci_low", "_ci_high", "_p")


def _t_test(differences: np.ndarray) -> float:
    from scipy.stats import ttest_rel

    return float(ttest_rel(differences, np.zeros_like(differences)).pvalue)


def _wilcoxon(differences: np.ndarray) -> float:
    from scipy.stats import wilcoxon

    return float(wilcoxon(differences).pvalue)


@dataclass(frozen=True)
class Test:
    """A paired test: its name in words, a short one for column titles, the fewest pairs
    it needs, p from differences."""

    name: str
    short: str
    min_pairs: int
    p_value: Callable[[np.ndarray], float]


TESTS = {
    "t": Test("two-sided paired t-test (scipy.stats.ttest_rel)", "paired t", 2, _t_test),
    "wilcoxon": Test("two-sided Wilcoxon signed-rank test (scipy.stats.wilcoxon)",
                     "Wilcoxon", 6, _wilcoxon),
}  # fmt: skip
TEST = "t"  # the test of every table and report


@dataclass(frozen=True)
class Paired:
    """One configuration against the best: ``pairs`` (repeat indices both ran), the mean
    ``difference`` (this minus the best; None without pairs), its confidence interval
    ``low``..``high`` (None under 2 pairs) and the test's ``p`` (None with fewer pairs
    than the test needs)."""

    pairs: int
    difference: float | None
    low: float | None
    high: float | None
    p: float | None
    test: str = TEST

    @property
    def distinguishable(self) -> bool | None:
        """Whether the test tells it from the best (None: no test)."""
        return None if self.p is None else self.p < ALPHA

    def why_untested(self) -> str:
        """Why there is no p-value, in words ('' when there is one)."""
        if self.p is not None:
            return ""
        need = TESTS[self.test].min_pairs
        have = "no pair" if self.pairs == 0 else f"{self.pairs} pair{'s' * (self.pairs > 1)}"
        return f"{have}: the test needs {need} or more"


def aligned(a: Configuration, b: Configuration) -> tuple[list[int], list[float], list[float]]:
    """The repeat indices that ``a`` and ``b`` both ran, in order, and their scores by
    them (a configuration's first run of an index counts, as :func:`group_runs` keeps)."""
    first_a = _by_repeat(a)
    first_b = _by_repeat(b)
    common = sorted(set(first_a) & set(first_b))
    return common, [first_a[r] for r in common], [first_b[r] for r in common]


def _by_repeat(configuration: Configuration) -> dict[int, float]:
    found: dict[int, float] = {}
    for repeat, score in zip(configuration.repeats, configuration.scores, strict=True):
        found.setdefault(int(repeat), float(score))
    return found


def confidence_interval(differences: np.ndarray) -> tuple[float, float]:
    """The :data:`CONFIDENCE` bootstrap interval of the mean of ``differences`` (2 or
    more): BCa over the pairs, :data:`RESAMPLES` resamples, seed :data:`SEED`; equal
    differences are their own interval."""
    from scipy.stats import bootstrap

    if np.all(differences == differences[0]):
        return float(differences[0]), float(differences[0])
    with warnings.catch_warnings():  # scipy's warnings about tiny samples: said in words
        warnings.simplefilter("ignore")
        found = bootstrap((differences,), np.mean, confidence_level=CONFIDENCE,
                          n_resamples=RESAMPLES, method="BCa",
                          rng=np.random.default_rng(SEED)).confidence_interval
    low, high = float(found.low), float(found.high)
    if not (math.isfinite(low) and math.isfinite(high)):  # BCa undefined: the plain one
        low, high = (float(v) for v in np.percentile(
            _resampled_means(differences), [50 * (1 - CONFIDENCE), 50 * (1 + CONFIDENCE)]))
    return low, high


def _resampled_means(differences: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    picks = rng.integers(0, len(differences), size=(RESAMPLES, len(differences)))
    return differences[picks].mean(axis=1)


def compare(configuration: Configuration, best: Configuration, test: str = TEST) -> Paired:
    """``configuration`` against ``best`` over their common repeat indices."""
    repeats, mine, theirs = aligned(configuration, best)
    if not repeats:
        return Paired(0, None, None, None, None, test)
    differences = np.round(np.asarray(mine) - np.asarray(theirs), DECIMALS)
    mean = float(differences.mean())
    if len(repeats) < 2:
        return Paired(1, mean, None, None, None, test)
    low, high = confidence_interval(differences)
    p = None
    if len(repeats) >= TESTS[test].min_pairs:
        with warnings.catch_warnings():  # equal differences: t is infinite, p exact
            warnings.simplefilter("ignore")
            p = TESTS[test].p_value(differences)
        p = 1.0 if math.isnan(p) else p  # every difference 0: the same scores
    return Paired(len(repeats), mean, low, high, p, test)


def against_best(ranking: Ranking | None, test: str = TEST) -> dict[str, Paired]:
    """Every configuration of ``ranking`` but the best against the best, by
    :func:`~tuner.results.winner.configuration_key` of its values."""
    if ranking is None:
        return {}
    return {configuration_key(c.values): compare(c, ranking.best, test)
            for c in ranking.configurations[1:]}


def mark(ranking: Ranking, configuration: Configuration, paired: Paired | None) -> str:
    """``best`` for the winner; ``tie`` for the best mean when it is not the winner and
    for a configuration the test cannot tell from it (p >= :data:`ALPHA`); without a
    test (too few pairs), the winner rule's mark (within the repeat noise)."""
    if configuration is ranking.winner:
        return "best"
    if configuration is ranking.best:
        return "tie"
    if paired is None or paired.p is None:
        return ranking.mark(configuration)
    return "tie" if paired.p >= ALPHA else ""


def columns(ranking: Ranking | None, column: str, test: str = TEST
            ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The values of :data:`SUFFIXES` (after ``column``) per configuration key, and those
    of a configuration that the ranking does not hold (no completed run)."""
    noise = None if ranking is None else ranking.noise
    empty = {column + s: None for s in SUFFIXES} | {f"{column}_mark": "",
                                                   f"{column}_noise": noise}
    if ranking is None:
        return {}, empty
    found = against_best(ranking, test)
    out = {}
    for c in ranking.configurations:
        key = configuration_key(c.values)
        paired = found.get(key)
        values = dict(empty, **{f"{column}_mark": mark(ranking, c, paired)})
        if paired is not None:
            values.update({f"{column}_pairs": paired.pairs, f"{column}_diff": paired.difference,
                           f"{column}_ci_low": paired.low, f"{column}_ci_high": paired.high,
                           f"{column}_p": paired.p})
        out[key] = values
    return out, empty


def names(column: str) -> list[str]:
    """The columns :func:`columns` fills for ``column``."""
    return [column + s for s in SUFFIXES]


def pairs_text(counts: list[int]) -> str:
    """``3 pairs`` or ``2 to 5 pairs`` for the pair counts of the tested configurations."""
    low, high = min(counts), max(counts)
    return f"{low} pair{'s' * (low > 1)}" if low == high else f"{low} to {high} pairs"


def method_sentence(test: str = TEST) -> str:
    """How the difference, its interval and the test are computed, in one sentence."""
    return (f"Δ vs best: the mean over paired runs (the same repeat index: the same seed and "
            f"images) of a configuration's score minus the best mean's, with a "
            f"{CONFIDENCE:.0%} bootstrap confidence interval (BCa, {RESAMPLES:,} resamples of "
            f"the pairs, seed {SEED}); p: {TESTS[test].name}.")
