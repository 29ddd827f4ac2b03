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
import warnings
from pathlib import Path

import optuna
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from tuner.errors import TunerError
from tuner.inference import gallery
from tuner.reports import display, latex, tables
from tuner.reports.analysis import BEST_VALUE, Analysis, analyse
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
                 formats: set[str] | str = frozenset(FORMATS), metric: str = "val_dice",
                 target: float | None = None) -> list[Path]:
    """Write the export of ``study_name`` to ``out``; the paths written, in ``out``.

    ``formats``: subset of :data:`FORMATS`. ``out`` defaults to :func:`default_out`.
    ``metric`` (a :data:`tables.METRICS` name) fills the pivot; ``target`` is the
    validation Dice of the cost table (default: :func:`tuner.reports.cost.default_target`).
    """
    formats = parse_formats(formats)
    study = finished_study(storage_url, study_name)
    found = analyse(study, metric, target)
    out = Path(out) if out is not None else default_out(storage_url, study_name)
    staging = _staging_folder(out)
    try:
        written = _write_all(found, storage_url, staging, formats)
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


def _write_all(found: Analysis, url: str | None, folder: Path,
               formats: set[str]) -> list[Path]:
    params, comparison = found.params, found.comparison
    written: list[Path] = []
    if "csv" in formats:
        written.append(_write(folder / "trials.csv", found.trials.to_csv(index=False)))
        written.append(_write(folder / "curves.csv", found.curves.to_csv(index=False)))
    written += write_table(folder / "comparison", formats, comparison,
                           display.comparison_shown(comparison, params),
                           display.comparison_shown(comparison, params, display.PAGE))
    if len(params) == 2:
        written += write_table(folder / "pivot", formats, pivot_csv(comparison, params,
                                                                    found.metric),
                               display.pivot_shown(comparison, params, found.metric))
    if found.best_values is not None:
        written += write_table(folder / f"best_{BEST_VALUE}", formats, found.best_values,
                               display.best_value_shown(found.best_values, params, BEST_VALUE))
    if found.cost is not None:
        written += write_table(folder / "cost", formats, found.cost,
                               display.cost_shown(found.cost, params, found.target))
    if formats & {"html", "png"}:
        figures, notes = _plots_module().study_figures(found.study, found.trials, comparison,
                                                       found.curves, params)
        written += write_figures(figures, folder / "plots", formats)
        if notes:
            written.append(_write(folder / "plots" / "notes.txt", "\n".join(notes) + "\n"))
    written += copy_best_galleries(found.study, url, found.trials, comparison, params, folder)
    return written


def _plots_module():
    from tuner.reports import plots  # plotly.express is slow to import; only when plotting

    return plots


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_table(stem: Path, formats: set[str], numbers: pd.DataFrame,
                shown: display.Shown, page: display.Shown | None = None) -> list[Path]:
    """``stem.csv``: ``numbers`` at full precision; ``stem.md``: ``shown`` as a GitHub
    table with its legend; ``stem.tex``: ``page`` (default ``shown``) as a booktabs
    tabular that fits a page."""
    written = []
    if "csv" in formats:
        written.append(_write(stem.with_suffix(".csv"), numbers.to_csv(index=False)))
    if "md" in formats:
        written.append(_write(stem.with_suffix(".md"), display.markdown(shown)))
    if "tex" in formats:
        written.append(_write(stem.with_suffix(".tex"), latex.tabular(page or shown)))
    return written


def pivot_csv(comparison: pd.DataFrame, params: list[str], metric: str) -> pd.DataFrame:
    """The pivot as numbers: ``params[0]``, then for each value ``v`` of ``params[1]`` the
    columns ``<params[1]>=v mean``, ``... sd`` and ``... n`` of ``metric``."""
    column = tables.metric(metric).column
    parts = {stat: tables.pivot_frame(comparison, params, source) for stat, source in
             (("mean", f"{column}_mean"), ("sd", f"{column}_std"), ("n", "n"))}
    frame = pd.DataFrame(index=parts["mean"].index)
    for value in parts["mean"].columns:
        for stat, part in parts.items():
            frame[f"{params[1]}={value} {stat}"] = part[value]
    return frame.reset_index()


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
        with warnings.catch_warnings():  # kaleido's and plotly's deprecation chatter
            warnings.simplefilter("ignore")
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
