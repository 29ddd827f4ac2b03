"""Plotly figures drawn from the tables of an ask/tell study."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest
from test_tables import EPOCHS, build_study, fake_curves

from tuner.reports import plots, tables

PARAMS = ["weight_decay", "train_fraction"]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots")
    study = build_study(f"sqlite:///{folder / 'tuner.db'}", "fake", folder, galleries=False)
    trials = tables.trials_frame(study)
    return study, trials, tables.comparison_frame(trials, PARAMS), tables.curves_frame(study)


def test_dice_by_param_bars_group_by_second_param(frames):
    _, trials, comparison, _ = frames
    fig = plots.dice_by_param(comparison, trials, PARAMS)
    assert [t.name for t in fig.data] == ["0.4", "0.8"]  # one bar group per train_fraction
    for trace in fig.data:
        assert list(trace.x) == ["0.01", "0.1"]
        for wd, y, err in zip(trace.x, trace.y, trace.error_y.array, strict=True):
            row = comparison[(comparison["weight_decay"] == float(wd))
                             & (comparison["train_fraction"] == float(trace.name))]
            assert y == pytest.approx(row["best_val_dice_mean"].item())
            assert err == pytest.approx(row["best_val_dice_std"].item())
    assert "weight_decay" in fig.layout.title.text


def test_dice_by_param_many_values_is_a_scatter_of_trials(frames):
    _, trials, _, _ = frames
    done = trials[trials["state"] == "COMPLETE"]
    many = pd.concat([done, done], ignore_index=True)
    many = many.assign(weight_decay=np.arange(len(many)) * 0.01 + 0.001)
    comparison = tables.comparison_frame(many, ["weight_decay"])
    assert len(comparison) == 16 > plots.MAX_BAR_VALUES
    fig = plots.dice_by_param(comparison, many, ["weight_decay"])
    assert [t.type for t in fig.data] == ["scatter"]
    assert list(fig.data[0].x) == pytest.approx(list(many["weight_decay"]))


def test_learning_curves_one_line_per_trial_and_split_faceted(frames):
    _, trials, _, curves = frames
    fig = plots.learning_curves(curves, trials, PARAMS)
    with_curves = curves["trial"].nunique()
    assert len(fig.data) == with_curves * 2 * 2  # (train, val) x (loss, dice)
    titles = {a.text for a in fig.layout.annotations}
    assert {"weight_decay=0.01", "weight_decay=0.1", "loss", "dice"} <= titles
    val_dice = [t for t in fig.data if t.name == "#0, val" and max(t.y) < 1
                and list(t.y) == pytest.approx(fake_curves(0.1, 0.4, 0, EPOCHS)["val_dice"])]
    assert len(val_dice) == 1
    assert list(val_dice[0].x) == [1, 2, 3, 4]


def test_study_figures_builds_all_with_enough_trials(frames):
    study, trials, comparison, curves = frames
    figures, notes = plots.study_figures(study, trials, comparison, curves, PARAMS)
    assert set(figures) == {"dice_by_param", "learning_curves", "optimization_history",
                            "intermediate_values", "parallel_coordinates", "param_importances"}
    assert notes == []


def test_study_figures_skips_importances_with_one_completed_trial(sqlite_url, study_name):
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    study.optimize(lambda t: t.suggest_float("lr", 0.1, 1.0), n_trials=1)
    trials = tables.trials_frame(study)
    comparison = tables.comparison_frame(trials, ["lr"])
    figures, notes = plots.study_figures(study, trials, comparison,
                                         tables.curves_frame(study), ["lr"])
    assert "param_importances" not in figures and "parallel_coordinates" not in figures
    assert "learning_curves" not in figures  # no curves recorded
    assert "dice_by_param" in figures and "optimization_history" in figures
    assert len(notes) == 1 and "at least 2 completed trials" in notes[0]
