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
    assert list(shown.cells.columns) == ["lr", "val Dice", "seconds"]
    assert list(shown.cells["val Dice"]) == ["0.800 ± 0.020 (3)", "0.790 ± 0.020 (3)",
                                             "0.700 ± 0.020 (3)"]
    assert list(shown.marks["val Dice"]) == ["best", "tie", ""]
    assert list(shown.cells["seconds"]) == ["12", "12", "12"]  # whole, without sd
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
