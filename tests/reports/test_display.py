"""The text tables built from the computed frames: cells, marks and legends."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tuner.reports import display


def _comparison(means, stds, ns, marks, noise) -> pd.DataFrame:
    """A comparison frame as :func:`tables.comparison_frame` makes it, marks included (the
    rule that sets them is tests/results/test_winner.py's subject)."""
    return pd.DataFrame({"lr": [1e-1, 1e-2, 1e-3][: len(means)], "n": ns, "pruned": 0,
                         "best_val_dice_mean": means, "best_val_dice_std": stds,
                         "best_val_dice_mark": marks, "best_val_dice_noise": noise,
                         "seconds_mean": 12.4, "seconds_std": 1.0})


def test_comparison_shows_the_winner_rules_marks_and_its_noise():
    shown = display.comparison_shown(_comparison([0.80, 0.79, 0.70], [0.02] * 3, [3] * 3,
                                                 ["best", "tie", ""], 0.02), ["lr"])
    assert list(shown.cells.columns) == ["lr", "val Dice", "wall s"]
    assert list(shown.cells["val Dice"]) == ["0.800 ± 0.020 (3)", "0.790 ± 0.020 (3)",
                                             "0.700 ± 0.020 (3)"]
    assert list(shown.marks["val Dice"]) == ["best", "tie", ""]
    assert list(shown.cells["wall s"]) == ["12", "12", "12"]  # whole, without sd
    text = display.markdown(shown)
    assert "**0.800 ± 0.020 (3)**" in text and "*0.790 ± 0.020 (3)*" in text
    assert "italic: within the repeat noise of the best mean (noise 0.020" in text
    page = display.html(shown)
    assert '<td class="best">0.800 ± 0.020 (3)</td>' in page and 'class="tie"' in page


def test_one_run_each_marks_only_the_best_and_says_why():
    shown = display.comparison_shown(_comparison([0.8, 0.79], [np.nan] * 2, [1, 1],
                                                 ["best", ""], None), ["lr"])
    assert list(shown.marks["val Dice"]) == ["best", ""]
    assert "no ties are marked" in shown.legend


def test_markdown_escapes_pipes_in_values():
    cells = pd.DataFrame({"name": ["a|b"], "x": ["1"]})
    shown = display.Shown(cells, pd.DataFrame("", index=[0], columns=["name", "x"]), 1, "L")
    assert r"a\|b" in display.markdown(shown)


def _paired(frame: pd.DataFrame, pairs, diffs, lows, highs, ps, methods=None
            ) -> pd.DataFrame:
    """``frame`` with the paired columns of :func:`tuner.results.paired.columns` (the
    method of each row: ``t`` from 2 pairs, as below 10 pairs, unless given)."""
    methods = methods or [None if pd.isna(p) else "t" for p in ps]
    return frame.assign(best_val_dice_pairs=pd.array(pairs, dtype="Int64"),
                        best_val_dice_diff=diffs, best_val_dice_ci_low=lows,
                        best_val_dice_ci_high=highs, best_val_dice_p=ps,
                        best_val_dice_method=methods)


def test_comparison_shows_the_paired_difference_its_interval_and_p():
    frame = _comparison([0.80, 0.79, 0.70], [0.02] * 3, [3, 3, 1], ["best", "tie", ""], 0.02)
    frame = pd.concat([frame, frame.iloc[[2]].assign(lr=1e-4)], ignore_index=True)
    frame = _paired(frame, [None, 3, 1, 0], [np.nan, -0.01, -0.1, np.nan],
                    [np.nan, -0.02, np.nan, np.nan], [np.nan, 0.0, np.nan, np.nan],
                    [np.nan, 0.2, np.nan, np.nan])
    shown = display.comparison_shown(frame, ["lr"])
    assert list(shown.cells.columns) == ["lr", "val Dice", "Δ val Dice [95% CI]",
                                         "p (paired t)", "wall s"]
    assert list(shown.cells["Δ val Dice [95% CI]"]) == ["reference", "-0.010 [-0.020, +0.000]",
                                                        "-0.100", ""]
    assert list(shown.cells["p (paired t)"]) == ["", "0.200", "too few pairs (1)", "no pair"]
    legend = shown.legend
    assert ("95% confidence interval and p from one procedure, so the interval excludes 0 "
            "exactly when p < 0.05; below 10 pairs (t): the two-sided paired t-test") in legend
    assert "(bootstrap)" not in legend  # no row used it
    assert ("italic: not distinguishable from the best mean by the two-sided paired t-test "
            "(scipy.stats.ttest_rel) over 3 pairs (p >= 0.05") in legend
    assert "where fewer than 2 pairs allow no test, within the repeat noise (noise 0.020" in legend


def test_one_run_each_says_there_is_no_paired_test():
    frame = _paired(_comparison([0.8, 0.79], [np.nan] * 2, [1, 1], ["best", ""], None),
                    [None, 1], [np.nan, -0.01], [np.nan] * 2, [np.nan] * 2, [np.nan] * 2)
    shown = display.comparison_shown(frame, ["lr"])
    assert list(shown.cells["p (paired t)"]) == ["", "too few pairs (1)"]
    assert shown.legend.endswith(
        "No paired test: no configuration has 2 or more runs paired with the best's by repeat "
        "index (one run each, or repeats that do not line up). Bold: the best. One run per "
        "configuration, so the repeat noise is unknown and no ties are marked.")


def test_rows_of_different_methods_each_name_theirs():
    """Past 10 pairs a row's interval and p are the bootstrap's: the p title no longer
    names one test, a column says each row's, and the legend explains both."""
    frame = _comparison([0.80, 0.79, 0.70], [0.02] * 3, [12, 12, 4], ["best", "tie", ""], 0.02)
    frame = _paired(frame, [None, 12, 4], [np.nan, -0.01, -0.1], [np.nan, -0.02, -0.15],
                    [np.nan, 0.001, -0.05], [np.nan, 0.09, 0.004],
                    [None, "bootstrap", "t"])
    shown = display.comparison_shown(frame, ["lr"])
    assert list(shown.cells.columns) == ["lr", "val Dice", "Δ val Dice [95% CI]", "p",
                                         "CI, p by", "wall s"]
    assert list(shown.cells["CI, p by"]) == ["", "bootstrap", "t"]
    assert "below 10 pairs (t)" in shown.legend and "from 10 pairs on (bootstrap)" in shown.legend
    assert ("by the two-sided paired t-test (scipy.stats.ttest_rel) or two-sided percentile "
            "bootstrap test of the pairs (9,999 resamples, seed 0) over 4 to 12 pairs"
            ) in shown.legend
    only = _paired(frame.iloc[:2], [None, 12], [np.nan, -0.01], [np.nan, -0.02],
                   [np.nan, 0.001], [np.nan, 0.09], [None, "bootstrap"])
    assert "p (bootstrap)" in display.comparison_shown(only, ["lr"]).cells.columns
