"""Numbers as a reader wants them, and the text tables built from them."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tuner.reports import display
from tuner.results import formatting as fmt


def test_numbers_by_kind():
    assert fmt.number(0.82149) == "0.821" and fmt.number(0.5, "loss") == "0.500"
    assert fmt.number(123.6, "seconds") == "124" and fmt.number(7.0, "epoch") == "7"
    assert fmt.number(7.5, "epoch") == "7.5" and fmt.number(3, "count") == "3"
    assert fmt.number(None) == "" and fmt.number(float("nan")) == "" and fmt.number(pd.NA) == ""
    with pytest.raises(ValueError, match="number kind 'dice'"):
        fmt.number(1.0, "dice")


def test_mean_sd_n():
    assert fmt.mean_sd(0.8214, 0.0123, 3) == "0.821 ± 0.012 (3)"
    assert fmt.mean_sd(0.8214, math.nan, 1) == "0.821 (1)"
    assert fmt.mean_sd(0.8214, 0.0123) == "0.821 ± 0.012"
    assert fmt.mean_sd(math.nan, 0.1, 2) == ""
    assert fmt.mean_sd(10.4, 2.2, kind="seconds", pm=" +- ") == "10 +- 2"


def test_parameter_values():
    assert fmt.param(0.004734989304499477, "lr") == "4.7e-03"
    assert fmt.param(2e-4, "lr_adam") == "2.0e-04" and fmt.param(1e-6, "min_lr") == "1.0e-06"
    assert fmt.param(0.01, "weight_decay") == "0.01" and fmt.param(0.8) == "0.8"
    assert fmt.param(0.004734989304499477, "momentum") == "0.00473"
    assert fmt.param(1.5e-7) == "1.5e-07" and fmt.param(16) == "16"
    assert fmt.param(True) == "True" and fmt.param("bce_dice") == "bce_dice"
    assert fmt.param(np.float64(0.25)) == "0.25" and fmt.param(None) == ""
    assert fmt.label({"lr": 1e-3, "loss": "dice"}) == "lr=1.0e-03, loss=dice"
    assert fmt.label({}) == "all trials"


def _comparison(means, stds, ns, marks, noise) -> pd.DataFrame:
    """A comparison frame as :func:`tables.comparison_frame` makes it, marks included (the
    rule that sets them is tests/test_winner.py's subject)."""
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
