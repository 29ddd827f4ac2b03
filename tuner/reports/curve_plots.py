"""Learning-curve figures: one metric per figure, faceted by the searched fields.

One panel per value of one searched field (one per train fraction, say), one colour per
value of the others (one per weight decay), the mean over repeats as a line with a band
from the lowest to the highest repeat, validation solid and train dashed (the legend says
so), integer epochs. Drawn from the tidy table of
:func:`tuner.reports.tables.curves_frame`, so every stored metric (loss, Dice, IoU,
precision, recall, accuracy) has its figure.

Losses differ by orders of magnitude between configurations and epochs (RMSprop's first
epoch at 200,000 flattened every other curve), so each loss panel has its own log axis
(linear where a loss is not positive) over its own range, and a first epoch far above the
rest (:data:`SPIKE` times) is left above the axis, which the title says.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.colors as pc
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tuner.results import formatting as fmt

MAX_FACETS = 6  # one panel per value of a field with at most this many values
MAX_LINES = 10  # per panel: the best configurations beyond this are left out (said so)
FINISHED = ("COMPLETE", "PRUNED")
TITLES = {"loss": "loss", "dice": "Dice", "iou": "IoU", "precision": "precision",
          "recall": "recall", "accuracy": "accuracy"}
SPLITS = {"val": ("solid", "validation"), "train": ("dash", "train")}
SPIKE = 10.0  # a first epoch this many times above every later one is cut off the axis


def curve_layout(trials: pd.DataFrame, params: list[str]) -> tuple[str | None, list[str]]:
    """(the field with one panel per value, the fields that pick the colour): the last
    searched field with 2 to :data:`MAX_FACETS` values makes the panels."""
    done = trials[trials["state"].isin(FINISHED)]
    panels = [p for p in params if 2 <= done[p].nunique() <= MAX_FACETS]
    facet = panels[-1] if panels else None
    return facet, [p for p in params if p != facet]


def curve_stats(curves: pd.DataFrame, trials: pd.DataFrame, params: list[str],
                metric: str) -> pd.DataFrame:
    """Per panel, colour, split and epoch: mean, min, max and count over the repeats of
    finished trials; ``rank`` orders the colours of a panel by mean best validation Dice."""
    facet, colour = curve_layout(trials, params)
    keep = trials[trials["state"].isin(FINISHED)]
    keep = keep.assign(panel=[fmt.label({facet: v}) for v in keep[facet]] if facet
                       else "all trials", colour=_labels(keep, colour))
    data = curves[(curves["metric"] == metric) & curves["split"].isin(list(SPLITS))]
    data = data.merge(keep[["number", "panel", "colour"]], left_on="trial",
                      right_on="number")
    stats = (data.groupby(["panel", "colour", "split", "epoch"], sort=False)["value"]
             .agg(["mean", "min", "max", "count"]).reset_index())
    score = keep.groupby(["panel", "colour"])["best_val_dice"].mean()
    rank = score.groupby(level="panel").rank(ascending=False, method="first",
                                            na_option="bottom")
    return stats.merge(rank.rename("rank").reset_index(), on=["panel", "colour"], how="left")


def _labels(frame: pd.DataFrame, fields: list[str]) -> list[str]:
    """The colour of each row: its values of ``fields`` (the legend's title names them)."""
    return [", ".join(fmt.param(row[f], f) for f in fields if not fmt.missing(row[f]))
            if fields else "all trials" for _, row in frame.iterrows()]


def colours(trials: pd.DataFrame, colour_fields: list[str]) -> dict[str, str]:
    """A colour per colour label: an ordered scale (Viridis) for one numeric field, so
    darker reads smaller; distinct hues otherwise."""
    done = trials[trials["state"].isin(FINISHED)]
    if len(colour_fields) == 1 and pd.api.types.is_numeric_dtype(done[colour_fields[0]]):
        field = colour_fields[0]
        values = sorted(done[field].dropna().unique())
        scale = pc.sample_colorscale("Viridis", [0.85 * i / max(len(values) - 1, 1)
                                                 for i in range(len(values))])
        return {fmt.param(v, field): c for v, c in zip(values, scale, strict=True)}
    labels = sorted(set(_labels(done, colour_fields)))
    palette = pc.qualitative.D3 if len(labels) <= 10 else pc.qualitative.Dark24
    return {name: palette[i % len(palette)] for i, name in enumerate(labels)}


def learning_curves(curves: pd.DataFrame, trials: pd.DataFrame, params: list[str],
                    metric: str = "dice") -> go.Figure:
    """Mean ``metric`` by epoch over repeats, with a band (lowest to highest repeat):
    validation solid, train dashed; panels and colours by :func:`curve_layout`."""
    facet, colour_fields = curve_layout(trials, params)
    stats = curve_stats(curves, trials, params, metric)
    panels = sorted(stats["panel"].unique(), key=_panel_key(trials, facet))
    fig = make_subplots(rows=1, cols=max(len(panels), 1), shared_yaxes=metric != "loss",
                        subplot_titles=panels if facet else None,
                        horizontal_spacing=0.03 if metric != "loss" else 0.06)
    palette = colours(trials, colour_fields)
    order = list(palette)
    shown_in_legend: set[str] = set()
    for col, panel in enumerate(panels, start=1):
        here = stats[(stats["panel"] == panel) & (stats["rank"] <= MAX_LINES)]
        for name in sorted(here["colour"].unique(), key=order.index):
            line = here[here["colour"] == name]
            for split in SPLITS:
                _draw(fig, line[line["split"] == split].sort_values("epoch"), name, split,
                      palette[name], col, show=split == "val" and name not in shown_in_legend)
            shown_in_legend.add(name)
    _axes(fig, stats, metric)
    axes = [_loss_axis(fig, stats[stats["panel"] == panel], col)
            for col, panel in enumerate(panels, start=1)] if metric == "loss" else []
    for dash, title in SPLITS.values():  # the line styles' key
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=title,
                                 legendgroup="_splits", legendgrouptitle_text="split",
                                 line=dict(color="#444", dash=dash, width=2)))
    cut = (stats.groupby("panel")["rank"].max() > MAX_LINES).any()
    notes = [*([f"the {MAX_LINES} best configurations of each panel"] if cut else []),
             *([("log axis" if all(log for log, _ in axes) else "linear where a loss is not "
                 "positive") + ", each panel its own range" + (
                 "; a first-epoch spike is above the axis" if any(s for _, s in axes) else "")]
               if axes else [])]
    fig.update_layout(
        title=f"Learning curves: {TITLES.get(metric, metric)} (solid: validation, dashed: "
              "train; band: lowest to highest repeat)"
              + (f"<br><sup>{'; '.join(notes)}</sup>" if notes else ""),
        legend_title_text=", ".join(colour_fields) or None, showlegend=True,
        hovermode="closest")  # fmt: skip
    return fig


def _loss_axis(fig: go.Figure, panel: pd.DataFrame, col: int) -> tuple[bool, bool]:
    """Panel ``col``'s own y range over its curves and bands: a log axis where every
    value is positive; first-epoch values over :data:`SPIKE` times every later one are
    left above the axis. Returns (log axis, a spike cut off)."""
    values = panel.melt(id_vars=["epoch"], value_vars=["mean", "min", "max"])
    values = values[values["value"].map(lambda v: math.isfinite(v))]
    if values.empty:
        return True, False
    later = values[values["epoch"] > 1]["value"]
    top, limit = values["value"].max(), SPIKE * later.max() if not later.empty else math.inf
    spike = top > limit > 0  # only the spike is left out: other first epochs are in range
    low = values["value"].min()
    high = values["value"][values["value"] <= limit].max() if spike else top
    log = low > 0
    if log:
        low, high = math.log10(low), math.log10(high)
    pad = 0.05 * (high - low) or (0.05 if log else 0.05 * abs(high) or 0.05)
    fig.update_yaxes(type="log" if log else "linear", range=[low - pad, high + pad],
                     row=1, col=col)
    return log, spike


def _panel_key(trials: pd.DataFrame, facet: str | None):
    if facet is None:
        return str
    order = {fmt.label({facet: v}): i for i, v in enumerate(sorted(trials[facet].dropna()
                                                                   .unique()))}
    return lambda name: order.get(name, len(order))


def _draw(fig: go.Figure, line: pd.DataFrame, name: str, split: str, colour: str,
          col: int, show: bool) -> None:
    """One split of one configuration: the band over repeats, then the mean line."""
    if line.empty:
        return
    dash, split_title = SPLITS[split]
    epochs = list(line["epoch"])
    if (line["count"] > 1).any():
        fig.add_trace(go.Scatter(
            x=epochs + epochs[::-1], y=list(line["max"]) + list(line["min"])[::-1],
            mode="lines", fill="toself", fillcolor=colour, opacity=0.15, line_width=0,
            hoverinfo="skip",
            showlegend=False, legendgroup=name), row=1, col=col)  # fmt: skip
    fig.add_trace(go.Scatter(
        x=epochs, y=list(line["mean"]), mode="lines", name=name, legendgroup=name,
        showlegend=show, line=dict(color=colour, dash=dash, width=2),
        customdata=list(line["count"]),
        hovertemplate=f"{name}<br>{split_title}, epoch %{{x}}: %{{y:.3f}}"
                      "<br>mean of %{customdata} run(s)<extra></extra>"),
        row=1, col=col)  # fmt: skip


def _axes(fig: go.Figure, stats: pd.DataFrame, metric: str) -> None:
    """Whole epochs on every x axis, the metric's name on the first y axis."""
    last = int(stats["epoch"].max()) if not stats.empty else 1
    fig.update_xaxes(title_text="epoch", tick0=1, dtick=integer_step(last), tickformat="d",
                     rangemode="nonnegative")
    fig.update_yaxes(title_text=TITLES.get(metric, metric), row=1, col=1)


def integer_step(last_epoch: int, ticks: int = 10) -> int:
    """A whole tick step that puts at most about ``ticks`` ticks on 1..``last_epoch``."""
    return max(1, math.ceil(last_epoch / ticks))
