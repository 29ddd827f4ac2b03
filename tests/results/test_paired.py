"""Paired comparisons with the best: runs paired by repeat index, the t-test with its own
interval below 10 pairs and the bootstrap with its own p from 10 on, a row's interval
excluding zero exactly when its test rejects, equal differences without warnings, too few
pairs said in words, and the marks they give."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

from tuner.results import paired
from tuner.results.winner import Configuration, Run, group_runs, rank


def config(x, scores, repeats=None, work=None) -> Configuration:
    repeats = list(range(len(scores))) if repeats is None else repeats
    return Configuration({"x": x}, list(scores), list(range(len(scores))),
                         [work] * len(scores) if work else [], list(repeats))


def against_zero(differences) -> paired.Paired:
    """``differences`` as a configuration against a best that scored 0.5 every time."""
    differences = np.asarray(differences, dtype=float)
    base = np.full(len(differences), 0.5)
    return paired.compare(config(2, base + differences), config(1, base))


def excludes_zero(found: paired.Paired) -> bool:
    return found.low > 0 or found.high < 0


def test_runs_pair_by_repeat_index_not_by_order():
    """Runs come in by trial number; a pair is the same repeat index (same seed, images)."""
    runs = [Run({"x": 1}, 2, 0.72, 0), Run({"x": 2}, 0, 0.60, 1), Run({"x": 1}, 0, 0.70, 2),
            Run({"x": 2}, 2, 0.65, 3), Run({"x": 1}, 1, 0.71, 4), Run({"x": 2}, 3, 0.99, 5)]
    one, two = group_runs(runs)
    assert one.repeats == [2, 0, 1] and two.repeats == [0, 2, 3]
    repeats, mine, theirs = paired.aligned(two, one)
    assert repeats == [0, 2]  # repeat 1 only in one, repeat 3 only in two
    assert mine == [0.60, 0.65] and theirs == [0.70, 0.72]
    found = paired.compare(two, one)
    assert found.pairs == 2 and found.difference == pytest.approx(-0.085)


def test_below_ten_pairs_the_interval_is_the_t_tests_own():
    """The reported case: 3 pairs, mean -0.005, p 0.218. The BCa interval was the range
    of the three differences and left zero out; the t-interval of the same test holds it."""
    best = [0.812, 0.806, 0.821]
    other = [0.810, 0.795, 0.820]  # differences -0.002, -0.011, -0.001
    found = paired.compare(config(2, other), config(1, best))
    scipys = stats.ttest_rel(other, best)
    interval = scipys.confidence_interval(0.95)
    assert found.method == "t" and found.pairs == 3
    assert found.p == pytest.approx(scipys.pvalue, rel=1e-9) and found.p > paired.ALPHA
    assert (found.low, found.high) == pytest.approx((interval.low, interval.high))
    assert found.low < -0.011 and found.high > 0  # wider than the range, and holds zero
    assert found.distinguishable is False


def test_the_t_test_rejects_a_consistent_gap_and_its_interval_leaves_zero_out():
    best = [0.812, 0.806, 0.821, 0.799, 0.815, 0.808]
    other = [0.801, 0.803, 0.806, 0.795, 0.800, 0.806]
    found = paired.compare(config(2, other), config(1, best))
    assert found.method == "t"
    assert found.p == pytest.approx(0.01987, abs=1e-5) and found.distinguishable
    assert found.low < found.difference < found.high < 0


def test_from_ten_pairs_the_bootstrap_gives_interval_and_p_together():
    rng = np.random.default_rng(7)
    best = 0.80 + rng.normal(0, 0.01, 12)  # the seeds' luck, shared by the pair
    own = rng.normal(0, 0.004, 12)
    other = best - 0.02 + own - own.mean()  # 0.02 behind on average, by construction
    first = paired.compare(config(2, other), config(1, best))
    again = paired.compare(config(2, other), config(1, best))
    assert first.method == "bootstrap" and first.pairs == 12
    assert first.low < -0.02 < first.high < 0 and first.p < paired.ALPHA  # the gap is real
    assert (first.low, first.high, first.p) == (again.low, again.high, again.p)  # seeded
    assert first.high - first.low < 0.01  # paired: the shared luck cancels
    d = np.round(np.asarray(other) - np.asarray(best), paired.DECIMALS)
    assert first.difference == pytest.approx(d.mean())
    means = np.sort(d[np.random.default_rng(paired.SEED).integers(
        0, 12, size=(paired.RESAMPLES, 12))].mean(axis=1))
    assert (first.low, first.high) == (means[249], means[9749])  # the 250th from each end
    assert paired.method_for(9) == "t" and paired.method_for(10) == "bootstrap"
    assert paired.method_for(1) is None


def test_the_bootstrap_p_is_the_share_of_resamples_beyond_zero():
    """A gap of about two standard errors: p is 2 x the resampled means on the far side of
    zero over 10,000, and the interval leaves zero out exactly when that count is < 250."""
    rng = np.random.default_rng(3)
    d = np.round(rng.normal(-0.004, 0.01, 15), 3)
    found = against_zero(d)
    means = d[np.random.default_rng(paired.SEED).integers(
        0, 15, size=(paired.RESAMPLES, 15))].mean(axis=1)
    far = min(np.count_nonzero(means <= 0), np.count_nonzero(means >= 0))
    assert found.p == pytest.approx(2 * far / 10_000)
    assert excludes_zero(found) == (far < 250)


def _random_differences(rng: np.random.Generator, n: int) -> np.ndarray:
    """Dice-like differences: normal or heavy-tailed, a gap of -3 to 3 standard errors,
    sometimes rounded to 3 decimals (ties, zeros)."""
    scale = rng.uniform(0.002, 0.03)
    noise = rng.standard_t(2, n) if rng.random() < 0.3 else rng.normal(0, 1, n)
    d = rng.uniform(-3, 3) * scale / np.sqrt(n) + scale * noise
    return np.round(d, 3) if rng.random() < 0.3 else d


@pytest.mark.parametrize("n", range(2, 31))
def test_every_interval_excludes_zero_exactly_when_its_test_rejects(n):
    """A sweep over random difference vectors of every length from 2 to 30 pairs: the
    95 % interval of a row leaves zero out exactly when its p is below 0.05, silently."""
    rng = np.random.default_rng(1000 + n)
    outcomes = set()
    for _ in range(40):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # rounded differences tie often: no warning either
            found = against_zero(_random_differences(rng, n))
        assert found.method == ("t" if n < 10 else "bootstrap")
        assert excludes_zero(found) == (found.p < paired.ALPHA) == found.distinguishable
        assert found.low <= found.high
        outcomes.add(found.distinguishable)
    assert outcomes == {True, False}  # the sweep met both answers at this length


def test_the_t_test_and_its_interval_agree_at_the_edge():
    """Differences with t within rounding of the critical value: whichever side rounding
    puts them on, the interval and the test give one answer."""
    for n in (2, 3, 5, 9):
        base = np.random.default_rng(n).normal(0, 1, n)
        base = (base - base.mean()) / base.std(ddof=1)  # sd 1, mean 0
        edge = stats.t.ppf(1 - paired.ALPHA / 2, n - 1) / np.sqrt(n)
        for shift in np.linspace(edge * (1 - 1e-13), edge * (1 + 1e-13), 21):
            low, high, p = paired.interval_and_p(base + shift, "t")
            assert (low > 0 or high < 0) == (p < paired.ALPHA)


def test_an_interval_that_parts_from_its_test_by_rounding_is_set_to_the_edge():
    assert paired._agreeing(1e-18, 0.02, 0.0500001) == (0.0, 0.02, 0.0500001)
    assert paired._agreeing(-0.02, -1e-18, 0.06) == (-0.02, 0.0, 0.06)
    assert paired._agreeing(-0.02, 1e-18, 0.0499999) == (-0.02, 1e-18, paired.ALPHA)
    assert paired._agreeing(-0.02, -0.01, 0.001) == (-0.02, -0.01, 0.001)  # agreeing: kept


@pytest.mark.parametrize("n", [2, 3, 9, 10, 25])
def test_equal_differences_are_their_own_interval_without_warnings(n):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy's division by a zero spread would raise
        same = paired.compare(config(2, [0.7] * n), config(1, [0.7] * n))
        gap = paired.compare(config(2, [0.69] * n), config(1, [0.70] * n))
    assert (same.difference, same.low, same.high, same.p) == (0.0, 0.0, 0.0, 1.0)
    assert same.distinguishable is False
    assert gap.difference == gap.low == gap.high == pytest.approx(-0.01)
    assert gap.p == 0.0 and gap.distinguishable and excludes_zero(gap)
    assert same.method == gap.method == paired.method_for(n)


def test_too_few_pairs_give_no_interval_or_p_value_and_say_why():
    once = paired.compare(config(2, [0.79]), config(1, [0.80]))
    assert once.p is None and once.pairs == 1 and once.difference == pytest.approx(-0.01)
    assert once.low is None and once.method is None
    assert once.why_untested() == "1 pair: the test needs 2 or more"
    apart = paired.compare(config(2, [0.7, 0.7], [2, 3]), config(1, [0.8, 0.8], [0, 1]))
    assert apart.pairs == 0 and apart.why_untested() == "no pair: the test needs 2 or more"


def test_marks_follow_the_test_and_fall_back_to_the_noise():
    best = config("best", [0.80, 0.82, 0.81], work=200.0)
    cheaper = config("cheaper", [0.790, 0.826, 0.805], work=100.0)  # noisy, 0.003 behind
    behind = config("behind", [0.795, 0.815, 0.805], work=300.0)  # 0.005 behind each time
    single = config("single", [0.805], [5], work=300.0)  # no pair with the best
    ranking = rank([best, cheaper, behind, single])
    assert ranking.winner is cheaper and ranking.best is best
    found = paired.against_best(ranking)
    assert set(found) == {"[('x', 'cheaper')]", "[('x', 'behind')]", "[('x', 'single')]"}
    marks = {c.values["x"]: paired.mark(ranking, c, found.get(repr([("x", c.values["x"])])))
             for c in ranking.configurations}
    # the winner bold; the best mean it beat on cost is no different from itself; a
    # consistent 0.005 gap the paired test sees though the repeat noise hides it; and
    # without a pair, the winner rule's tie within the noise
    assert marks == {"cheaper": "best", "best": "tie", "behind": "", "single": "tie"}
    assert ranking.mark(behind) == "tie"  # what the unpaired rule alone would have said


def test_columns_per_configuration_name_their_method():
    ranking = rank([config(1, [0.8, 0.82]), config(2, [0.7, 0.73]), config(3, [0.6], [9])])
    found, empty = paired.columns(ranking, "best_val_dice")
    assert paired.names("best_val_dice")[:2] == ["best_val_dice_mark", "best_val_dice_noise"]
    assert paired.names("best_val_dice")[-1] == "best_val_dice_method"
    two = found["[('x', 2)]"]
    assert two["best_val_dice_pairs"] == 2 and two["best_val_dice_mark"] == ""
    assert two["best_val_dice_diff"] == pytest.approx(-0.095)
    assert two["best_val_dice_p"] == pytest.approx(stats.ttest_rel([0.7, 0.73],
                                                                   [0.8, 0.82]).pvalue)
    assert two["best_val_dice_method"] == "t"
    assert found["[('x', 1)]"]["best_val_dice_pairs"] is None  # the best: the reference
    assert found["[('x', 3)]"]["best_val_dice_pairs"] == 0
    assert found["[('x', 3)]"]["best_val_dice_method"] is None
    assert empty["best_val_dice_mark"] == "" and empty["best_val_dice_noise"] == ranking.noise


def test_the_method_sentence_names_the_methods_used_and_why():
    only_t = paired.method_sentence(["t", None, float("nan")])
    assert "below 10 pairs (t): the two-sided paired t-test" in only_t
    assert "bootstrap)" not in only_t and "excludes 0 exactly when p < 0.05" in only_t
    both = paired.method_sentence(["bootstrap", "t"])
    assert both.index("(t)") < both.index("(bootstrap)")
    assert "percentile interval of 9,999 resampled means" in both
    assert paired.tests_text(["bootstrap"]) == paired.METHODS["bootstrap"].name
