"""LaTeX tables: booktabs, escaped names, the stated columns, ``\\resizebox`` when wide;
compiled with pdflatex where one is installed, parsed as a tabular everywhere.

``parse_tabular`` is shared with the export tests (``from tests.reports.test_latex import ...``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from tuner.reports import latex
from tuner.reports.display import Shown

PDFLATEX = shutil.which("pdflatex")
DOCUMENT = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
%s
\end{document}
"""


def _separators(line: str) -> int:
    return len(re.findall(r"(?<!\\)&", line))


def parse_tabular(text: str) -> dict:
    """The parts of a fragment written by :func:`latex.tabular`, checked on the way:
    ``spec`` (column letters), ``over`` (the spanning title of a grid or None),
    ``header`` and ``rows`` (cells of each line), ``resized`` (inside ``\\resizebox``).
    Every line holds exactly as many cells as the spec states."""
    lines = [line for line in text.strip().splitlines() if not line.startswith("%")]
    resized = lines[0] == r"\resizebox{\linewidth}{!}{%"
    if resized:
        assert lines[-1] == "}"
        lines = lines[1:-1]
    spec = re.fullmatch(r"\\begin\{tabular\}\{([lrc]+)\}", lines[0])
    assert spec, lines[0]
    spec = spec.group(1)
    assert lines[1] == r"\toprule" and lines[-2] == r"\bottomrule"
    assert lines[-1] == r"\end{tabular}"
    over, at = None, 2
    span = re.search(r"\\multicolumn\{(\d+)\}\{c\}\{(.*)\} \\\\$", lines[2])
    if span:
        assert _separators(lines[2]) + int(span.group(1)) == len(spec)
        assert re.fullmatch(r"\\cmidrule\(l\)\{\d+-\d+\}", lines[3])
        over, at = span.group(2), 4
    assert lines[at + 1] == r"\midrule"
    cells = []
    for line in [lines[at], *lines[at + 2:-2]]:
        assert line.endswith(r" \\"), line
        assert _separators(line) == len(spec) - 1, line
        assert re.search(r"(?<!\\)[_%#]", line) is None, line  # specials escaped
        maths = line.replace(r"$\pm$", "").replace(r"$\Delta$", "").replace(r"\$", "")
        assert maths.count("$") == 0, line
        cells.append([c.strip() for c in re.split(r"(?<!\\)&", line[:-3])])
    assert text.count("{") - text.count(r"\{") == text.count("}") - text.count(r"\}")
    return dict(spec=spec, over=over, header=cells[0], rows=cells[1:], resized=resized)


def _shown(columns: dict[str, list[str]], n_left: int = 1, **grid) -> Shown:
    cells = pd.DataFrame(columns)
    marks = pd.DataFrame("", index=cells.index, columns=cells.columns)
    marks.iloc[0, -1] = "best"
    if len(cells) > 1:
        marks.iloc[1, -1] = "tie"
    return Shown(cells, marks, n_left, "Legend: 50% of a_b & more.", **grid)


def test_narrow_table_escaped_marked_and_not_resized():
    shown = _shown({"loss_name": ["bce_dice", "50%"], "val Dice": ["0.821 ± 0.012 (3)",
                                                                 "0.815 ± 0.010 (3)"]})
    text = latex.tabular(shown)
    parsed = parse_tabular(text)
    assert parsed["spec"] == "lr" and not parsed["resized"]
    assert parsed["header"] == [r"loss\_name", "val Dice"]
    assert parsed["rows"] == [[r"bce\_dice", r"\textbf{0.821 $\pm$ 0.012 (3)}"],
                              [r"50\%", r"\textit{0.815 $\pm$ 0.010 (3)}"]]
    assert text.startswith(latex.NEEDS) and r"% Legend: 50% of a_b & more." in text


def test_wide_table_is_resized_to_the_line_width():
    wide = {f"column_{i}": ["0.821 ± 0.012 (3)"] for i in range(8)}
    parsed = parse_tabular(latex.tabular(_shown(wide)))
    assert parsed["resized"] and len(parsed["spec"]) == 8
    assert latex.points(_shown(wide)) > latex.PAGE_POINTS


def test_grid_puts_the_parameter_across_over_its_values():
    shown = _shown({"weight_decay \\ train_fraction": ["0.1", "0.01"], "0.4": ["a", "b"],
                    "0.8": ["c", "d"]}, down="weight_decay", across="train_fraction")
    parsed = parse_tabular(latex.tabular(shown))
    assert parsed["over"] == r"train\_fraction"
    assert parsed["header"] == [r"weight\_decay", "0.4", "0.8"]


@pytest.mark.skipif(PDFLATEX is None, reason="no TeX engine (pdflatex) on this machine: "
                    "the tables are parsed as tabulars instead (the tests above)")
def test_tables_compile_with_pdflatex_and_fit_the_page(tmp_path):
    narrow = _shown({"loss_name": ["bce_dice", "50%"], "val Dice": ["0.821 ± 0.012 (3)",
                                                                 "0.815 ± 0.010 (3)"]})
    wide = _shown({f"column_{i}": ["0.821 ± 0.012 (3)"] for i in range(8)})
    compile_fragments(tmp_path, [latex.tabular(narrow), latex.tabular(wide)])


def compile_fragments(folder: Path, fragments: list[str]) -> None:
    """pdflatex a document that inputs every fragment in a table float, as a paper does;
    no error, and no overfull box (nothing wider than the text block)."""
    names = []
    for i, fragment in enumerate(fragments):
        (folder / f"t{i}.tex").write_text(fragment, encoding="utf-8")
        names.append(rf"\begin{{table}}[h]\centering\input{{t{i}.tex}}\caption{{t{i}}}"
                     r"\end{table}")
    (folder / "doc.tex").write_text(DOCUMENT % "\n".join(names), encoding="utf-8")
    run = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                         cwd=folder, capture_output=True, text=True, timeout=120)
    log = (folder / "doc.log").read_text(errors="replace")
    assert run.returncode == 0, log[-2000:]
    assert "Overfull \\hbox" not in log
