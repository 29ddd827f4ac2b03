"""``tuner export`` and ``tuner report``: a study's files, and one HTML page of studies.

Thin handlers over :func:`tuner.reports.export.export_study` and
:func:`tuner.reports.html_report.write_report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.common import StorageOption, user_errors


@user_errors
def export_command(
    study: Annotated[str, typer.Argument(help="name of the study to export")],
    storage: StorageOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="output folder; default storage/exports/STUDY beside the storage",
        show_default=False)] = None,
    format: Annotated[str, typer.Option(
        "--format", help="comma-separated subset of csv,md,tex,html,png")
    ] = "csv,md,tex,html,png",
) -> None:
    """Write the tables, plots and best-trial galleries of STUDY (see docs/exports.md)."""
    from tuner.reports import export
    from tuner.storage import storage_url

    paths = export.export_study(storage_url(storage), study, out, format)
    for path in paths:
        typer.echo(str(path))
        if path.name in (export.PNG_NOTE, "notes.txt"):
            typer.echo("  " + path.read_text(encoding="utf-8").strip().replace("\n", "\n  "))


@user_errors
def report_command(
    studies: Annotated[list[str], typer.Argument(help="one or more study names")],
    storage: StorageOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="the HTML file; default storage/exports/STUDY/report.html",
        show_default=False)] = None,
) -> None:
    """Write one self-contained HTML report (opens offline) about STUDIES."""
    from tuner.reports import html_report as report
    from tuner.storage import storage_url

    url = storage_url(storage)
    path = report.write_report(url, studies, out or report.default_report_path(url, studies))
    typer.echo(str(path))
