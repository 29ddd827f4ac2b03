"""A learning-curve rule: stop a run that cannot catch the best finished run.

At epoch ``t`` a trial's best validation Dice so far is ``b(t)``. Every finished run of
the study shows how much a run still gained after epoch ``t`` (its final value minus its
own best up to ``t``); the largest of those gains is the most this trial can be expected
to gain too. If ``b(t) + largest gain + margin`` is still below the best finished run's
value, the trial cannot catch it and is stopped. Unlike a median or a successive-halving
rung, this never stops a run that is behind but could still end first by the study's own
evidence; it stops only what the finished curves rule out, so it spends more epochs than
they do on a study whose configurations are close, and fewer where many are clearly bad.

Written by hand because no Optuna pruner bounds a run by the finished runs' later gains
(Optuna's pruners compare values at the same step: median, percentile, rungs).
"""

from __future__ import annotations

import math

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tuner.search.wording import decimals_below


def best_until(values: dict[int, float], epoch: int) -> float | None:
    """The best finite value reported at or before ``epoch`` (None: none yet)."""
    known = [v for step, v in values.items() if step <= epoch and not math.isnan(v)]
    return max(known) if known else None


def later_gain(trial: FrozenTrial, epoch: int) -> float | None:
    """How much finished ``trial`` gained after ``epoch``: its value minus its best up to
    ``epoch`` (None: it reported nothing that early, or ended before it)."""
    if trial.value is None or trial.last_step is None or trial.last_step <= epoch:
        return None
    before = best_until(trial.intermediate_values, epoch)
    return None if before is None else max(0.0, trial.value - before)


class CatchUpPruner(optuna.pruners.BasePruner):
    """Stop a trial whose best so far plus the largest later gain of the finished runs
    (plus ``margin``) stays below the best finished run; judged from epoch
    ``n_warmup_steps`` on, once ``n_startup_trials`` runs have finished. Maximises (Dice).
    """

    def __init__(self, n_startup_trials: int = 5, n_warmup_steps: int = 1,
                 margin: float = 0.0) -> None:
        for name, value in (("n_startup_trials", n_startup_trials),
                            ("n_warmup_steps", n_warmup_steps)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if isinstance(margin, bool) or not isinstance(margin, int | float) \
                or not math.isfinite(margin) or margin < 0:
            raise ValueError(f"margin must be a Dice >= 0, got {margin!r}")
        self.n_startup_trials, self.n_warmup_steps = n_startup_trials, n_warmup_steps
        self.margin = float(margin)
        self.last_verdict = ""  # the numbers of the last stop, for the trial's prune reason

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        if study.direction != StudyDirection.MAXIMIZE:
            raise ValueError("the catch_up pruner judges a study that maximises (Dice)")
        epoch = trial.last_step
        if epoch is None or epoch < max(self.n_warmup_steps, 1):
            return False
        mine = best_until(trial.intermediate_values, epoch)
        if mine is None:
            return False
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(finished) < max(self.n_startup_trials, 1):
            return False
        best = max(t.value for t in finished if t.value is not None)
        gains = [g for g in (later_gain(t, epoch) for t in finished) if g is not None]
        if not gains:
            return False
        if mine + max(gains) + self.margin >= best:
            return False
        margin = f" + margin {self.margin:g}" if self.margin else ""
        places = decimals_below([mine, max(gains)], best, f"{self.margin:g}")  # reads true
        self.last_verdict = (f"best val Dice so far {mine:.{places}f} + the largest gain of "
                             f"a finished run after epoch {epoch} ({max(gains):.{places}f})"
                             f"{margin} < the best finished run's {best:.{places}f}")
        return True
