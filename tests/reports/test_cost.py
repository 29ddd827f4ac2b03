"""Cost beside quality, and a trial's curves as the CSV artifact the dashboard shows."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from tests.reports.test_tables import EPOCHS, build_study, fake_curves, score
from tuner import records
from tuner.reports import cost, tables
from tuner.results import curves

PARAMS = ["weight_decay", "train_fraction"]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cost")
    study = build_study(f"sqlite:///{folder / 'tuner.db'}", "fake", folder, galleries=False)
    trials = tables.trials_frame(study)
    return study, trials, tables.comparison_frame(trials, PARAMS)


def _attrs(**curves) -> dict:
    return {records.CURVES: curves, records.WORK: 400.0, records.STEPS_PER_EPOCH: 10}


def test_to_target_counts_the_work_and_cpu_seconds_until_the_first_epoch_at_it():
    attrs = _attrs(val_dice=[0.5, 0.7, 0.65, 0.8], seconds=[20.0, 30.0, 40.0, 50.0],
                   cpu_seconds=[2.0, 3.0, 4.0, 5.0], steps=[10, 10, 10, 10])
    assert cost.to_target(attrs, 0.7) == cost.Reach(2, 20.0, 200.0, 5.0, 50.0)
    assert cost.to_target(attrs, 0.75) == cost.Reach(4, 40.0, 400.0, 14.0, 140.0)
    assert cost.to_target(attrs, 0.9) == cost.Reach()  # never reached
    gap = _attrs(val_dice=[None, 0.8], cpu_seconds=[1.0], seconds=[1.0, None])
    assert cost.to_target(gap, 0.7).epoch == 2 and cost.to_target(gap, 0.7).cpu_seconds is None


def test_a_study_stored_before_cpu_seconds_reads_as_not_recorded():
    """Curves of an older study: val Dice and wall seconds only, no work; its steps come
    from the stored steps per epoch, everything else is None (shown "not recorded")."""
    old = {records.CURVES: {"val_dice": [0.5, 0.8], "seconds": [3.0, 4.0]},
           records.STEPS_PER_EPOCH: 7, records.BEST_EPOCH: 2, records.SECONDS: 7.0}
    assert cost.to_target(old, 0.7) == cost.Reach(2, 14.0, None, None, 7.0)
    costs = records.trial_costs(old)
    assert costs == {"seconds": 7.0, "seconds_to_best": 7.0, "cpu_seconds": None,
                     "cpu_seconds_to_best": None, "device_seconds": None, "steps": 14.0,
                     "work": None, "load": None}
    assert records.trial_costs({}) == dict.fromkeys(records.COST_NAMES)


def test_trial_costs_sum_the_epochs_and_average_the_load():
    attrs = {records.BEST_EPOCH: 2, records.WORK: 90.0, records.SECONDS: 9.0,
             records.CURVES: {"val_dice": [0.1, 0.3, 0.2], records.CPU_SECONDS: [1.0, 2.0, 3.0],
                              records.WALL_SECONDS: [2.0, 3.0, 4.0], records.STEPS: [5, 5, 5],
                              records.DEVICE_SECONDS: [None] * 3, records.LOAD: [1.0, 2.0, 6.0]}}
    assert records.trial_costs(attrs) == {
        "seconds": 9.0, "seconds_to_best": 5.0, "cpu_seconds": 6.0, "cpu_seconds_to_best": 3.0,
        "device_seconds": None, "steps": 15.0, "work": 90.0, "load": 3.0}
    assert records.curve_total({"x": [1.0, 2.0]}, "x", 3) is None  # epoch 3 not recorded
    assert records.curve_total({"x": [1.0, float("nan")]}, "x", 2) is None


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
    curves = fake_curves(0.01, 0.8, 0, EPOCHS)
    for column, name in (("seconds_to_target_mean", records.WALL_SECONDS),
                         ("cpu_seconds_to_target_mean", records.CPU_SECONDS),
                         ("steps_to_target_mean", records.STEPS)):
        assert best[column] == pytest.approx(sum(sum(curves[name][:e]) for e in epochs) / 2)
    assert best["cpu_seconds_mean"] == pytest.approx(sum(curves[records.CPU_SECONDS]))
    assert best["steps_mean"] == pytest.approx(sum(curves[records.STEPS]))
    assert best["load_mean"] == pytest.approx(sum(curves[records.LOAD]) / EPOCHS)
    assert pd.isna(best["device_seconds_mean"])  # a CPU run
    never = table[(table["weight_decay"] == 0.1) & (table["train_fraction"] == 0.4)].iloc[0]
    assert score(0.1, 0.4, 1) < target and never["reached"] == 0
    assert pd.isna(never["seconds_to_target_mean"]) and pd.isna(never["cpu_seconds_to_target_mean"])


def test_the_cost_table_shows_work_and_cpu_seconds_and_wall_seconds_only_beside_the_load(
        frames):
    study, trials, comparison = frames
    table = cost.cost_frame(study, trials, comparison, PARAMS, 0.6)
    shown = cost.cost_shown(table, PARAMS, 0.6)
    assert list(shown.cells.columns)[2:] == [
        "val Dice", "epochs", "steps", "GFLOP x images", "CPU s", "CPU s to best",
        "epochs to Dice 0.600", "CPU s to Dice 0.600", "wall s", "wall s to Dice 0.600",
        "load", "reached"]
    first = shown.cells.iloc[0]
    assert first["reached"] == "2/2" and first["GFLOP x images"] == cost.NOT_RECORDED
    assert first["load"] == f"{table['load_mean'].iloc[0]:.1f}"
    assert "wall-clock" in shown.legend and "load average" in shown.legend
    cuda = table.assign(device_seconds_mean=3.0)  # runs on a GPU: their device time too
    assert "device s" in cost.cost_shown(cuda, PARAMS, 0.6).cells.columns


def test_an_older_study_shows_what_it_has(tmp_path, monkeypatch):
    """Trials stored before CPU seconds, steps and the load were recorded: the table still
    has every column, with "not recorded" where the study holds nothing."""
    from tests.reports import test_tables

    newer = (records.CPU_SECONDS, records.STEPS, records.LOAD, records.DEVICE_SECONDS)
    monkeypatch.setattr(test_tables, "fake_curves", lambda *args: {
        k: v for k, v in fake_curves(*args).items() if k not in newer})
    study = build_study(f"sqlite:///{tmp_path / 'old.db'}", "old", tmp_path, galleries=False)
    trials = tables.trials_frame(study)
    comparison = tables.comparison_frame(trials, PARAMS)
    shown = cost.cost_shown(cost.cost_frame(study, trials, comparison, PARAMS, 0.6), PARAMS, 0.6)
    first = shown.cells.iloc[0]
    for column in ("CPU s", "CPU s to best", "CPU s to Dice 0.600", "load", "GFLOP x images"):
        assert first[column] == cost.NOT_RECORDED, column
    assert first["epochs"] == "4" and first["steps"] == "" and first["wall s"] != ""


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
