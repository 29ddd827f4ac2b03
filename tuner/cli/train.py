"""``tuner train`` (one plain training run, no study) and ``tuner fields``.

Neither imports Optuna: a training run is the same loop a trial runs, without a study.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tuner.cli.common import (
    DataOption,
    SetOption,
    console,
    errors,
    heavy_imports,
    overrides_of,
    user_errors,
)
from tuner.config import TrainConfig, describe_fields


@user_errors
def train_command(
    assignments: Annotated[list[str] | None, typer.Argument(
        help="Config fields as key=value, e.g. lr=3e-4 loss=dice")] = None,
    sets: SetOption = None,
    data: DataOption = None,
) -> None:
    """One plain training run (no study): per-epoch metrics, then the test scores."""
    with heavy_imports():
        from tuner.data import build_splits, describe_data
        from tuner.training import fit, score

    cfg = TrainConfig.from_dict(overrides_of([*(assignments or []), *(sets or [])], data))
    splits = build_splits(cfg)
    errors.print(describe_data(cfg, splits), markup=False, highlight=False)
    errors.print(f"training {cfg.arch}", markup=False)

    def show(report) -> None:
        m = report.metrics
        console.print(f"epoch {report.epoch:3d}/{cfg.epochs}  train loss {m['train_loss']:.4f} "
                      f"Dice {m['train_dice']:.4f}  val loss {m['val_loss']:.4f} "
                      f"Dice {m['val_dice']:.4f}  lr {m['lr']:.2e}  {m['seconds']:.1f} s"
                      + ("  *" if report.is_best else ""))

    result = fit(cfg, splits, on_epoch=show)
    summary = f"best epoch {result.best_epoch}: val Dice {result.best_val_dice:.4f}"
    if len(splits.test):
        test = score(result.model, splits.test, cfg, result.runtime, result.normalize)
        summary += f"; test Dice {test['dice']:.4f} IoU {test['iou']:.4f}"
    console.print(f"{summary} ({result.runtime.describe()}, {result.seconds:.1f} s)")



def fields_command() -> None:
    """Every config field with its type, default and allowed values."""
    table = Table(title="TrainConfig fields (use with --set key=value or in a study file)")
    for column in ("field", "type", "default", "meaning"):
        table.add_column(column)
    for row in describe_fields():
        table.add_row(*row)
    console.print(table)
