"""Cost beside quality, and a trial's curves as the CSV artifact the dashboard shows."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from tests.reports.test_tables import EPOCHS, build_study, fake_curves, score
from tuner import records
from tuner.reports import cost, display, tables
from tuner.results import curves

PARAMS = ["weight_decay", "train_fraction"]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cost")
    study = build_study(f"sqlite:///{folder / 'tuner.db'}", "fake", folder, galleries=False)
    trials = tables.trials_frame(study)
    return study, trials, tables.comparison_frame(trials, PARAMS)


def test_time_to_target_is_the_first_epoch_at_or_above_it():
    history = {"val_dice": [0.5, 0.7, 0.65, 0.8], "seconds": [2.0, 3.0, 4.0, 5.0]}
    assert cost.time_to_target(history, 0.7) == (2, 5.0)
    assert cost.time_to_target(history, 0.75) == (4, 14.0)
    assert cost.time_to_target(history, 0.9) == (None, None)
    assert cost.time_to_target({"val_dice": [None, 0.8], "seconds": [1.0]}, 0.7) == (2, None)


def test_default_target_is_95_percent_of_the_best_rounded_down():
    assert cost.default_target(pd.DataFrame({"best_val_dice_mean": [0.715, 0.6]})) == 0.67
    assert cost.default_target(pd.DataFrame({"best_val_dice_mean": [float("nan")]})) is None


def test_cost_frame_per_configuration(frames):
    study, trials, comparison = frames
    target = 0.6
    table = cost.cost_frame(study, trials, comparison, PARAMS, target)
    assert len(table) == 4 and list(table[PARAMS].iloc[0]) == [0.01, 0.8]
    best = table.iloc[0]
    epochs = []
    for repeat in (0, 1):  # val Dice = peak * sqrt(e / 4): first epoch with it >= 0.6
        dice = fake_curves(0.01, 0.8, repeat, EPOCHS)["val_dice"]
        epochs.append(next(e for e, d in enumerate(dice, 1) if d >= target))
    assert best["reached"] == 2 and best["epochs_to_target_mean"] == pytest.approx(
        sum(epochs) / 2)
    seconds = fake_curves(0.01, 0.8, 0, EPOCHS)["seconds"]
    assert best["seconds_to_target_mean"] == pytest.approx(
        sum(sum(seconds[:e]) for e in epochs) / 2)
    never = table[(table["weight_decay"] == 0.1) & (table["train_fraction"] == 0.4)].iloc[0]
    assert score(0.1, 0.4, 1) < target and never["reached"] == 0
    assert pd.isna(never["seconds_to_target_mean"])
    shown = display.cost_shown(table, PARAMS, target)
    assert list(shown.cells.columns)[2:] == ["val Dice", "seconds", "s to best",
                                             "epochs to Dice 0.600", "s to Dice 0.600",
                                             "reached"]
    assert shown.cells.iloc[0]["reached"] == "2/2"


def test_curves_csv_is_one_row_per_epoch_with_every_curve():
    history = fake_curves(0.01, 0.8, 0, 3)
    history["val_loss"][1] = None  # a diverged epoch
    rows = list(csv.reader(io.StringIO(curves.curves_csv(history))))
    assert rows[0] == ["epoch", *records.CURVE_NAMES]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    val_dice = rows[0].index("val_dice")
    assert [float(r[val_dice]) for r in rows[1:]] == pytest.approx(history["val_dice"],
                                                                   rel=1e-5)
    assert rows[2][rows[0].index("val_loss")] == ""
    assert curves.curves_csv({}) == "epoch\n"
    assert records.CURVES_ARTIFACT.endswith(".csv")  # the dashboard shows .csv as a table


def test_curve_names_split_into_split_and_metric():
    assert curves.split_metric("val_dice") == ("val", "dice")
    assert curves.split_metric("train_loss") == ("train", "loss")
    assert curves.split_metric("lr") == ("", "lr")
    assert curves.split_metric("seconds") == ("", "seconds")
