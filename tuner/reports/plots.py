"""Plotly figures of a study, drawn from the frames of :mod:`tuner.reports.tables`.

Our own figures (validation Dice by parameter value, learning curves) take DataFrames;
Optuna's (optimisation history, intermediate values, parameter importances, parallel
coordinates) take the study. :func:`study_figures` builds all that apply and says in words
why any was left out, so exports and reports show the same set.
"""

from __future__ import annotations

import importlib.util
import math

import optuna
import optuna.visualization as ov
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

MAX_FACETS = 6  # learning curves get one panel per parameter value up to this many values
MAX_BAR_VALUES = 12  # more distinct values than this: a scatter instead of grouped bars
LEARNING_METRICS = ("train_loss", "val_loss", "train_dice", "val_dice")


def dice_by_param(comparison: pd.DataFrame, trials: pd.DataFrame,
                  params: list[str]) -> go.Figure:
    """Validation Dice by the first parameter's value, grouped (coloured) by the second.

    Few values: bars of the mean best validation Dice per configuration with the standard
    deviation over repeats as error bars ("schedulers at different learning rates"). Many
    values (a continuous search): one dot per completed trial.
    """
    if not params:
        return _dice_by_trial(trials)
    first = params[0]
    colour = params[1] if len(params) > 1 else None
    if comparison[first].nunique(dropna=False) > MAX_BAR_VALUES:
        done = trials[trials["state"] == "COMPLETE"]
        data = done.assign(**{colour: done[colour].astype(str)}) if colour else done
        fig = px.scatter(data, x=first, y="best_val_dice", color=colour,
                         hover_data=["number", "repeat"])
    else:
        data = comparison.sort_values([first, colour] if colour else [first], kind="stable")
        data = data.assign(**{first: data[first].astype(str)})
        if colour:
            data = data.assign(**{colour: data[colour].astype(str)})
        fig = px.bar(data, x=first, y="best_val_dice_mean", error_y="best_val_dice_std",
                     color=colour, barmode="group", hover_data=["n", "pruned"])
        fig.update_xaxes(type="category")
    fig.update_layout(title=f"Best validation Dice by {first}"
                      + (f", grouped by {colour}" if colour else ""),
                      yaxis_title="best validation Dice")
    return fig


def _dice_by_trial(trials: pd.DataFrame) -> go.Figure:
    done = trials[trials["state"] == "COMPLETE"]
    fig = px.bar(done, x=done["number"].astype(str), y="best_val_dice")
    fig.update_layout(title="Best validation Dice by trial", xaxis_title="trial",
                      yaxis_title="best validation Dice")
    return fig


def learning_curves(curves: pd.DataFrame, trials: pd.DataFrame,
                    params: list[str]) -> go.Figure:
    """Train (dashed) and validation (solid) loss and Dice by epoch, one colour per trial.

    Rows: loss, Dice. Columns: one per value of the first parameter when it has at most
    :data:`MAX_FACETS` values (otherwise all trials share one panel per row).
    """
    data = curves[curves["metric"].isin(LEARNING_METRICS)]
    split_quantity = data["metric"].str.split("_", n=1, expand=True)
    data = data.assign(split=split_quantity[0], quantity=split_quantity[1])
    facet = params[0] if params and trials[params[0]].nunique() <= MAX_FACETS else None
    keep = ["number", "state"] + ([facet] if facet else [])
    data = data.merge(trials[keep], left_on="trial", right_on="number")
    data = data.assign(trial=data["trial"].map(lambda n: f"#{n}"))
    if facet:
        data = data.assign(**{facet: data[facet].astype(str)}).sort_values([facet, "trial"])
    fig = px.line(data, x="epoch", y="value", color="trial", line_dash="split",
                  facet_row="quantity", facet_col=facet, hover_data=["state"],
                  category_orders={"quantity": ["loss", "dice"], "split": ["val", "train"]})
    # loss and Dice differ in scale, and so do panels: each y axis its own range and labels
    fig.update_yaxes(matches=None, showticklabels=True, title_text="")
    last = int(data["epoch"].max()) if not data.empty else 1
    fig.update_xaxes(tick0=1, dtick=max(1, math.ceil(last / 10)))
    fig.for_each_annotation(lambda a: a.update(text=a.text.replace("quantity=", "")))
    fig.update_layout(title="Learning curves (solid: validation, dashed: train)")
    return fig


def study_figures(study: optuna.Study, trials: pd.DataFrame, comparison: pd.DataFrame,
                  curves: pd.DataFrame, params: list[str]
                  ) -> tuple[dict[str, go.Figure], list[str]]:
    """All figures that apply, by file stem, and a note (one line) for each left out."""
    figures: dict[str, go.Figure] = {}
    notes: list[str] = []
    completed = trials[trials["state"] == "COMPLETE"]
    if not completed.empty:
        figures["dice_by_param"] = dice_by_param(comparison, trials, params)
    if not curves.empty:
        figures["learning_curves"] = learning_curves(curves, trials, params)
    if not completed.empty:
        figures["optimization_history"] = ov.plot_optimization_history(
            study, target_name="best validation Dice")
    if any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        figures["intermediate_values"] = ov.plot_intermediate_values(study)
    varying = [p for p in params if completed[p].nunique() >= 2]
    if len(completed) < 2 or not varying:
        notes.append("param_importances and parallel_coordinates skipped: they need at "
                     "least 2 completed trials with different parameter values")
        return figures, notes
    figures["parallel_coordinates"] = ov.plot_parallel_coordinate(
        study, target_name="best validation Dice")
    try:
        figures["param_importances"] = ov.plot_param_importances(
            study, evaluator=_importance_evaluator(), target_name="best validation Dice")
    except (ValueError, RuntimeError) as exc:  # too few trials for the evaluator
        notes.append(f"param_importances skipped: {str(exc).splitlines()[0]}")
    return figures, notes


def _importance_evaluator() -> optuna.importance.BaseImportanceEvaluator:
    """fANOVA (Optuna's default) where scikit-learn is installed, else PED-ANOVA (numpy)."""
    if importlib.util.find_spec("sklearn") is not None:
        return optuna.importance.FanovaImportanceEvaluator(seed=0)
    return optuna.importance.PedAnovaImportanceEvaluator()
