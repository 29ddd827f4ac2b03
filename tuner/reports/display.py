"""The study's tables as text for a reader, and as Markdown and HTML.

Each ``*_shown`` function turns a frame of :mod:`tuner.reports.tables` (numbers) into a
:class:`Shown`: text cells (``0.821 ± 0.012 (3)``, ``2.0e-04``, whole seconds, the paired
difference from the best ``-0.012 [-0.020, -0.004]`` and its p-value), the mark of each
cell (``best``: the winner by the rule of :mod:`tuner.results.winner`; ``tie``: not
distinguishable from the best mean by the paired test of :mod:`tuner.results.paired`, or
within the repeat noise where too few pairs allow no test) and a legend that says what the
columns and marks mean, which test, over how many pairs, and why a cell is blank.
:func:`markdown` and :func:`html` write one; :mod:`tuner.reports.latex` writes LaTeX.
Every format marks the best cell bold and the ties italic.
"""

from __future__ import annotations

import html as html_lib
from dataclasses import dataclass

import pandas as pd

from tuner.reports import tables
from tuner.reports.tables import METRICS
from tuner.results import formatting as fmt
from tuner.results import paired

#: comparison columns for a screen (Markdown, HTML): (metric, with sd, with n)
FULL = (("val_dice", True, True), ("test_dice", True, False), ("train_dice", False, False),
        ("train_loss", False, False), ("val_loss", False, False),
        ("best_epoch", False, False), ("epochs", False, False), ("seconds", False, False))
#: comparison columns that fit a printed page (LaTeX)
PAGE = (("val_dice", True, True), ("test_dice", True, False), ("train_dice", False, False),
        ("val_loss", False, False), ("best_epoch", False, False), ("seconds", False, False))


@dataclass
class Shown:
    """A table as text: ``cells`` (strings), ``marks`` (same shape: ``best``, ``tie`` or
    ``""``), how many leading columns are labels (left-aligned), and the ``legend``. A grid
    (pivot) also names the parameter ``down`` its rows and the one ``across`` its columns:
    its first header reads ``down \\ across``, LaTeX puts ``across`` over the columns."""

    cells: pd.DataFrame
    marks: pd.DataFrame
    n_left: int
    legend: str
    down: str | None = None
    across: str | None = None


def _unmarked(cells: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame("", index=cells.index, columns=cells.columns)


def _params_text(frame: pd.DataFrame, params: list[str]) -> dict[str, list[str]]:
    return {p: [fmt.param(v, p) for v in frame[p]] for p in params}


def spread_sentence(noise: float | None, winner: bool = True) -> str:
    """What the marks mean, with the repeat noise they were judged by; ``winner``: the
    marks are the winner rule's (validation Dice), where a cheaper tie may win."""
    if noise is None:
        return ("Bold: the best. One run per configuration, so the repeat noise is unknown "
                "and no ties are marked.")
    bold = ("Bold: the winner (the best mean, or a configuration within the noise of it "
            "that needs less training work)" if winner else "Bold: the best")
    return (f"{bold}; italic: within the repeat noise of the best mean (noise "
            f"{fmt.number(noise)}: the median over configurations of their sd between "
            "repeats; a gap below noise x sqrt(1/n_best + 1/n) is a tie).")


def marks_sentence(comparison: pd.DataFrame, column: str, winner: bool = True) -> str:
    """What the marks of ``column`` mean: the paired test and its pairs where it ran, the
    repeat noise where too few pairs allowed none (:func:`tuner.results.paired.mark`)."""
    noise = _noise(comparison, column)
    if f"{column}_pairs" not in comparison:
        return spread_sentence(noise, winner)
    rows = comparison[comparison[f"{column}_pairs"].notna()]
    tested = [int(n) for n, p in zip(rows[f"{column}_pairs"], rows[f"{column}_p"],
                                     strict=True) if not fmt.missing(p)]
    if not tested:
        why = (f"No paired test: no configuration has {paired.MIN_PAIRS} or more runs paired "
               "with the best's by repeat index (one run each, or repeats that do not line "
               "up). ")
        return why + spread_sentence(noise, winner)
    bold = ("Bold: the winner (the best mean, or a configuration within the repeat noise of "
            "it that needs less training work)" if winner else "Bold: the best")
    text = (f"{bold}; italic: not distinguishable from the best mean by the "
            f"{paired.tests_text(_methods(comparison, column))} over "
            f"{paired.pairs_text(tested)} (p >= {paired.ALPHA}, each comparison alone, not "
            "adjusted for their number)")
    if len(tested) < len(rows):
        text += (f"; where fewer than {paired.MIN_PAIRS} pairs allow no test, " + (
            f"within the repeat noise (noise {fmt.number(noise)}: the median over "
            "configurations of their sd between repeats; a gap below noise x "
            "sqrt(1/n_best + 1/n) is a tie)" if noise is not None else "no mark"))
    return text + "."


def _methods(comparison: pd.DataFrame, column: str) -> list[str]:
    """The procedures (``t``, ``bootstrap``) that gave the rows of ``column`` their
    interval and p; a frame written before rows recorded one: the t-test."""
    values = comparison.get(f"{column}_method")
    if values is None:
        return ["t"] if comparison[f"{column}_p"].notna().any() else []
    return paired.methods_used(values)


def p_title(methods: list[str]) -> str:
    """The p column's title: ``p (paired t)`` or ``p (bootstrap)`` when every row used one
    procedure (the t-test, the first to apply, when none had pairs enough); plain ``p``
    beside a method column when they differ."""
    if len(methods) > 1:
        return "p"
    return f"p ({paired.METHODS[methods[0] if methods else 't'].short})"


def _paired_cells(comparison: pd.DataFrame, column: str, kind: str
                  ) -> tuple[list[str], list[str]]:
    """The Δ-vs-best and p cells of ``column``: ``reference`` for the best mean, the
    reason instead of a p-value where the test could not run."""
    deltas, ps = [], []
    for row in comparison.to_dict("records"):
        pairs, p = row.get(f"{column}_pairs"), row.get(f"{column}_p")
        if fmt.missing(pairs):
            reference = not fmt.missing(row.get(f"{column}_mean")) and row.get("n", 1) > 0
            deltas.append("reference" if reference else "")
            ps.append("")
            continue
        deltas.append(fmt.difference(row.get(f"{column}_diff"), row.get(f"{column}_ci_low"),
                                     row.get(f"{column}_ci_high"), kind))
        ps.append(fmt.p_value(p) if not fmt.missing(p) else
                  "no pair" if int(pairs) == 0 else f"too few pairs ({int(pairs)})")
    return deltas, ps


def _noise(comparison: pd.DataFrame, column: str) -> float | None:
    values = comparison.get(f"{column}_noise")
    known = [] if values is None else [v for v in values if not fmt.missing(v)]
    return float(known[0]) if known else None


def _marks_of(values) -> list[str]:
    return ["" if fmt.missing(v) else str(v) for v in values]


def comparison_shown(comparison: pd.DataFrame, params: list[str], columns=FULL) -> Shown:
    """One row per configuration, best first: parameters, then ``columns`` (each
    ``(metric, with sd, with n)`` of :data:`tables.METRICS`), ``pruned`` where any was.
    The val Dice cells are marked against the pooled spread between repeats."""
    cells = pd.DataFrame(_params_text(comparison, params), index=comparison.index)
    titles = []
    for name, with_sd, with_n in columns:
        m = METRICS[name]
        if f"{m.column}_mean" not in comparison:
            continue
        sds = comparison[f"{m.column}_std"] if with_sd else [None] * len(comparison)
        ns = comparison["n"] if with_n else [None] * len(comparison)
        cells[m.title] = [fmt.mean_sd(mean, sd, n, m.kind) for mean, sd, n in
                          zip(comparison[f"{m.column}_mean"], sds, ns, strict=True)]
        titles.append(m.title)
        if m.column == tables.WINNER_COLUMN and f"{m.column}_pairs" in comparison:
            methods = _methods(comparison, m.column)
            cells[f"Δ {m.title} [95% CI]"], cells[p_title(methods)] = _paired_cells(
                comparison, m.column, m.kind)
            if len(methods) > 1:  # the rows differ: each says which procedure it used
                cells["CI, p by"] = _marks_of(comparison[f"{m.column}_method"])
    if columns is FULL and "pruned" in comparison and (comparison["pruned"] > 0).any():
        cells["pruned"] = comparison["pruned"].astype(int).astype(str)
    marks = _unmarked(cells)
    column = tables.WINNER_COLUMN
    if f"{column}_mark" in comparison:
        marks["val Dice"] = _marks_of(comparison[f"{column}_mark"])
    test = ("test Dice: the same runs' best weights on the test split, mean ± sd. "
            if "test Dice" in titles else "")
    method = (paired.method_sentence(_methods(comparison, column)) + " "
              if f"{column}_pairs" in comparison else "")
    legend = ("val Dice: best validation Dice of a run, mean ± sd (n: completed repeats). "
              f"{method}{test}train Dice, train loss, val loss: at the last epoch; best "
              "epoch, epochs, wall s (training and validation, on however loaded a machine: "
              "tuner.reports.cost shows CPU seconds and work): means over the repeats. "
              + marks_sentence(comparison, column))
    return Shown(cells.reset_index(drop=True), marks.reset_index(drop=True), len(params),
                 legend)


def pivot_shown(comparison: pd.DataFrame, params: list[str], metric: str = "val_dice"
                ) -> Shown:
    """``params[0]`` down, ``params[1]`` across, ``mean ± sd (n)`` of ``metric`` in the
    cells; the best cell and its ties marked (higher or lower is better, by metric)."""
    m = tables.metric(metric)
    means = tables.pivot_frame(comparison, params, f"{m.column}_mean")
    sds = tables.pivot_frame(comparison, params, f"{m.column}_std").reindex_like(means)
    ns = tables.pivot_frame(comparison, params, "n").reindex_like(means)
    marked = tables.pivot_frame(comparison, params, f"{m.column}_mark").reindex_like(means)
    corner = f"{params[0]} \\ {params[1]}"
    cells = pd.DataFrame({corner: [fmt.param(v, params[0]) for v in means.index]})
    marks = pd.DataFrame({corner: [""] * len(means.index)})
    for col in means.columns:
        title = fmt.param(col, params[1])
        cells[title] = [fmt.mean_sd(means.loc[r, col], sds.loc[r, col], ns.loc[r, col],
                                    m.kind) for r in means.index]
        marks[title] = _marks_of(marked.loc[r, col] for r in means.index)
    legend = (f"Cells: {m.title}, mean ± sd over the repeats of each configuration "
              f"(n in brackets). "
              + marks_sentence(comparison, m.column, winner=m.column == tables.WINNER_COLUMN)
              + blank_sentence(means, ns, m.title))
    return Shown(cells, marks, 1, legend, *params)


def blank_sentence(means: pd.DataFrame, ns: pd.DataFrame, title: str) -> str:
    """Why cells of a grid are blank: every run pruned, not run (or failed), or no
    ``title`` recorded; '' when none is."""
    why = {"pruned": 0, "none": 0, "metric": 0}
    for r in means.index:
        for c in means.columns:
            if fmt.missing(means.loc[r, c]):
                n = ns.loc[r, c]
                why["none" if fmt.missing(n) else "pruned" if n == 0 else "metric"] += 1
    parts = [f"{why[key]} {text}" for key, text in (
        ("pruned", "whose every run was pruned"), ("none", "not run yet (or every run failed)"),
        ("metric", f"without a recorded {title}")) if why[key]]
    return f" Blank cells: {'; '.join(parts)}." if parts else ""


def best_value_shown(best: pd.DataFrame, params: list[str], value: str = "lr") -> Shown:
    """The best ``value`` per combination of the other parameters (from
    :func:`tables.best_value_frame`): a grid ``value (val Dice)`` for two others
    (optimizer down, loss across), else one row per combination."""
    others = [p for p in params if p != value]
    text = [f"{fmt.param(v, value)} ({fmt.number(d)})"
            for v, d in zip(best[value], best[tables.RANK_BY], strict=True)]
    legend = (f"Each cell: the {value} of the configuration with the highest mean "
              f"validation Dice among those with these {' and '.join(others)} values, "
              "and that Dice in brackets (chosen on validation, never on test).")
    if len(others) == 2:
        grid = best.assign(_text=text).pivot_table(
            index=others[0], columns=others[1], values="_text", aggfunc="first")
        corner = f"{others[0]} \\ {others[1]}"
        cells = grid.fillna("").reset_index()
        cells.columns = [corner, *(fmt.param(c, others[1]) for c in grid.columns)]
        cells[corner] = [fmt.param(v, others[0]) for v in grid.index]
        return Shown(cells, _unmarked(cells), 1, legend, *others)
    cells = pd.DataFrame(_params_text(best, others))
    cells[value] = [fmt.param(v, value) for v in best[value]]
    cells["val Dice"] = [fmt.mean_sd(m, s, n) for m, s, n in
                         zip(best[tables.RANK_BY], best["best_val_dice_std"], best["n"],
                             strict=True)]
    if "test_dice_mean" in best:
        cells["test Dice"] = [fmt.mean_sd(m, s) for m, s in
                              zip(best["test_dice_mean"], best["test_dice_std"], strict=True)]
    return Shown(cells, _unmarked(cells), len(others), legend)


def markdown(shown: Shown) -> str:
    """A GitHub-flavoured pipe table (labels left, numbers right), then the legend."""
    cells = shown.cells.copy()
    for column in cells.columns:
        cells[column] = [_md_mark(str(c).replace("|", "\\|"), m)
                         for c, m in zip(cells[column], shown.marks[column], strict=True)]
    align = ["left"] * shown.n_left + ["right"] * (cells.shape[1] - shown.n_left)
    table = cells.to_markdown(index=False, disable_numparse=True, colalign=align)
    return f"{table}\n\n{shown.legend}\n"


def _md_mark(text: str, mark: str) -> str:
    if not text or not mark:
        return text
    return f"**{text}**" if mark == "best" else f"*{text}*"


def html(shown: Shown) -> str:
    """An HTML table (``td.best`` bold, ``td.tie`` italic) and the legend below it."""
    head = "".join(f"<th>{html_lib.escape(str(c))}</th>" for c in shown.cells.columns)
    rows = []
    for (_, cells), (_, marks) in zip(shown.cells.iterrows(), shown.marks.iterrows(),
                                      strict=True):
        tds = []
        for i, (text, mark) in enumerate(zip(cells, marks, strict=True)):
            tag = "th" if i < shown.n_left else "td"
            cls = f' class="{mark}"' if mark else ""
            tds.append(f"<{tag}{cls}>{html_lib.escape(str(text))}</{tag}>")
        rows.append(f"<tr>{''.join(tds)}</tr>")
    return (f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f'<p class="note">{html_lib.escape(shown.legend)}</p>')
