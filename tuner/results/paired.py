"""Each configuration against the best, run by run: paired differences, a confidence
interval and a paired test, beside the winner rule of :mod:`tuner.results.winner`.

- **Pairs.** Two runs are a pair when they have the same repeat index (:attr:`Run.repeat
  <tuner.results.winner.Run.repeat>`, the paired unit: the same seed and the same images;
  with folds, fold and repeat together). A configuration is compared with the best mean
  (:attr:`Ranking.best <tuner.results.winner.Ranking.best>`) over the repeat indices both
  ran; a pair shares the seed's luck (initial weights, batch order, augmentation), which
  the difference cancels, so a paired comparison sees gaps that the spread of unpaired
  means hides.
- **Difference.** The mean over the pairs of this configuration's score minus the best's.
- **One procedure per row gives both its interval and its p.** A row's 95 % interval
  excludes zero exactly when its test rejects at :data:`ALPHA` = 0.05, so a row is never
  printed with an interval beside zero and an italic "cannot be told from the best" mark
  (a user found ``Δ -0.005 [-0.011, -0.001], p 0.218``: a BCa bootstrap interval, which
  with 3 pairs is the range of the three differences, beside a t-test that did not
  reject). Which procedure depends on the pairs (:func:`method_for`), and each row
  records it (``_method``):

  - ``t``, from 2 to :data:`BOOTSTRAP_MIN_PAIRS` - 1 pairs: the two-sided paired t-test
    (``scipy.stats.ttest_rel``) and its own t-interval (``confidence_interval``). The two
    are one computation (``|mean| > t_crit * se`` is ``p < alpha``). Studies usually run 2
    to 5 repeats or folds; a bootstrap of so few pairs knows only a handful of distinct
    resamples (3 pairs: 10) and its interval is too narrow, and the Wilcoxon signed-rank
    test cannot reach p < 0.05 with fewer than 6 pairs whatever the data.
  - ``bootstrap``, from :data:`BOOTSTRAP_MIN_PAIRS` pairs on, where resampling the pairs
    describes their spread: :data:`RESAMPLES` resampled means (a fixed seed, so every
    export writes the same numbers), the percentile interval read as two of them (the
    250th and the 9,750th smallest), and the p-value of the same resamples, twice the
    share on the far side of zero (the smallest level at which the percentile interval
    leaves zero out). It assumes no normal differences, so one diverged repeat skews the
    interval instead of widening it on both sides. Interval and p are counted on one
    sorted array: they agree exactly, in integers.

  Floating point could still split the t-test's p and its interval at the very edge
  (``|t| == t_crit``); there both are set to that edge, p = 0.05 and a bound at 0, which
  neither rejects nor excludes (:func:`_agreeing`). Equal differences (every pair the same
  gap, zero variance) need no test: the interval is the gap itself and p is 1 for a zero
  gap, 0 for any other, without scipy's division warnings.
- A configuration is **not distinguishable from the best** when p >= :data:`ALPHA`; the
  comparisons are not adjusted for their number. With fewer than 2 pairs (one run per
  configuration, or repeats that do not line up) there is no interval and no p-value, and
  :func:`mark` falls back to the winner rule's tie (within the repeat noise).

Plain values in and out (no pandas, no storage): :mod:`tuner.reports.tables` writes the
results as columns, :mod:`tuner.reports.display` and the report as words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuner.results.winner import Configuration, Ranking, configuration_key

ALPHA = 0.05  # p below this: distinguishable from the best
CONFIDENCE = 0.95  # 1 - ALPHA: the interval that excludes zero exactly when p < ALPHA
MIN_PAIRS = 2  # the fewest pairs with a spread: below, no interval and no p
BOOTSTRAP_MIN_PAIRS = 10  # from here on the bootstrap; below, the t-test and its interval
RESAMPLES = 9999  # (RESAMPLES + 1) * ALPHA / 2 = 250: the interval's bounds are resamples
SEED = 0  # of the bootstrap's resampling
DECIMALS = 12  # differences rounded to this: float noise is no variance between pairs
#: the columns :func:`columns` fills per ranked metric, after ``<column>``
SUFFIXES = ("_mark", "_noise", "_pairs", "_diff", "_ci_low", "_ci_high", "_p", "_method")


@dataclass(frozen=True)
class Method:
    """A procedure that gives a row its interval and its p together: the ``name`` of its
    test in words, a ``short`` one for column titles, the fewest pairs it is used from, and
    ``interval_and_p`` (differences -> low, high, p)."""

    name: str
    short: str
    min_pairs: int
    interval_and_p: Callable[[np.ndarray], tuple[float, float, float]]


def t_interval_and_p(differences: np.ndarray) -> tuple[float, float, float]:
    """The paired t-test of ``differences`` (2 or more, not all equal) against zero and
    its own :data:`CONFIDENCE` interval of their mean (``scipy.stats.ttest_rel``)."""
    from scipy.stats import ttest_rel

    result = ttest_rel(differences, np.zeros_like(differences))
    found = result.confidence_interval(CONFIDENCE)
    return float(found.low), float(found.high), float(result.pvalue)


def _resampled_means(differences: np.ndarray) -> np.ndarray:
    """:data:`RESAMPLES` means of the pairs drawn with replacement, seed :data:`SEED`."""
    rng = np.random.default_rng(SEED)
    picks = rng.integers(0, len(differences), size=(RESAMPLES, len(differences)))
    return differences[picks].mean(axis=1)


def _tail_count() -> int:
    """How many resampled means lie beyond each bound of the interval: 250 of 9,999."""
    return round((RESAMPLES + 1) * ALPHA / 2)


def bootstrap_interval_and_p(differences: np.ndarray) -> tuple[float, float, float]:
    """The percentile bootstrap :data:`CONFIDENCE` interval of the mean of ``differences``
    and the p-value of the same resamples.

    With k = :func:`_tail_count`, the interval runs from the k-th smallest resampled mean
    to the k-th largest, and p is twice the count on the smaller side of zero over
    ``RESAMPLES + 1``: zero lies outside the interval exactly when fewer than k means lie on
    one side of it, which is exactly p < :data:`ALPHA`."""
    means = np.sort(_resampled_means(differences))
    k = _tail_count()
    low, high = float(means[k - 1]), float(means[RESAMPLES - k])
    beyond = min(int(np.count_nonzero(means <= 0)), int(np.count_nonzero(means >= 0)))
    return low, high, min(1.0, 2 * beyond / (RESAMPLES + 1))


METHODS = {
    "t": Method("two-sided paired t-test (scipy.stats.ttest_rel)", "paired t", MIN_PAIRS,
                t_interval_and_p),
    "bootstrap": Method(f"two-sided percentile bootstrap test of the pairs ({RESAMPLES:,} "
                        f"resamples, seed {SEED})", "bootstrap", BOOTSTRAP_MIN_PAIRS,
                        bootstrap_interval_and_p),
}  # fmt: skip


def method_for(pairs: int) -> str | None:
    """The procedure for ``pairs`` pairs: ``t`` below :data:`BOOTSTRAP_MIN_PAIRS`,
    ``bootstrap`` from it, None under :data:`MIN_PAIRS` (no spread to test)."""
    if pairs < MIN_PAIRS:
        return None
    return "bootstrap" if pairs >= BOOTSTRAP_MIN_PAIRS else "t"


@dataclass(frozen=True)
class Paired:
    """One configuration against the best: ``pairs`` (repeat indices both ran), the mean
    ``difference`` (this minus the best; None without pairs), its confidence interval
    ``low``..``high`` and p-value ``p`` (None under :data:`MIN_PAIRS` pairs), and the
    ``method`` (a key of :data:`METHODS`) that gave both."""

    pairs: int
    difference: float | None
    low: float | None
    high: float | None
    p: float | None
    method: str | None = None

    @property
    def distinguishable(self) -> bool | None:
        """Whether the test tells it from the best (None: no test)."""
        return None if self.p is None else self.p < ALPHA

    def why_untested(self) -> str:
        """Why there is no p-value, in words ('' when there is one)."""
        if self.p is not None:
            return ""
        have = "no pair" if self.pairs == 0 else f"{self.pairs} pair{'s' * (self.pairs > 1)}"
        return f"{have}: the test needs {MIN_PAIRS} or more"


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


def _agreeing(low: float, high: float, p: float) -> tuple[float, float, float]:
    """``low``, ``high`` and ``p`` with the interval excluding zero exactly when p <
    :data:`ALPHA`. They can only part at the edge, where the exact values are p = ALPHA and
    a bound at zero and rounding put one on either side: both are set to that edge, which
    neither rejects nor excludes."""
    if (p < ALPHA) == (low > 0 or high < 0):
        return low, high, p
    if p < ALPHA:  # the interval touches zero: the test is at its edge too
        return low, high, ALPHA
    return (0.0, high, p) if low > 0 else (low, 0.0, p)


def interval_and_p(differences: np.ndarray, method: str) -> tuple[float, float, float]:
    """The interval and p of ``differences`` by ``method``, agreeing by construction;
    equal differences (no spread) are their own interval, p 1 for none and 0 for a gap."""
    if np.all(differences == differences[0]):
        gap = float(differences[0])
        return gap, gap, 1.0 if gap == 0 else 0.0
    low, high, p = METHODS[method].interval_and_p(differences)
    return _agreeing(low, high, 1.0 if math.isnan(p) else p)


def compare(configuration: Configuration, best: Configuration) -> Paired:
    """``configuration`` against ``best`` over their common repeat indices, by the method
    that fits their number (:func:`method_for`)."""
    repeats, mine, theirs = aligned(configuration, best)
    if not repeats:
        return Paired(0, None, None, None, None)
    differences = np.round(np.asarray(mine) - np.asarray(theirs), DECIMALS)
    method = method_for(len(repeats))
    if method is None:
        return Paired(len(repeats), float(differences.mean()), None, None, None)
    low, high, p = interval_and_p(differences, method)
    equal = bool(np.all(differences == differences[0]))
    mean = float(differences[0]) if equal else float(differences.mean())
    return Paired(len(repeats), mean, low, high, p, method)


def against_best(ranking: Ranking | None) -> dict[str, Paired]:
    """Every configuration of ``ranking`` but the best against the best, by
    :func:`~tuner.results.winner.configuration_key` of its values."""
    if ranking is None:
        return {}
    return {configuration_key(c.values): compare(c, ranking.best)
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


def columns(ranking: Ranking | None, column: str
            ) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The values of :data:`SUFFIXES` (after ``column``) per configuration key, and those
    of a configuration that the ranking does not hold (no completed run)."""
    noise = None if ranking is None else ranking.noise
    empty = {column + s: None for s in SUFFIXES} | {f"{column}_mark": "",
                                                   f"{column}_noise": noise}
    if ranking is None:
        return {}, empty
    found = against_best(ranking)
    out = {}
    for c in ranking.configurations:
        key = configuration_key(c.values)
        paired = found.get(key)
        values = dict(empty, **{f"{column}_mark": mark(ranking, c, paired)})
        if paired is not None:
            values.update({f"{column}_pairs": paired.pairs, f"{column}_diff": paired.difference,
                           f"{column}_ci_low": paired.low, f"{column}_ci_high": paired.high,
                           f"{column}_p": paired.p, f"{column}_method": paired.method})
        out[key] = values
    return out, empty


def names(column: str) -> list[str]:
    """The columns :func:`columns` fills for ``column``."""
    return [column + s for s in SUFFIXES]


def pairs_text(counts: list[int]) -> str:
    """``3 pairs`` or ``2 to 5 pairs`` for the pair counts of the tested configurations."""
    low, high = min(counts), max(counts)
    return f"{low} pair{'s' * (low > 1)}" if low == high else f"{low} to {high} pairs"


def methods_used(methods: Iterable[Any]) -> list[str]:
    """The keys of :data:`METHODS` among ``methods`` (a row's ``_method`` values, blanks
    and NaN ignored), in the order of :data:`METHODS`."""
    seen = {m for m in methods if isinstance(m, str)}
    return [m for m in METHODS if m in seen]


def tests_text(methods: Iterable[str]) -> str:
    """The procedures ``methods`` in words, joined: the test's name for the marks."""
    return " or ".join(METHODS[m].name for m in methods_used(methods)) or METHODS["t"].name


def method_sentence(methods: Iterable[str] = ("t",)) -> str:
    """How the difference, its interval and p are computed, for the ``methods`` a table
    used, with why each applies where it does."""
    used = methods_used(methods) or ["t"]
    why = {
        "t": (f"below {BOOTSTRAP_MIN_PAIRS} pairs (t): the two-sided paired t-test "
              "(scipy.stats.ttest_rel) and its own t-interval, since a bootstrap of so few "
              "pairs has too few distinct resamples"),
        "bootstrap": (f"from {BOOTSTRAP_MIN_PAIRS} pairs on (bootstrap): the percentile "
                      f"interval of {RESAMPLES:,} resampled means of the pairs (seed {SEED}) "
                      "and the two-sided p of the same resamples, which assume no normal "
                      "differences"),
    }
    return ("Δ vs best: the mean over paired runs (the same repeat index: the same seed and "
            "images) of a configuration's score minus the best mean's, with a "
            f"{CONFIDENCE:.0%} confidence interval and p from one procedure, so the interval "
            f"excludes 0 exactly when p < {ALPHA}; "
            + "; ".join(why[m] for m in used) + ".")
