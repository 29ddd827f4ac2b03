"""A stored study's caveats: those of its data, kept when it was created, and a best result
too close to the trivial Dice (predicting every pixel foreground) to conclude from.

They are read for sharing (the report), so a dataset's path in a stored caveat is written
as :func:`tuner.results.formatting.shared_text` writes it: relative, never absolute."""

from __future__ import annotations

import optuna

from tuner import records
from tuner.data.caveats import weak_result_caveat
from tuner.results.formatting import shared_text


def weak_result(study: optuna.Study) -> str | None:
    """The weak-result caveat of ``study``'s best completed trial, or None."""
    ranked = records.ranked_trials(study, top=1)
    if not ranked:
        return None
    trivial = ranked[0].user_attrs.get(records.TRIVIAL_DICE)
    if not isinstance(trivial, int | float):
        return None
    return weak_result_caveat(float(ranked[0].value), float(trivial))


def study_caveats(study: optuna.Study) -> list[str]:
    """Every caveat of ``study`` for its report: its data's, then a weak result."""
    stored = [shared_text(str(c)) for c in study.user_attrs.get(records.CAVEATS) or []]
    weak = weak_result(study)
    return [*stored, *([weak] if weak else [])]
