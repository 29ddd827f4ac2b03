"""``tuner export`` and ``tuner report``: a study's files, and one HTML page of studies.

Thin handlers over :func:`tuner.api.export` and :func:`tuner.api.report`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.common import StorageOption, user_errors

MetricOption = Annotated[str, typer.Option(
    "--metric", help="value of the pivot cells: val_dice, test_dice, train_dice, val_iou, "
    "test_iou, train_loss, val_loss, best_epoch, epochs, seconds, seconds_to_best")]
TargetOption = Annotated[float | None, typer.Option(
    "--target-dice", show_default=False,
    help="validation Dice whose time to reach the cost table shows; default 95% of the "
    "best configuration's mean, rounded down to 0.01")]


@user_errors
def export_command(
    study: Annotated[str, typer.Argument(help="name of the study to export")],
    storage: StorageOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="output folder; default storage/exports/STUDY beside the storage",
        show_default=False)] = None,
    format: Annotated[str | None, typer.Option(
        "--format", show_default=False, help="comma-separated subset of "
        "csv,md,tex,html,png,svg,pdf; default csv,md,tex,html,png, the png plots only where "
        "kaleido can draw them (else a note says why). png, svg and pdf need kaleido and "
        "Chrome or Chromium: asked for and not drawn, exit 2 and nothing written")
    ] = None,
    metric: MetricOption = "val_dice",
    target: TargetOption = None,
) -> None:
    """Write the tables, plots and best-trial galleries of STUDY (see docs/exports.md)."""
    from tuner import api
    from tuner.reports import images

    paths = api.export(study, storage=storage, out=out, formats=format, metric=metric,
                       target=target)
    for path in paths:
        typer.echo(str(path))
        if path.name in (images.PNG_NOTE, "notes.txt"):
            typer.echo("  " + path.read_text(encoding="utf-8").strip().replace("\n", "\n  "))


@user_errors
def report_command(
    studies: Annotated[list[str], typer.Argument(help="one or more study names")],
    storage: StorageOption = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="the HTML file; default storage/exports/STUDY/report.html",
        show_default=False)] = None,
    metric: MetricOption = "val_dice",
    target: TargetOption = None,
) -> None:
    """Write one self-contained HTML report (opens offline) about STUDIES."""
    from tuner import api

    path = api.report(studies, storage=storage, out=out, metric=metric, target=target)
    typer.echo(str(path))
