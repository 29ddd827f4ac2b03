"""``tuner train`` (one plain training run, no study) and ``tuner fields``.

Neither imports Optuna: a training run is the same loop a trial runs, without a study.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tuner.cli.common import DataOption, SetOption, console, errors, user_errors
from tuner.config import describe_fields


@user_errors
def train_command(
    assignments: Annotated[list[str] | None, typer.Argument(
        help="Config fields as key=value, e.g. lr=3e-4 loss=dice")] = None,
    sets: SetOption = None,
    data: DataOption = None,
) -> None:
    """One plain training run (no study): per-epoch metrics, then the test scores."""
    from tuner import api

    settings = api.settings([*(assignments or []), *(sets or [])], data)
    epochs = api.TrainConfig.from_dict(settings).epochs

    def show(report) -> None:
        m = report.metrics
        console.print(f"epoch {report.epoch:3d}/{epochs}  train loss {m['train_loss']:.4f} "
                      f"Dice {m['train_dice']:.4f}  val loss {m['val_loss']:.4f} "
                      f"Dice {m['val_dice']:.4f}  lr {m['lr']:.2e}  {m['seconds']:.1f} s"
                      + ("  *" if report.is_best else ""))

    result = api.train(settings, on_epoch=show, console=errors)
    fit = result.fit
    summary = f"best epoch {fit.best_epoch}: val Dice {fit.best_val_dice:.4f}"
    if result.test:
        summary += f"; test Dice {result.test['dice']:.4f} IoU {result.test['iou']:.4f}"
    console.print(f"{summary} ({fit.runtime.describe()}, {fit.seconds:.1f} s)")


def fields_command() -> None:
    """Every config field with its type, default and allowed values."""
    table = Table(title="TrainConfig fields (use with --set key=value or in a study file)")
    for column in ("field", "type", "default", "meaning"):
        table.add_column(column)
    for row in describe_fields():
        table.add_row(*row)
    console.print(table)
