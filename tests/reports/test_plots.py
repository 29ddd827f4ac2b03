"""Plotly figures drawn from the tables of an ask/tell study."""

from __future__ import annotations

import numpy as np
import optuna
import pandas as pd
import pytest

from tests.reports.test_best_lr import build_lr_study
from tests.reports.test_tables import EPOCHS, build_study, fake_curves
from tuner.reports import curve_plots, plots, tables
from tuner.results import formatting as fmt

PARAMS = ["weight_decay", "train_fraction"]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    folder = tmp_path_factory.mktemp("plots")
    study = build_study(f"sqlite:///{folder / 'tuner.db'}", "fake", folder, galleries=False)
    trials = tables.trials_frame(study)
    return study, trials, tables.comparison_frame(trials, PARAMS), tables.curves_frame(study)


def test_dice_by_param_dots_group_by_second_param(frames):
    _, trials, comparison, _ = frames
    fig = plots.dice_by_param(comparison, trials, PARAMS)
    assert [t.name for t in fig.data] == ["0.4", "0.8"]  # dots side by side per fraction
    assert {t.type for t in fig.data} == {"scatter"} and fig.layout.scattermode == "group"
    low, high = fig.layout.yaxis.range  # the dots' range, not 0 to 1: 0.01 gaps show
    assert 0.45 < low < comparison["best_val_dice_mean"].min() and 0.715 < high < 0.75
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
    assert len(comparison) == 16 > plots.MAX_DOT_VALUES
    fig = plots.dice_by_param(comparison, many, ["weight_decay"])
    assert [t.type for t in fig.data] == ["scatter"]
    assert list(fig.data[0].x) == pytest.approx(list(many["weight_decay"]))


def test_learning_curves_panel_per_fraction_colour_per_decay_mean_over_repeats(frames):
    _, trials, _, curves = frames
    fig = curve_plots.learning_curves(curves, trials, PARAMS, "dice")
    titles = {a.text for a in fig.layout.annotations}
    assert titles == {"train_fraction=0.4", "train_fraction=0.8"}  # one panel per fraction
    lines = [t for t in fig.data if t.mode == "lines" and t.fill is None
             and t.legendgroup != "_splits"]
    bands = [t for t in fig.data if t.fill == "toself"]
    key = [t for t in fig.data if t.legendgroup == "_splits"]  # the line styles' legend
    assert [(t.name, t.line.dash) for t in key] == [("validation", "solid"), ("train", "dash")]
    # 2 panels x 2 decays x (val, train): a mean line and a band (2 repeats) each
    assert len(lines) == len(bands) == 2 * 2 * 2
    assert {t.name for t in lines} == {"0.01", "0.1"}
    assert fig.layout.legend.title.text == "weight_decay"
    assert sum(bool(t.showlegend) for t in lines) == 2  # one legend entry per decay
    colour = {t.name: t.line.color for t in lines if t.line.dash == "solid"}
    assert len(set(colour.values())) == 2
    # wd=0.01, tf=0.8, validation: the mean of repeats 0 and 1 (pruned trial 8 is 0.1/0.4)
    solid = [t for t in lines if t.name == "0.01" and t.line.dash == "solid"
             and t.xaxis == "x2"]
    repeats = [fake_curves(0.01, 0.8, r, EPOCHS)["val_dice"] for r in (0, 1)]
    assert list(solid[0].x) == [1, 2, 3, 4]
    assert list(solid[0].y) == pytest.approx(np.mean(repeats, axis=0))
    assert fig.layout.xaxis.dtick == 1 and fig.layout.xaxis.tickformat == "d"
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.yaxis.title.text == "Dice"


def test_learning_curves_keep_the_best_configurations_of_a_crowded_panel(frames):
    _, trials, _, curves = frames
    many = trials.assign(weight_decay=trials["number"] * 0.001)  # a decay per trial
    fig = curve_plots.learning_curves(curves, many, ["weight_decay"], "loss")
    assert {t.name for t in fig.data} - {"validation", "train"} == {fmt.param(v) for v in many.loc[
        many["state"].isin(["COMPLETE", "PRUNED"]), "weight_decay"]}
    assert "10 best" not in fig.layout.title.text  # 9 finished: all drawn
    crowded = pd.concat([many, many.assign(number=many["number"] + 100,
                                           weight_decay=many["weight_decay"] + 1)])
    doubled = pd.concat([curves, curves.assign(trial=curves["trial"] + 100)])
    fig = curve_plots.learning_curves(doubled, crowded, ["weight_decay"], "loss")
    assert len({t.name for t in fig.data} - {"validation", "train"}) == curve_plots.MAX_LINES
    assert "10 best configurations" in fig.layout.title.text


def test_intermediate_values_axis_counts_whole_epochs(frames):
    study, trials, comparison, curves = frames
    figures, _ = plots.study_figures(study, trials, comparison, curves, PARAMS)
    axis = figures["intermediate_values"].layout.xaxis
    assert axis.title.text == "epoch" and axis.tickformat == "d" and axis.dtick == 1


def test_study_figures_builds_all_with_enough_trials(frames):
    study, trials, comparison, curves = frames
    figures, notes = plots.study_figures(study, trials, comparison, curves, PARAMS)
    curves_figures = {f"learning_curves_{m}" for m in plots.CURVE_METRICS}
    assert set(figures) == {"dice_by_param", *curves_figures, "optimization_history",
                            "intermediate_values", "parallel_coordinates"}
    # 2 x 2 configurations: too few for an importance, and the note says why
    assert notes == [plots.importance_left_out(4)]
    assert notes[0].startswith("param_importances left out: 4 completed configurations, "
                               "fewer than 5")


def test_study_figures_skips_importances_with_one_completed_trial(sqlite_url, study_name):
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    study.optimize(lambda t: t.suggest_float("lr", 0.1, 1.0), n_trials=1)
    trials = tables.trials_frame(study)
    comparison = tables.comparison_frame(trials, ["lr"])
    figures, notes = plots.study_figures(study, trials, comparison,
                                         tables.curves_frame(study), ["lr"])
    assert "param_importances" not in figures and "parallel_coordinates" not in figures
    assert not [n for n in figures if n.startswith("learning_curves")]  # no curves recorded
    assert "dice_by_param" in figures and "optimization_history" in figures
    assert len(notes) == 1 and "at least 2 completed trials" in notes[0]


def test_loss_panels_are_log_axes_robust_to_a_first_epoch_spike(frames):
    """RMSprop's first epoch at 200,000 flattened every curve on a shared linear axis."""
    _, trials, _, curves = frames
    spiked = curves.copy()
    first = (spiked["trial"] == 0) & (spiked["metric"] == "loss") & (spiked["epoch"] == 1)
    spiked.loc[first & (spiked["split"] == "train"), "value"] = 200_000.0
    fig = curve_plots.learning_curves(spiked, trials, PARAMS, "loss")
    left, right = fig.layout.yaxis, fig.layout.yaxis2
    assert left.type == right.type == "log" and right.matches is None  # each its own range
    panel = trials.loc[trials["train_fraction"] == 0.4, "number"]  # the left panel's runs
    losses = spiked[(spiked["metric"] == "loss") & spiked["split"].isin(["train", "val"])
                    & spiked["trial"].isin(panel)]
    others = losses[~((losses["trial"] == 0) & (losses["epoch"] == 1))]["value"]
    assert 10 ** left.range[1] < 1.0  # the spike is above the axis, and every other loss
    assert 10 ** left.range[0] <= others.min() and others.max() <= 10 ** left.range[1]
    assert "a first-epoch spike is above the axis" in fig.layout.title.text
    plain = curve_plots.learning_curves(curves, trials, PARAMS, "loss")
    assert "spike" not in plain.layout.title.text and plain.layout.yaxis.type == "log"
    dice = curve_plots.learning_curves(curves, trials, PARAMS, "dice")
    assert dice.layout.yaxis.type is None and dice.layout.yaxis2.matches == "y"  # shared


def test_every_figure_is_themed_for_print_with_a_legend(frames):
    study, trials, comparison, curves = frames
    figures, _ = plots.study_figures(study, trials, comparison, curves, PARAMS)
    for name, fig in figures.items():
        layout = fig.layout
        assert layout.template.layout.plot_bgcolor == "white", name  # plotly_white
        assert layout.font.size == plots.FONT_SIZE and layout.paper_bgcolor == "white", name
        if name == "parallel_coordinates":  # its colour bar is its key
            assert "best validation Dice" in str(fig.to_plotly_json()), name
            continue
        assert layout.showlegend is not False, name
        named = [t for t in fig.data if t.name and t.showlegend is not False]
        assert named, name
    pruner = figures["intermediate_values"]
    assert pruner.layout.showlegend and pruner.layout.legend.title.text == "trial state"
    assert [t.name for t in pruner.data if t.showlegend] == ["completed (8)", "pruned (1)"]


def test_lr_per_optimizer_is_one_lr_axis_in_every_parameter_plot(tmp_path):
    study = build_lr_study(f"sqlite:///{tmp_path / 'lr.db'}", "lr")
    assert {"lr_adam", "lr_sgd"} <= set(study.trials[0].params) | set(study.trials[-1].params)
    trials = tables.trials_frame(study)
    params = tables.searched_columns(study)
    figures, notes = plots.study_figures(study, trials, tables.comparison_frame(trials, params),
                                         tables.curves_frame(study), params)
    assert notes == []
    axes = list(figures["parallel_coordinates"].layout.xaxis.ticktext)
    assert axes == ["best validation Dice", "loss", "lr", "optimizer"]
    importances = figures["param_importances"].data[0]
    assert set(importances.y) == {"loss", "lr", "optimizer"} and importances.showlegend
    title = figures["param_importances"].layout.title.text
    assert title.startswith("Parameter importances (n = 8 completed configurations, 8 runs)")
    assert "Caution: fewer than 20 completed configurations" in title
    assert figures["dice_by_param"].layout.xaxis.title.text == "lr"
    folded = plots.folded_study(study)
    lr = folded.trials[0].distributions["lr"]
    assert lr.log and lr.low == pytest.approx(1e-5) and lr.high == pytest.approx(1.0)
    assert sorted(t.params["lr"] for t in folded.trials) == sorted(trials["lr"])


def test_importances_of_twenty_configurations_carry_their_n_without_a_caution(sqlite_url,
                                                                              study_name):
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize", sampler=optuna.samplers.RandomSampler(0))
    study.optimize(lambda t: 1 - (t.suggest_float("lr", 0.1, 1.0) - 0.5) ** 2
                   + 0 * t.suggest_int("width", 1, 4), n_trials=20)
    trials = tables.trials_frame(study)
    comparison = tables.comparison_frame(trials, ["lr", "width"])
    figures, notes = plots.study_figures(study, trials, comparison,
                                         tables.curves_frame(study), ["lr", "width"])
    assert notes == []
    title = figures["param_importances"].layout.title.text
    assert title == "Parameter importances (n = 20 completed configurations, 20 runs)"
