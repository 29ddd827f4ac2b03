"""A stored study's caveats: those of its data, kept when it was created, and a best result
too close to the trivial Dice (predicting every pixel foreground) to conclude from, or far
below it.

They are read for sharing (the report), so a dataset's path in a stored caveat is written
as :func:`tuner.results.formatting.shared_text` writes it: relative, never absolute."""

from __future__ import annotations

import optuna

from tuner import records
from tuner.data.caveats import TRIVIAL_MARGIN, weak_result_caveat
from tuner.results.formatting import shared_text


def weak_result(study: optuna.Study) -> str | None:
    """The weak-result caveat of ``study``'s best completed trial, or None: its best
    validation Dice within :data:`~tuner.data.caveats.TRIVIAL_MARGIN` of the trivial Dice,
    or far below it (:func:`below_trivial`)."""
    ranked = records.ranked_trials(study, top=1)
    if not ranked:
        return None
    trivial = ranked[0].user_attrs.get(records.TRIVIAL_DICE)
    if not isinstance(trivial, int | float):
        return None
    best, trivial = float(ranked[0].value), float(trivial)
    return below_trivial(best, trivial) or weak_result_caveat(best, trivial)


def below_trivial(best: float, trivial: float) -> str | None:
    """A caveat when the best validation Dice is below the trivial Dice by more than
    :data:`~tuner.data.caveats.TRIVIAL_MARGIN`: the models did worse than marking every
    pixel foreground, which says more than "learned little"."""
    if trivial - best <= TRIVIAL_MARGIN:
        return None
    return (f"the best validation Dice {best:.3f} is far below the trivial Dice "
            f"{trivial:.3f} (every pixel foreground): the models predict worse than marking "
            "every pixel; check the masks (foreground_values), the loss and the learning "
            "rate before concluding")


def study_caveats(study: optuna.Study) -> list[str]:
    """Every caveat of ``study`` for its report: its data's, then a weak result."""
    stored = [shared_text(str(c)) for c in study.user_attrs.get(records.CAVEATS) or []]
    weak = weak_result(study)
    return [*stored, *([weak] if weak else [])]
