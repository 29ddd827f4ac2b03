"""LaTeX tables that fit a printed page: booktabs rules, escaped text, ``\\resizebox`` when
the table is wider than a page's text block.

The output is a fragment to ``\\input`` inside a ``table`` environment of one's own (with
its caption). It needs ``\\usepackage{booktabs}`` and, for wide tables, ``graphicx``; the
first lines say so, and the legend, as comments.
"""

from __future__ import annotations

import textwrap

from tuner.reports.display import Shown

#: text width of a 10 pt article (345 pt) and the width of one character and of the space
#: between two columns, to judge whether a table fits without measuring it in TeX
PAGE_POINTS = 345.0
CHAR_POINTS = 5.5  # digits of Computer Modern 10 pt are 5 pt; bold ones and letters wider
COLUMN_POINTS = 12.0  # \tabcolsep (6 pt) on each side
NEEDS = r"% needs \usepackage{booktabs} (and \usepackage{graphicx} for \resizebox)"
SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "×": r"$\times$", "≥": r"$\geq$", "≤": r"$\leq$", "Δ": r"$\Delta$",
    "<": r"\textless{}", ">": r"\textgreater{}",
}  # fmt: skip
MARK = {"best": r"\textbf{%s}", "tie": r"\textit{%s}"}


def escape(text: object) -> str:
    """``text`` with LaTeX's special characters escaped (``weight_decay`` ->
    ``weight\\_decay``, ``<0.001`` -> ``\\textless{}0.001``) and ``±``, ``Δ`` written as
    ``$\\pm$``, ``$\\Delta$``."""
    return "".join(SPECIAL.get(ch, ch) for ch in str(text))


def points(shown: Shown) -> float:
    """About how wide ``shown`` sets, in points (the widest cell of each column)."""
    width = 0.0
    for i, column in enumerate(shown.cells.columns):
        title = shown.down if i == 0 and shown.down and shown.across else str(column)
        cells = [str(c) for c in shown.cells[column]]
        widest = max([len(title), *map(len, cells)])
        width += widest * CHAR_POINTS + COLUMN_POINTS
    return width


def tabular(shown: Shown) -> str:
    """The booktabs tabular of ``shown``: labels left, numbers right; the best cell
    ``\\textbf``, ties ``\\textit``; wrapped in ``\\resizebox{\\linewidth}{!}{...}`` when
    :func:`points` exceeds :data:`PAGE_POINTS`."""
    n_columns = shown.cells.shape[1]
    layout = "l" * shown.n_left + "r" * (n_columns - shown.n_left)
    lines = [rf"\begin{{tabular}}{{{layout}}}", r"\toprule"]
    header = _header(shown)
    if len(header) == 2:  # a grid: the parameter across over its values
        lines += [" & " * shown.n_left
                  + rf"\multicolumn{{{n_columns - shown.n_left}}}{{c}}{{{header[0]}}} \\",
                  rf"\cmidrule(l){{{shown.n_left + 1}-{n_columns}}}"]
    lines += [" & ".join(header[-1]) + r" \\", r"\midrule"]
    for (_, cells), (_, marks) in zip(shown.cells.iterrows(), shown.marks.iterrows(),
                                      strict=True):
        lines.append(" & ".join(_cell(text, mark) for text, mark in
                                zip(cells, marks, strict=True)) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if points(shown) > PAGE_POINTS:
        lines = [r"\resizebox{\linewidth}{!}{%", *lines, "}"]
    legend = textwrap.wrap(shown.legend, 88, initial_indent="% ", subsequent_indent="% ")
    return "\n".join([NEEDS, *legend, *lines]) + "\n"


def _header(shown: Shown) -> list:
    """[column titles] for a plain table; [the name across, column titles] for a grid,
    whose first title is then the parameter down (not ``down \\ across``)."""
    titles = [escape(c) for c in shown.cells.columns]
    if shown.down is None or shown.across is None:
        return [titles]
    return [escape(shown.across), [escape(shown.down), *titles[1:]]]


def _cell(text: object, mark: str) -> str:
    body = escape(text)
    return MARK[mark] % body if mark and body else body
