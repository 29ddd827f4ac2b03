"""Plots as files: HTML (plotly.js once beside them), and PNG, SVG and PDF through kaleido,
with what to say when kaleido cannot draw them.

Kaleido (>= 1) draws with a Chrome or Chromium browser. A plot format the user asked for
(``tuner export --format svg``) that cannot be drawn is a :class:`~tuner.errors.TunerError`
naming the real cause (kaleido missing, too old, no browser, the browser failing), raised
inside the export's staging folder, so nothing is written; a format drawn only where it can
be (the default PNGs of an export or an evaluation) is replaced by a one-line note
(:data:`PNG_NOTE`) saying the same.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import warnings
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio

from tuner.errors import TunerError

#: the plot formats kaleido draws (through a Chrome or Chromium); ``html`` needs none
IMAGE_FORMATS = ("png", "svg", "pdf")
PNG_NOTE = "png-note.txt"  # written instead of the PNG, SVG and PDF plots not drawn
GET_BROWSER = ("install Chrome or Chromium (e.g. `apt-get install chromium`, or "
               "`plotly_get_chrome`), or point BROWSER_PATH at one")
GET_KALEIDO = "pip install --upgrade 'kaleido>=1'"


def kaleido_missing() -> str | None:
    """Why kaleido cannot be used at all (not installed, older than 1.0), or None."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return f"kaleido is not installed ({GET_KALEIDO})"
    try:
        version = importlib.metadata.version("kaleido")
    except importlib.metadata.PackageNotFoundError:
        return None
    if version.split(".")[0].isdigit() and int(version.split(".")[0]) < 1:
        return f"kaleido {version} is too old: plotly needs 1.0 or later ({GET_KALEIDO})"
    return None


def why_not_drawn(exc: BaseException) -> str:
    """The cause of a failed drawing, in words: kaleido, the browser, or the error."""
    missing = kaleido_missing()
    if missing:
        return missing
    text = str(exc).strip()
    if type(exc).__name__ == "ChromeNotFoundError" or "requires Google Chrome" in text:
        where = os.environ.get("BROWSER_PATH")
        at = f" at BROWSER_PATH={where}" if where else ""
        return f"kaleido found no Chrome or Chromium{at}; {GET_BROWSER}"
    reason = text.splitlines()[0][:200] if text else ""
    return f"kaleido failed to draw them ({type(exc).__name__}: {reason})"


def write_figures(figures: dict[str, go.Figure], folder: Path, formats: set[str],
                  required: bool = False) -> list[Path]:
    """HTML (plotly.js once, as ``plotly.min.js`` beside them: opens offline), and PNG,
    SVG and PDF as asked (:data:`IMAGE_FORMATS`; ``required``: a TunerError where they
    cannot be drawn, else a note)."""
    written = []
    if "html" in formats and figures:
        folder.mkdir(parents=True, exist_ok=True)
        for name, fig in figures.items():
            path = folder / f"{name}.html"
            fig.write_html(path, include_plotlyjs="directory", full_html=True)
            written.append(path)
        written.append(folder / "plotly.min.js")
    kinds = [kind for kind in IMAGE_FORMATS if kind in formats]
    if kinds and figures:
        written += write_pngs(figures, folder, kinds, required)
    return written


def write_pngs(figures: dict[str, go.Figure], folder: Path,
               kinds: list[str] | tuple[str, ...] = ("png",),
               required: bool = False) -> list[Path]:
    """Each figure as each of ``kinds`` (png, svg, pdf) through kaleido, one browser for
    all. Where they cannot be drawn: with ``required``, a TunerError naming the cause
    (``--format svg: kaleido is not installed ...``); else a one-line note
    (:data:`PNG_NOTE`) instead."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{kind}" for kind in kinds for name in figures]
    try:
        missing = kaleido_missing()
        if missing:
            raise ImportError(missing)
        with warnings.catch_warnings():  # kaleido's and plotly's deprecation chatter
            warnings.simplefilter("ignore")
            pio.write_images([fig for _ in kinds for fig in figures.values()], paths,
                             width=1000, height=650)
    except Exception as exc:  # kaleido missing, ChromeNotFoundError, a browser that failed
        logging.getLogger(__name__).info("plot export failed: %s", exc)
        for path in paths:
            path.unlink(missing_ok=True)
        cause = why_not_drawn(exc)
        shown = ",".join(kinds)
        if required:
            raise TunerError(f"--format {shown}: cannot draw the {shown} plots: {cause}; "
                             f"expected a working kaleido (or leave {shown} out)") from None
        note = folder / PNG_NOTE
        note.write_text(f"{shown} plots not drawn: {cause}; then run the command again\n",
                        encoding="utf-8")
        return [note]
    return paths
