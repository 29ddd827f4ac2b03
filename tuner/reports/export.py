"""``tuner export``: the tables, plots and galleries of one study, as files for a report.

Everything is written into a hidden temporary folder inside the output folder first and moved into
place file by file only when all of it succeeded, so a failure leaves no half-written
export that looks complete (files of an earlier export that this one did not rewrite stay).
What each file holds: ``docs/exports.md``.

The rules every written output of ``export``, ``report``, ``evaluate`` and ``predict``
follows live here too: one folder name per study (:func:`folder_name`), an output checked
before any work (:func:`check_output`), files staged and moved into place
(:func:`staged`, :func:`replacing`), and nothing left behind by a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import optuna
import pandas as pd

from tuner.errors import TunerError
from tuner.inference import gallery
from tuner.reports import cost, display, latex, tables
from tuner.reports.analysis import BEST_VALUE, Analysis, analyse
from tuner.reports.images import (  # noqa: F401  (PNG_NOTE, write_pngs: the export's names)
    IMAGE_FORMATS,
    PNG_NOTE,
    kaleido_missing,
    write_figures,
    write_pngs,
)
from tuner.storage import artifact_dir, load_existing_study, storage_url

FORMATS = ("csv", "md", "tex", "html", "png", "svg", "pdf")
#: what an export writes when no format is asked for (png only where kaleido can draw it)
DEFAULT_FORMATS = ("csv", "md", "tex", "html", "png")
TOP_GALLERIES = 3  # galleries of the best trial of the best 3 configurations


#: the longest folder or file name tuner makes up (any common filesystem takes 143 bytes)
NAME_LIMIT = 100
HASH_LENGTH = 8  # hex digits of the exact name's SHA-256 after a slug that is not the name


def default_out(url: str | None, study_name: str) -> Path:
    """``exports/<folder>/`` beside the storage's artifact folder (``storage/exports/...``),
    ``<folder>`` the study's own :func:`folder_name`."""
    return artifact_dir(url).parent / "exports" / folder_name(study_name)


def slug(name: str) -> str:
    """``name`` in letters, digits, ``.``, ``_`` and ``-`` (accents dropped, any other run
    of characters one ``_``); '' when nothing readable is left."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", name)
                    if not unicodedata.combining(c))
    return re.sub(r"[^A-Za-z0-9._-]+", "_", plain).strip("._")


def name_hash(key: str) -> str:
    """:data:`HASH_LENGTH` hex digits of the SHA-256 of ``key``."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_LENGTH]


def folder_name(name: str, limit: int = NAME_LIMIT) -> str:
    """The one folder (or file stem) name of ``name``, shared with no other name: ``name``
    itself when it is a plain file name of at most ``limit`` characters (letters, digits,
    ``.``, ``_``, ``-``; no leading or trailing ``.`` or ``_``), else its :func:`slug`, cut
    to fit ``limit``, then ``-`` and a hash of the exact name (``col/x`` ->
    ``col_x-3f2a9c1d``)."""
    readable = slug(name)
    if readable == name and len(name) <= limit:
        return name
    readable = readable[:limit - HASH_LENGTH - 1].rstrip("._-") or "study"
    return f"{readable}-{name_hash(name)}"


def check_output(path: Path, what: str, folder: bool = True) -> None:
    """Before any work: ``path``, a folder (``folder``) or a file, can be created and
    written; else a TunerError naming ``what`` and ``path``. Trying leaves nothing behind:
    a folder made to try is removed again."""
    path = Path(path)
    if folder and os.path.exists(path) and not os.path.isdir(path):
        raise TunerError(f"{what} {path}: exists and is not a folder; expected a folder")
    if not folder and os.path.isdir(path):
        raise TunerError(f"{what} {path}: is a folder; expected a file name")
    where = path if folder else path.parent
    made = make_folders(where, what, path)
    try:
        with _failing_as(what, path):
            temp_file(where, "" if folder else path.name).unlink()  # as long as the name
    finally:
        remove_folders(made)


def make_folders(folder: Path, what: str, path: Path | None = None) -> list[Path]:
    """Make ``folder`` and its missing parents; the folders made, outermost first (for
    :func:`remove_folders`). A TunerError about ``what`` ``path`` when that is not
    possible (a parent is a file, read-only, a name too long)."""
    path = folder if path is None else path
    missing, nearest = [], Path(folder)
    while not os.path.exists(nearest) and nearest != nearest.parent:
        missing.append(nearest)
        nearest = nearest.parent
    if not os.path.isdir(nearest):
        raise TunerError(f"{what} {path}: cannot write there ({nearest} is a file, not a "
                         "folder); expected a place where a folder can be made")
    made: list[Path] = []
    try:
        with _failing_as(what, path):
            for each in reversed(missing):
                os.mkdir(each)
                made.append(each)
    except TunerError:
        remove_folders(made)
        raise
    return made


def remove_folders(made: list[Path]) -> None:
    """Remove the folders :func:`make_folders` made, innermost first, where still empty."""
    for each in reversed(made):
        with contextlib.suppress(OSError):
            os.rmdir(each)


@contextlib.contextmanager
def staged(out: Path, what: str) -> Iterator[Path]:
    """A hidden staging folder (``.partial-*``) inside ``out``, made with its parents as
    needed, for the block to write into and move from; removed at the end, and when the
    block fails the folders made for it too. An OSError becomes a TunerError about
    ``what``."""
    made = make_folders(Path(out), what)
    staging = None
    try:
        with _failing_as(what, out):
            staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=out))
            yield staging
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        remove_folders(made)
        raise
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def replacing(path: Path, what: str) -> Iterator[Path]:
    """A temporary file beside ``path`` for the block to write; it replaces ``path`` when
    the block succeeds, else it is removed (and the folders made for it). An OSError
    becomes a TunerError about ``what``."""
    path = Path(path)
    made = make_folders(path.parent, what, path)
    temp = None
    try:
        with _failing_as(what, path):
            temp = temp_file(path.parent, path.name)
            yield temp
            os.replace(temp, path)
    except BaseException:
        if temp is not None:
            temp.unlink(missing_ok=True)
        remove_folders(made)
        raise


def temp_file(folder: Path, name: str = "") -> Path:
    """A new empty hidden file in ``folder`` with the permissions of any new file:
    ``.partial-<random>``, or beside a file ``name`` ``.<name>.<random>.partial``, the name
    cut so that it is no longer than ``name``."""
    for _ in range(100):
        token, part = secrets.token_hex(4), name[:max(8, len(name) - 18)]
        path = Path(folder) / (f".{part}.{token}.partial" if name else f".partial-{token}")
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return path
    raise FileExistsError(f"no free temporary name in {folder}")


@contextlib.contextmanager
def _failing_as(what: str, path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise TunerError(f"{what} {path}: cannot write there ({exc.strerror or exc}); "
                         "expected a place that can be written") from None


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


def parse_formats(text: str | set[str] | tuple[str, ...]) -> set[str]:
    """``"csv,md"`` -> ``{"csv", "md"}``; TunerError naming an unknown format."""
    items = {f.strip().lower() for f in (text.split(",") if isinstance(text, str) else text)
             if isinstance(f, str)}
    items.discard("")
    unknown = sorted(items - set(FORMATS))
    if unknown or not items:
        raise TunerError(f"--format: got {','.join(sorted(items)) or 'nothing'!r}, "
                         f"expected a comma-separated subset of {','.join(FORMATS)}")
    return items


def export_study(storage_url: str | None, study_name: str, out: Path | None = None,
                 formats: set[str] | str | None = None, metric: str = "val_dice",
                 target: float | None = None) -> list[Path]:
    """Write the export of ``study_name`` to ``out``; the paths written, in ``out``.

    ``formats``: subset of :data:`FORMATS`; asked-for plots that kaleido cannot draw are a
    TunerError and nothing is written. None: :data:`DEFAULT_FORMATS`, the PNGs only where
    kaleido can draw them (else a note). ``out`` defaults to :func:`default_out`.
    ``metric`` (a :data:`tables.METRICS` name) fills the pivot; ``target`` is the
    validation Dice of the cost table (default: :func:`tuner.reports.cost.default_target`).
    """
    required = formats is not None
    formats = parse_formats(DEFAULT_FORMATS if formats is None else formats)
    kinds = ",".join(kind for kind in IMAGE_FORMATS if kind in formats)
    if required and kinds and kaleido_missing():
        raise TunerError(f"--format {kinds}: cannot draw the {kinds} plots: "
                         f"{kaleido_missing()}; expected a working kaleido (or leave {kinds} out)")
    study = finished_study(storage_url, study_name)
    out = Path(out) if out is not None else default_out(storage_url, study_name)
    check_output(out, OUT_WHAT)
    found = analyse(study, metric, target)
    with staged(out, OUT_WHAT) as staging:
        written = _write_all(found, storage_url, staging, formats, required)
        return move_into_place(staging, written, out)


OUT_WHAT = "output folder"  # how errors name the folder of an export


def move_into_place(staging: Path, written: list[Path], out: Path) -> list[Path]:
    """Move ``written`` (files in ``staging``) to the same places in ``out``; the paths."""
    final = []
    for path in written:
        target = out / path.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        final.append(target)
    return final


def _write_all(found: Analysis, url: str | None, folder: Path,
               formats: set[str], required: bool = False) -> list[Path]:
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
                               cost.cost_shown(found.cost, params, found.target))
    if formats & {"html", *IMAGE_FORMATS}:
        figures, notes = _plots_module().study_figures(found.study, found.trials, comparison,
                                                       found.curves, params)
        written += write_figures(figures, folder / "plots", formats, required)
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
