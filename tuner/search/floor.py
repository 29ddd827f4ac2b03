"""The floor pruners (``hopeless``, ``threshold``): a trial still below a floor that
follows the data after a warm-up that follows the run, and why it was stopped, in words.

Written by hand because no Optuna pruner compares with a floor that depends on the
trial's data, nor with the best value so far (see :class:`FloorPruner`).
"""

from __future__ import annotations

import math
from typing import Any

import optuna

from tuner import records
from tuner.search.wording import decimals_below


class FloorPruner(optuna.pruners.BasePruner):
    """Prune a trial whose validation Dice is still below a floor after its warm-up: the
    best so far (``judge="best"``: ``hopeless``) or the latest (``judge="last"``:
    ``threshold``).

    The floor follows the data unless ``lower`` fixes it: the split's trivial Dice (that of
    predicting every pixel foreground, which the objective records per trial:
    :data:`tuner.records.TRIVIAL_DICE`) plus ``margin`` of the way from it to 1. A fixed
    floor decided a study's answer on thin structures: 0.2 after 8 epochs pruned 5 of 6
    loss configurations on retinal vessels (foreground 9 %, trivial Dice 0.17) that
    reached 0.6 after 60 epochs. The warm-up follows the run: ``warmup`` of its epochs
    (rounded up), and at least ``min_steps`` optimizer steps (a run on 31 images took 16
    steps to epoch 8 and was still at Dice 0, then reached 0.61: too few steps to tell
    "not yet" from "never"; the objective records each trial's steps per epoch,
    :data:`tuner.records.STEPS_PER_EPOCH`), unless ``n_warmup_steps`` fixes it in epochs.

    Written by hand because no Optuna pruner compares with a floor that depends on the
    trial's data, nor with the best value so far: Optuna's ThresholdPruner judges the
    latest value only, and a run that learned and then dipped for an epoch (0.51, then
    0.23 five epochs later) would be pruned as if it had never learned.
    """

    def __init__(self, judge: str = "best", *, lower: float | None = None,
                 margin: float = 0.1, warmup: float = 0.5, min_steps: int = 50,
                 n_warmup_steps: int | None = None) -> None:
        if judge not in ("best", "last"):
            raise ValueError(f"judge must be 'best' or 'last', got {judge!r}")
        if lower is not None and not (_is_number(lower) and lower >= 0):
            raise ValueError(f"lower must be a Dice >= 0 (or None: relative), got {lower!r}")
        if not (_is_number(margin) and 0 <= margin < 1):
            raise ValueError(f"margin must be in [0, 1), got {margin!r}")
        if not (_is_number(warmup) and 0 <= warmup <= 1):
            raise ValueError(f"warmup must be a share of the epochs in [0, 1], got {warmup!r}")
        for name, value in (("n_warmup_steps", n_warmup_steps), ("min_steps", min_steps)):
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                          and value >= 0):
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        self.judge, self.lower, self.margin = judge, lower, float(margin)
        self.warmup, self.min_steps, self.n_warmup_steps = float(warmup), min_steps, \
            n_warmup_steps

    def floor(self, trivial: float | None) -> float:
        """The Dice a trial must reach: ``lower``, else trivial + margin x (1 - trivial)
        (trivial 0 where it is not recorded: a trial run outside tuner)."""
        if self.lower is not None:
            return float(self.lower)
        trivial = trivial or 0.0
        return trivial + self.margin * (1.0 - trivial)

    def first_epoch(self, epochs: int, steps_per_epoch: int | None = None) -> int:
        """The first epoch at which a run of ``epochs`` epochs (of ``steps_per_epoch``
        optimizer steps each, where known) is judged."""
        if self.n_warmup_steps is not None:
            return max(self.n_warmup_steps, 1)
        first = math.ceil(self.warmup * epochs)
        if steps_per_epoch:
            first = max(first, math.ceil(self.min_steps / steps_per_epoch))
        return max(first, 1)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        epochs = (trial.user_attrs.get(records.CONFIG) or {}).get("epochs", step or 0)
        steps = trial.user_attrs.get(records.STEPS_PER_EPOCH)
        if step is None or step < self.first_epoch(epochs, steps):
            return False
        value = self._judged(trial.intermediate_values)
        return value is None or value < self.floor(trial.user_attrs.get(records.TRIVIAL_DICE))

    def _judged(self, values: dict[int, float]) -> float | None:
        known = {k: v for k, v in values.items() if not math.isnan(v)}
        if not known:
            return None
        return max(known.values()) if self.judge == "best" else known[max(known)]

    def reason(self, values: dict[int, float], trivial: float | None, epochs: int) -> str:
        """Why a trial with these per-epoch values was pruned, with the numbers."""
        value, floor = self._judged(values), self.floor(trivial)
        what = "best val Dice so far" if self.judge == "best" else "val Dice"
        places = 3 if value is None else decimals_below([value], floor)  # reads true
        shown = "none" if value is None else f"{value:.{places}f}"
        rule = (f"floor {floor:.{places}f} (lower)" if self.lower is not None else
                f"floor {floor:.{places}f} = trivial {trivial or 0.0:.{places}f} + "
                f"{self.margin:g} x (1 - trivial)")
        step = max(values) if values else 0
        share = f" ({step / epochs:.0%})" if epochs else ""
        return f"{what} {shown} < {rule} after {step} of {epochs} epochs{share}"


def _is_number(value: Any) -> bool:
    """A finite int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)
