"""Plotly figures of a study, drawn from the frames of :mod:`tuner.reports.tables`.

Our own figures (validation Dice by parameter value, learning curves) take DataFrames;
Optuna's (optimisation history, intermediate values, parameter importances, parallel
coordinates) take the study. :func:`study_figures` builds all that apply and says in words
why any was left out, so exports and reports show the same set.
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from collections.abc import Collection, Iterator

import optuna
import optuna.visualization as ov
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from tuner.reports import curve_plots, tables
from tuner.results.formatting import is_rate, param

MAX_BAR_VALUES = 12  # more distinct values than this: a scatter instead of grouped bars
CURVE_METRICS = ("loss", "dice", "iou", "precision", "recall", "accuracy")
TARGET = "best validation Dice"


def dice_by_param(comparison: pd.DataFrame, trials: pd.DataFrame, params: list[str],
                  continuous: Collection[str] = ()) -> go.Figure:
    """Validation Dice by one parameter's value, coloured by another.

    Few values: bars of the mean best validation Dice per configuration with the standard
    deviation over repeats as error bars, by the first parameter, grouped by the second
    ("schedulers at different learning rates"). A parameter searched over a range
    (``continuous``: a learning rate per optimizer, say) or with many values: one dot per
    completed trial over it (a log axis for learning rates), coloured by the next
    parameter and shaped by the one after.
    """
    if not params:
        return _dice_by_trial(trials)
    many = [p for p in params if p in continuous
            or comparison[p].nunique(dropna=False) > MAX_BAR_VALUES]
    first = many[0] if many else params[0]
    others = [p for p in params if p != first]
    colour = others[0] if others else None
    if many:
        done = trials[trials["state"] == "COMPLETE"]
        symbol = others[1] if len(others) > 1 else None
        data = done.assign(**{p: done[p].astype(str) for p in (colour, symbol) if p})
        fig = px.scatter(data, x=first, y="best_val_dice", color=colour, symbol=symbol,
                         log_x=is_rate(first), hover_data=["number", "repeat"])
        fig.update_traces(marker_size=10)
    else:
        data = comparison.sort_values([first, colour] if colour else [first], kind="stable")
        data = data.assign(**{p: data[p].map(lambda v, p=p: param(v, p))
                              for p in (first, colour) if p})
        fig = px.bar(data, x=first, y="best_val_dice_mean", error_y="best_val_dice_std",
                     color=colour, barmode="group", hover_data=["n", "pruned"])
        fig.update_xaxes(type="category")
    fig.update_layout(title=f"Best validation Dice by {first}"
                      + (f", coloured by {colour}" if colour else ""),
                      yaxis_title="best validation Dice")
    return fig


def _dice_by_trial(trials: pd.DataFrame) -> go.Figure:
    done = trials[trials["state"] == "COMPLETE"]
    fig = px.bar(done, x=done["number"].astype(str), y="best_val_dice")
    fig.update_layout(title="Best validation Dice by trial", xaxis_title="trial",
                      yaxis_title="best validation Dice")
    return fig


def study_figures(study: optuna.Study, trials: pd.DataFrame, comparison: pd.DataFrame,
                  curves: pd.DataFrame, params: list[str],
                  curve_metrics: tuple[str, ...] = CURVE_METRICS,
                  ) -> tuple[dict[str, go.Figure], list[str]]:
    """All figures that apply, by file stem, and a note (one line) for each left out.

    ``learning_curves_<metric>`` for each of ``curve_metrics`` that the trials recorded.
    Optuna's own plots are drawn with its warnings silenced (experimental evaluators, "few
    trials per regime"): a report is no place for library chatter.
    """
    figures: dict[str, go.Figure] = {}
    notes: list[str] = []
    completed = trials[trials["state"] == "COMPLETE"]
    if not completed.empty:
        figures["dice_by_param"] = dice_by_param(comparison, trials, params,
                                                 tables.continuous_columns(study))
    recorded = set(curves["metric"]) if not curves.empty else set()
    for metric in curve_metrics:
        if metric in recorded:
            figures[f"learning_curves_{metric}"] = curve_plots.learning_curves(
                curves, trials, params, metric)
    with quiet():
        figures.update(_optuna_figures(study, completed))
    varying = [p for p in params if completed[p].nunique() >= 2]
    if len(completed) < 2 or not varying:
        notes.append("param_importances and parallel_coordinates skipped: they need at "
                     "least 2 completed trials with different parameter values")
        return figures, notes
    with quiet():
        figures["parallel_coordinates"] = ov.plot_parallel_coordinate(
            study, target_name=TARGET)
        try:
            figures["param_importances"] = ov.plot_param_importances(
                study, evaluator=_importance_evaluator(), target_name=TARGET)
        except (ValueError, RuntimeError) as exc:  # too few trials for the evaluator
            notes.append(f"param_importances skipped: {str(exc).splitlines()[0]}")
    return figures, notes


def _optuna_figures(study: optuna.Study, completed: pd.DataFrame) -> dict[str, go.Figure]:
    """Optimisation history and intermediate values (what the pruner saw), with epochs
    as the intermediate values' whole-numbered x axis."""
    figures = {}
    if not completed.empty:
        figures["optimization_history"] = ov.plot_optimization_history(
            study, target_name=TARGET)
    steps = [max(t.intermediate_values) for t in study.get_trials(deepcopy=False)
             if t.intermediate_values]
    if steps:
        fig = ov.plot_intermediate_values(study)
        fig.update_xaxes(title_text="epoch", tick0=1, tickformat="d",
                         dtick=curve_plots.integer_step(max(steps)))
        fig.update_yaxes(title_text="validation Dice")
        fig.update_layout(title="Validation Dice per epoch (what the pruner saw)")
        figures["intermediate_values"] = fig
    return figures


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Library warnings (Optuna's ExperimentalWarning and UserWarnings, plotly's and
    pandas' FutureWarnings) silenced for the calls inside."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _importance_evaluator() -> optuna.importance.BaseImportanceEvaluator:
    """fANOVA (Optuna's default) where scikit-learn is installed, else PED-ANOVA (numpy)."""
    if importlib.util.find_spec("sklearn") is not None:
        return optuna.importance.FanovaImportanceEvaluator(seed=0)
    return optuna.importance.PedAnovaImportanceEvaluator()
