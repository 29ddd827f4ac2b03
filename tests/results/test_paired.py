"""Paired comparisons with the best: runs paired by repeat index, scipy's test and
bootstrap on known cases, too few pairs said in words, and the marks they give."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tuner.results import paired
from tuner.results.winner import Configuration, Run, group_runs, rank


def config(x, scores, repeats=None, work=None) -> Configuration:
    repeats = list(range(len(scores))) if repeats is None else repeats
    return Configuration({"x": x}, list(scores), list(range(len(scores))),
                         [work] * len(scores) if work else [], list(repeats))


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


def test_p_value_is_scipys_paired_t_test_and_wilcoxon():
    best = [0.812, 0.806, 0.821, 0.799, 0.815, 0.808]
    other = [0.801, 0.803, 0.806, 0.795, 0.800, 0.806]
    t = paired.compare(config(2, other), config(1, best))
    assert t.p == pytest.approx(stats.ttest_rel(other, best).pvalue, rel=1e-9)
    assert t.p == pytest.approx(0.01987, abs=1e-5) and t.distinguishable
    w = paired.compare(config(2, other), config(1, best), test="wilcoxon")
    assert w.p == pytest.approx(stats.wilcoxon(other, best).pvalue) == 2 / 2 ** 6
    noisy = [0.815, 0.800, 0.824, 0.790, 0.818, 0.801]  # the same gap, noisier: a tie
    tie = paired.compare(config(3, noisy), config(1, best))
    assert tie.p == pytest.approx(stats.ttest_rel(noisy, best).pvalue) and tie.p > 0.05
    assert tie.distinguishable is False


def test_the_interval_covers_the_known_difference_and_is_reproducible():
    rng = np.random.default_rng(7)
    best = 0.80 + rng.normal(0, 0.01, 12)  # the seeds' luck, shared by the pair
    own = rng.normal(0, 0.004, 12)
    other = best - 0.02 + own - own.mean()  # 0.02 behind on average, by construction
    first = paired.compare(config(2, other), config(1, best))
    again = paired.compare(config(2, other), config(1, best))
    assert first.low < -0.02 < first.high and first.high < 0  # the gap is real
    assert (first.low, first.high) == (again.low, again.high)  # a fixed seed
    assert first.high - first.low < 0.01  # paired: the shared luck cancels
    d = np.asarray(other) - np.asarray(best)
    assert first.difference == pytest.approx(d.mean())
    scipys = stats.bootstrap((d,), np.mean, n_resamples=paired.RESAMPLES, method="BCa",
                             rng=np.random.default_rng(paired.SEED)).confidence_interval
    assert (first.low, first.high) == pytest.approx((scipys.low, scipys.high))
    same = paired.compare(config(2, [0.7, 0.8]), config(1, [0.71, 0.81]))
    assert (same.low, same.high) == pytest.approx((-0.01, -0.01))  # equal differences


def test_too_few_pairs_give_no_p_value_and_say_why():
    once = paired.compare(config(2, [0.79]), config(1, [0.80]))
    assert once.p is None and once.pairs == 1 and once.difference == pytest.approx(-0.01)
    assert once.low is None and once.why_untested() == "1 pair: the test needs 2 or more"
    apart = paired.compare(config(2, [0.7, 0.7], [2, 3]), config(1, [0.8, 0.8], [0, 1]))
    assert apart.pairs == 0 and apart.why_untested() == "no pair: the test needs 2 or more"
    five = paired.compare(config(2, [0.7] * 5), config(1, [0.8] * 5), test="wilcoxon")
    assert five.p is None and five.why_untested() == "5 pairs: the test needs 6 or more"
    identical = paired.compare(config(2, [0.7, 0.8]), config(1, [0.7, 0.8]))
    assert identical.p == 1.0 and identical.difference == 0.0


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


def test_columns_per_configuration():
    ranking = rank([config(1, [0.8, 0.82]), config(2, [0.7, 0.73]), config(3, [0.6], [9])])
    found, empty = paired.columns(ranking, "best_val_dice")
    assert paired.names("best_val_dice")[:2] == ["best_val_dice_mark", "best_val_dice_noise"]
    two = found["[('x', 2)]"]
    assert two["best_val_dice_pairs"] == 2 and two["best_val_dice_mark"] == ""
    assert two["best_val_dice_diff"] == pytest.approx(-0.095)
    assert two["best_val_dice_p"] == pytest.approx(stats.ttest_rel([0.7, 0.73],
                                                                   [0.8, 0.82]).pvalue)
    assert found["[('x', 1)]"]["best_val_dice_pairs"] is None  # the best: the reference
    assert found["[('x', 3)]"]["best_val_dice_pairs"] == 0
    assert empty["best_val_dice_mark"] == "" and empty["best_val_dice_noise"] == ranking.noise
