"""``tuner export``: the tables, plots and galleries of one study, as files for a report.

Everything is written into a hidden temporary folder inside the output folder first and moved into
place file by file only when all of it succeeded, so a failure leaves no half-written
export that looks complete (files of an earlier export that this one did not rewrite stay).
What each file holds: ``docs/exports.md``.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import optuna
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from tuner.errors import TunerError
from tuner.reports import gallery, tables
from tuner.storage import artifact_dir, load_existing_study, storage_url

FORMATS = ("csv", "md", "tex", "html", "png")
TOP_GALLERIES = 3  # galleries of the best trial of the best 3 configurations
PNG_NOTE = "png-note.txt"
PNG_HINT = (
    "PNG plots need Chrome or Chromium for kaleido: install one (e.g. `apt-get install "
    "chromium`, or `plotly_get_chrome` / `python -c 'import kaleido; "
    "kaleido.get_chrome_sync()'`, or point BROWSER_PATH at it), then run tuner export again"
)


def default_out(url: str | None, study_name: str) -> Path:
    """``exports/<study>/`` beside the storage's artifact folder (``storage/exports/...``)."""
    return artifact_dir(url).parent / "exports" / safe_name(study_name)


def safe_name(name: str) -> str:
    """``name`` usable as a file name (study names may hold slashes or spaces)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"


def finished_study(url: str | None, study_name: str) -> optuna.Study:
    """The study ``study_name``, refused if it has no completed or pruned trial."""
    study = load_existing_study(url, study_name)
    trials = study.get_trials(deepcopy=False)
    if not any(t.state.name in tables.FINISHED for t in trials):
        states = pd.Series([t.state.name.lower() for t in trials]).value_counts()
        have = ", ".join(f"{n} {s}" for s, n in states.items()) or "no trials"
        raise TunerError(f"study {study_name!r}: no finished trials yet ({have}); "
                         "run it first (tuner run STUDY_FILE)")
    return study


def parse_formats(text: str | set[str]) -> set[str]:
    """``"csv,md"`` -> ``{"csv", "md"}``; TunerError naming an unknown format."""
    items = {f.strip().lower() for f in (text.split(",") if isinstance(text, str) else text)}
    items.discard("")
    unknown = sorted(items - set(FORMATS))
    if unknown or not items:
        raise TunerError(f"--format: got {','.join(sorted(items)) or 'nothing'!r}, "
                         f"expected a comma-separated subset of {','.join(FORMATS)}")
    return items


def export_study(storage_url: str | None, study_name: str, out: Path | None = None,
                 formats: set[str] | str = frozenset(FORMATS)) -> list[Path]:
    """Write the export of ``study_name`` to ``out``; the paths written, in ``out``.

    ``formats``: subset of :data:`FORMATS`. ``out`` defaults to :func:`default_out`.
    """
    formats = parse_formats(formats)
    study = finished_study(storage_url, study_name)
    out = Path(out) if out is not None else default_out(storage_url, study_name)
    staging = _staging_folder(out)
    try:
        written = _write_all(study, storage_url, staging, formats)
        return _move_into_place(staging, written, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _staging_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise TunerError(f"output folder {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
    except OSError as exc:
        raise TunerError(f"output folder {out}: cannot write there ({exc.strerror or exc})"
                         ) from None


def _move_into_place(staging: Path, written: list[Path], out: Path) -> list[Path]:
    final = []
    for path in written:
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        final.append(target)
    return final


def _write_all(study: optuna.Study, url: str | None, folder: Path,
               formats: set[str]) -> list[Path]:
    trials = tables.trials_frame(study)
    params = list(tables.param_columns(study).values())
    comparison = tables.comparison_frame(trials, params)
    written: list[Path] = []
    if "csv" in formats:
        written.append(_write(folder / "trials.csv", trials.to_csv(index=False)))
    written += write_tables(comparison, params, folder / "comparison", formats)
    if len(params) == 2:
        pivot = tables.pivot_frame(comparison, params)
        written += write_pivot(pivot, folder / "pivot", formats)
    if formats & {"html", "png"}:
        curves = tables.curves_frame(study)
        figures, notes = _plots_module().study_figures(study, trials, comparison, curves,
                                                       params)
        written += write_figures(figures, folder / "plots", formats)
        if notes:
            written.append(_write(folder / "plots" / "notes.txt", "\n".join(notes) + "\n"))
    written += copy_best_galleries(study, url, trials, comparison, params, folder)
    return written


def _plots_module():
    from tuner.reports import plots  # plotly.express is slow to import; only when plotting

    return plots


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_tables(comparison: pd.DataFrame, params: list[str], stem: Path,
                 formats: set[str]) -> list[Path]:
    """``stem.csv`` (every statistic, full precision); ``stem.md`` and ``stem.tex``: the
    readable table of :func:`tuner.reports.tables.display_frame` (``mean ± std``, 4 decimals)."""
    written = []
    if "csv" in formats:
        written.append(_write(stem.with_suffix(".csv"), comparison.to_csv(index=False)))
    if "md" in formats:
        shown = tables.display_frame(comparison, params)
        text = shown.to_markdown(index=False, disable_numparse=True, stralign="right")
        written.append(_write(stem.with_suffix(".md"), text + "\n"))
    if "tex" in formats:
        shown = tables.display_frame(comparison, params, pm=" $\\pm$ ")
        shown[params] = shown[params].map(_tex_escape)
        written.append(_write(stem.with_suffix(".tex"), _latex(shown, n_left=len(params))))
    return written


def write_pivot(pivot: pd.DataFrame, stem: Path, formats: set[str]) -> list[Path]:
    """The pivot with its best cell bold (``**x**`` in Markdown, ``\\textbf{x}`` in LaTeX).

    The top-left cell names both parameters: ``first \\ second``."""
    written = []
    if "csv" in formats:
        written.append(_write(stem.with_suffix(".csv"), pivot.to_csv()))
    best = tables.best_cell(pivot)
    if "md" in formats:
        cells = _marked(pivot, best, "**{}**").reset_index()
        text = cells.to_markdown(index=False, disable_numparse=True, stralign="right")
        written.append(_write(stem.with_suffix(".md"), text + "\n"))
    if "tex" in formats:
        cells = _marked(pivot, best, "\\textbf{{{}}}", escape=_tex_escape).reset_index()
        written.append(_write(stem.with_suffix(".tex"), _latex(cells, n_left=1)))
    return written


def _marked(pivot: pd.DataFrame, best: tuple | None, mark: str,
            escape=lambda text: text) -> pd.DataFrame:
    """Pivot cells as text (4 decimals), best cell marked; row labels passed through
    ``escape``; column labels and the corner (``first \\ second``) as plain text."""
    cells = pivot.map(lambda v: "" if pd.isna(v) else f"{v:.4f}").astype(object)
    if best is not None:
        cells.loc[best] = mark.format(cells.loc[best])
    corner = f"{pivot.index.name} \\ {pivot.columns.name}"
    cells.index = pd.Index([escape(v) for v in pivot.index], name=corner)
    cells.columns = pd.Index([str(v) for v in pivot.columns])
    return cells


def _latex(shown: pd.DataFrame, n_left: int) -> str:
    """A booktabs tabular of text cells (escaped by the caller), column names escaped here:
    the first ``n_left`` columns left-aligned, the rest right-aligned."""
    shown = shown.rename(columns=_tex_escape)
    layout = "l" * n_left + "r" * (shown.shape[1] - n_left)
    return shown.to_latex(index=False, escape=False, column_format=layout)


def _tex_escape(text: object) -> str:
    table = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
             "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
             "^": r"\textasciicircum{}"}
    return "".join(table.get(ch, ch) for ch in str(text))


def write_figures(figures: dict[str, go.Figure], folder: Path, formats: set[str]
                  ) -> list[Path]:
    """HTML (plotly.js once, as ``plotly.min.js`` beside them: opens offline) and PNG."""
    written = []
    if "html" in formats and figures:
        folder.mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            path = folder / f"{name}.html"
            fig.write_html(path, include_plotlyjs="directory", full_html=True)
            written.append(path)
        written.append(folder / "plotly.min.js")
    if "png" in formats and figures:
        written += write_pngs(figures, folder)
    return written


def write_pngs(figures: dict[str, go.Figure], folder: Path) -> list[Path]:
    """PNGs through kaleido (one browser for all); without a browser, a one-line note."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png" for name in figures]
    try:
        pio.write_images(list(figures.values()), paths, width=1000, height=650)
    except Exception as exc:  # kaleido raises ChromeNotFoundError, or the browser fails
        logging.getLogger(__name__).info("PNG export failed: %s", exc)
        for path in paths:
            path.unlink(missing_ok=True)
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        return [_write(folder / PNG_NOTE, f"{PNG_HINT} ({type(exc).__name__}: {reason})\n")]
    return paths


def copy_best_galleries(study: optuna.Study, url: str | None, trials: pd.DataFrame,
                        comparison: pd.DataFrame, params: list[str],
                        folder: Path) -> list[Path]:
    """Galleries of the best trial of each of the :data:`TOP_GALLERIES` best configurations,
    as ``galleries/rank{r}_trial{n:04d}_epoch{k:03d}.png``."""
    by_number = {t.number: t for t in study.get_trials(deepcopy=False)}
    written = []
    for rank, number in enumerate(representative_trials(trials, comparison, params), start=1):
        found = gallery.find_galleries(study, by_number[number], storage_url(url))
        written += gallery.save_galleries(found, folder / "galleries",
                                          f"rank{rank}_trial{number:04d}")
    return written


def representative_trials(trials: pd.DataFrame, comparison: pd.DataFrame, params: list[str],
                top: int = TOP_GALLERIES, worst: bool = False) -> list[int]:
    """Trial numbers: the best completed trial of each of the ``top`` best configurations
    (or, with ``worst``, the worst trial of the ``top`` worst), in rank order."""
    ranked = comparison[comparison["n"] > 0]
    ranked = ranked.iloc[::-1] if worst else ranked
    done = trials[trials["state"] == "COMPLETE"]
    numbers = []
    for _, config in ranked.head(top).iterrows():
        match = done
        for p in params:
            match = match[match[p].isna()] if pd.isna(config[p]) else match[
                match[p] == config[p]]
        if not match.empty:
            pick = match["best_val_dice"].idxmin() if worst else match["best_val_dice"].idxmax()
            numbers.append(int(match.loc[pick, "number"]))
    return numbers
