"""Numbers as a reader wants them: scores, losses, seconds, learning rates, labels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

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
