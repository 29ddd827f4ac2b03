"""Plotly figures of a study, drawn from the frames of :mod:`tuner.reports.tables`.

Our own figures (validation Dice by parameter value, learning curves, what the pruner saw)
take DataFrames or the trials' values; Optuna's (optimisation history, parameter
importances, parallel coordinates) take the study, the last two a folded copy of it
(:func:`folded_study`: ``lr_adam``, ``lr_sgd`` as one ``lr`` axis, as in the tables).
:func:`study_figures` builds all that apply and says in words why any was left out, so
exports and reports show the same set, each in the print theme (:func:`themed`: white
background, readable fonts, a legend).
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import warnings
from collections.abc import Collection, Iterator

import optuna
import optuna.visualization as ov
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from tuner.reports import curve_plots, tables
from tuner.results.formatting import is_rate, param, shared_text
from tuner.results.runs import is_duplicate

IMPORTANCE_MIN = 5  # completed configurations below which importances are left out
IMPORTANCE_SOUND = 20  # ... below which they carry a caution
MAX_DOT_VALUES = 12  # more distinct values than this: one dot per trial instead of means
CURVE_METRICS = ("loss", "dice", "iou", "precision", "recall", "accuracy")
TARGET = "best validation Dice"
TEMPLATE = "plotly_white"  # white background, light grid: prints as it shows
FONT_SIZE = 14
#: the legend entry and colour of each state in the intermediate values
STATES = {"COMPLETE": ("completed", "#1f77b4"), "PRUNED": ("pruned", "#ff7f0e"),
          "RUNNING": ("running", "#7f7f7f"), "FAIL": ("failed", "#d62728"),
          "WAITING": ("waiting", "#bcbd22")}


def dice_by_param(comparison: pd.DataFrame, trials: pd.DataFrame, params: list[str],
                  continuous: Collection[str] = ()) -> go.Figure:
    """Validation Dice by one parameter's value, coloured by another.

    Few values: a dot per configuration at its mean best validation Dice with the standard
    deviation over its repeats (or folds) as error bars, by the first parameter, side by
    side for the values of the second ("schedulers at different learning rates"); the axis
    spans the dots, not 0 to 1, so a 0.01 difference shows. A parameter searched over a
    range (``continuous``: a learning rate per optimizer, say) or with many values: one dot
    per completed trial over it (a log axis for learning rates), coloured by the next
    parameter and shaped by the one after.
    """
    if not params:
        return _dice_by_trial(trials)
    many = [p for p in params if p in continuous
            or comparison[p].nunique(dropna=False) > MAX_DOT_VALUES]
    first = many[0] if many else params[0]
    others = [p for p in params if p != first]
    colour = others[0] if others else None
    if many:
        done = trials[trials["state"] == "COMPLETE"]
        symbol = others[1] if len(others) > 1 else None
        data = done.assign(**{p: done[p].map(lambda v, p=p: param(v, p))
                              for p in (colour, symbol) if p})
        fig = px.scatter(data, x=first, y="best_val_dice", color=colour, symbol=symbol,
                         log_x=is_rate(first), hover_data=["number", "repeat"])
        fig.update_traces(marker_size=10)
        if is_rate(first):
            fig.update_xaxes(tickformat=".0e", dtick=1)  # 1e-04, one tick per decade
        _name_single(fig, "one completed trial")
        what = "one dot per completed trial"
    else:
        data = comparison.sort_values([first, colour] if colour else [first], kind="stable")
        data = data.assign(**{p: data[p].map(lambda v, p=p: param(v, p))
                              for p in (first, colour) if p})
        fig = px.scatter(data, x=first, y="best_val_dice_mean", error_y="best_val_dice_std",
                         color=colour, hover_data=["n", "pruned"])
        fig.update_traces(marker_size=11, error_y_thickness=2)
        fig.update_layout(scattermode="group", scattergap=0.6)  # side by side per value
        fig.update_xaxes(type="category")
        fig.update_yaxes(range=_span(data["best_val_dice_mean"], data["best_val_dice_std"]))
        _name_single(fig, "mean ± sd over repeats")
        what = "dot: mean over repeats, bar: ± sd"
    fig.update_layout(title=f"Best validation Dice by {first}"
                      + (f", coloured by {colour}" if colour else "") + f"<br><sup>{what}</sup>",
                      yaxis_title="best validation Dice")
    return fig


def _span(means: pd.Series, sds: pd.Series) -> list[float] | None:
    """The y range of dots with error bars, padded (plotly's own range of grouped dots
    starts at 0, which flattens 0.01 differences); None without any dot."""
    sds = sds.fillna(0.0)
    low, high = (means - sds).min(), (means + sds).max()
    if pd.isna(low) or pd.isna(high):
        return None
    pad = 0.1 * (high - low) or 0.01
    return [float(low - pad), float(high + pad)]


def _name_single(fig: go.Figure, name: str) -> None:
    """A figure of one trace gets a legend entry too (it says what a dot is)."""
    if len(fig.data) == 1:
        fig.update_traces(name=name, showlegend=True)


def _dice_by_trial(trials: pd.DataFrame) -> go.Figure:
    done = trials[trials["state"] == "COMPLETE"]
    fig = px.scatter(done, x=done["number"].astype(str), y="best_val_dice")
    fig.update_traces(marker_size=11)
    _name_single(fig, "one completed trial")
    fig.update_xaxes(type="category")
    fig.update_layout(title="Best validation Dice by trial", xaxis_title="trial",
                      yaxis_title="best validation Dice")
    return fig


def themed(fig: go.Figure) -> go.Figure:
    """``fig`` in the print theme: :data:`TEMPLATE`, :data:`FONT_SIZE` text, its legend
    shown where it has named traces."""
    fig.update_layout(template=TEMPLATE, font_size=FONT_SIZE, title_font_size=FONT_SIZE + 4,
                      paper_bgcolor="white", plot_bgcolor="white")
    if any(getattr(t, "showlegend", None) for t in fig.data):
        fig.update_layout(showlegend=True)
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
        if not completed.empty:
            figures["optimization_history"] = ov.plot_optimization_history(
                study, target_name=TARGET)
    pruner = intermediate_values(study)
    if pruner is not None:
        figures["intermediate_values"] = pruner
    varying = [p for p in params if completed[p].nunique() >= 2]
    if len(completed) < 2 or not varying:
        notes.append("param_importances and parallel_coordinates skipped: they need at "
                     "least 2 completed trials with different parameter values")
        return {k: themed(f) for k, f in figures.items()}, notes
    folded = folded_study(study)
    with quiet():
        figures["parallel_coordinates"] = ov.plot_parallel_coordinate(
            folded, target_name=TARGET).update_layout(
            title="Parallel coordinates: one line per completed trial, coloured by its best "
                  "validation Dice").update_annotations(font_size=FONT_SIZE - 2)  # axis ticks
    configurations = int((comparison["n"] > 0).sum())
    if configurations < IMPORTANCE_MIN:
        notes.append(importance_left_out(configurations))
        return {k: themed(f) for k, f in figures.items()}, notes
    with quiet():
        try:
            evaluator, method = _importance_evaluator()
            fig = ov.plot_param_importances(folded, evaluator=evaluator, target_name=TARGET)
            fig.update_traces(name=f"importance ({method})", showlegend=True)
            fig.update_layout(title=importance_title(configurations, len(completed)))
            figures["param_importances"] = fig
        except (ValueError, RuntimeError) as exc:  # too few trials for the evaluator
            notes.append(f"param_importances skipped: {str(exc).splitlines()[0]}")
    return {k: themed(f) for k, f in figures.items()}, notes


def importance_left_out(configurations: int) -> str:
    """Why the parameter importances are not drawn for ``configurations`` completed ones."""
    return (f"param_importances left out: {configurations} completed configuration"
            f"{'s' * (configurations != 1)}, fewer than {IMPORTANCE_MIN}; an importance "
            "fitted to so few points ranks the parameters by the seeds' luck as much as by "
            "their effect")


def importance_title(configurations: int, runs: int) -> str:
    """The importances' title with their n, and a caution under :data:`IMPORTANCE_SOUND`
    completed configurations (a second line, so an exported picture carries it)."""
    title = (f"Parameter importances (n = {configurations} completed configurations, "
             f"{runs} runs)")
    if configurations >= IMPORTANCE_SOUND:
        return title
    return (f"{title}<br><sup>Caution: fewer than {IMPORTANCE_SOUND} completed "
            "configurations; with so few the ranking can change with a few more trials or "
            "another evaluator seed</sup>")


def intermediate_values(study: optuna.Study) -> go.Figure | None:
    """What the pruner saw: each trial's validation Dice per epoch, coloured by its state
    (a legend entry per state, with its count), whole epochs on the x axis; None when no
    trial reported any."""
    reported = [t for t in study.get_trials(deepcopy=False) if t.intermediate_values]
    if not reported:
        return None
    counts = pd.Series([t.state.name for t in reported]).value_counts()
    fig, shown = go.Figure(), set()
    for trial in reported:
        name, colour = STATES.get(trial.state.name, (trial.state.name.lower(), "#17becf"))
        steps = sorted(trial.intermediate_values)
        fig.add_trace(go.Scatter(
            x=steps, y=[trial.intermediate_values[s] for s in steps], mode="lines+markers",
            name=f"{name} ({counts[trial.state.name]})", legendgroup=name,
            showlegend=name not in shown, line=dict(color=colour, width=1.5), marker_size=5,
            hovertemplate=f"trial {trial.number} ({name})<br>epoch %{{x}}: %{{y:.3f}}"
                          "<extra></extra>"))  # fmt: skip
        shown.add(name)
    last = max(max(t.intermediate_values) for t in reported)
    fig.update_xaxes(title_text="epoch", tick0=1, tickformat="d",
                     dtick=curve_plots.integer_step(last))
    fig.update_yaxes(title_text="validation Dice")
    fig.update_layout(title="Validation Dice per epoch (what the pruner saw)",
                      legend_title_text="trial state", showlegend=True)
    return fig


def folded_study(study: optuna.Study) -> optuna.Study:
    """An in-memory copy of ``study``'s completed trials (duplicates left out) whose
    parameters are the tables' columns (:func:`tables.param_columns`: ``lr_adam`` and
    ``lr_sgd`` become one ``lr``, over the union of their ranges) and whose text values
    are shared (no absolute path); Optuna's plots and importances read it like any study."""
    columns = tables.param_columns(study)
    done = [t for t in study.get_trials(deepcopy=False, states=(
        optuna.trial.TrialState.COMPLETE,)) if not is_duplicate(t)
        and t.value is not None and math.isfinite(t.value)]
    rows = [{columns.get(n, n): _shared(v) for n, v in t.params.items()} for t in done]
    found: dict[str, list[BaseDistribution]] = {}
    for trial in done:
        for name, dist in trial.distributions.items():
            found.setdefault(columns.get(name, name), []).append(dist)
    merged = {name: _merged(dists, [r[name] for r in rows if name in r])
              for name, dists in found.items()}
    folded = optuna.create_study(direction=study.direction)
    folded.add_trials([optuna.trial.create_trial(
        params=row, distributions={n: merged[n] for n in row}, value=t.value)
        for row, t in zip(rows, done, strict=True)])
    return folded


def _shared(value):
    return shared_text(value) if isinstance(value, str) else value


def _merged(dists: list[BaseDistribution], values: list) -> BaseDistribution:
    """One distribution that holds every value of ``dists`` (a range over their union,
    log where all are; else the values seen as choices)."""
    kinds = {type(d) for d in dists}
    if kinds == {FloatDistribution} or kinds == {IntDistribution}:
        kind = kinds.pop()
        log = all(d.log for d in dists)
        low, high = min(d.low for d in dists), max(d.high for d in dists)
        return kind(low, high, log=log) if kind is FloatDistribution else kind(
            int(low), int(high), log=log)
    if kinds == {CategoricalDistribution}:
        choices = [_shared(c) for d in dists for c in d.choices]
        return CategoricalDistribution(list(dict.fromkeys([*choices, *values])))
    return CategoricalDistribution(list(dict.fromkeys(values)))


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Library warnings (Optuna's ExperimentalWarning and UserWarnings, plotly's and
    pandas' FutureWarnings) silenced for the calls inside."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _importance_evaluator() -> tuple[optuna.importance.BaseImportanceEvaluator, str]:
    """fANOVA (Optuna's default) where scikit-learn is installed, else PED-ANOVA (numpy);
    with its name."""
    if importlib.util.find_spec("sklearn") is not None:
        return optuna.importance.FanovaImportanceEvaluator(seed=0), "fANOVA"
    return optuna.importance.PedAnovaImportanceEvaluator(), "PED-ANOVA"
