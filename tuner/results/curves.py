"""Per-epoch curves as tables a person reads: how a curve's name splits into split and
metric, and one trial's curves as CSV (the artifact optuna-dashboard shows as a table).

Imports nothing heavy (no pandas, no Optuna): the objective calls :func:`curves_csv` inside
every worker. The study-wide tidy table is :func:`tuner.reports.tables.curves_frame`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence

#: prefixes of curve names that say on which images a metric was computed
SPLITS = ("train", "val", "test")
#: columns of the tidy curves table (``curves.csv`` of ``tuner export``)
TIDY_COLUMNS = ("trial", "configuration", "repeat", "epoch", "split", "metric", "value")


def split_metric(name: str) -> tuple[str, str]:
    """``"val_dice"`` -> ``("val", "dice")``; a curve of the epoch itself (``lr``,
    ``seconds``) -> ``("", name)``."""
    split, _, metric = name.partition("_")
    return (split, metric) if split in SPLITS and metric else ("", name)


def curves_csv(history: Mapping[str, Sequence[float | None]]) -> str:
    """One trial's curves as CSV text: a row per epoch, ``epoch`` then one column per curve
    (``train_loss, ..., val_dice, ..., lr, seconds``) in the order of ``history``.

    ``history`` is the :data:`tuner.records.CURVES` attribute (``{name: [value per
    epoch]}``); a missing value (a diverged run's NaN, stored as None) is an empty cell.
    Scores keep 6 significant digits: enough to read, short enough for a table.
    """
    names = list(history)
    epochs = max((len(values) for values in history.values()), default=0)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *names])
    for index in range(epochs):
        row = [history[name][index] if index < len(history[name]) else None
               for name in names]
        writer.writerow([index + 1, *(_cell(value) for value in row)])
    return buffer.getvalue()


def _cell(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return f"{value:.6g}"
