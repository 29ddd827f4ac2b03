"""tuner.results.caveats: the weak-result caveat says "within" only when the best Dice is
within the margin of the trivial Dice, and "far below" when it is below by more."""

from __future__ import annotations

import optuna
import pytest

from tuner import records
from tuner.results.caveats import study_caveats, weak_result


def _study(best: float, trivial: float) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=best, user_attrs={
        records.TRIVIAL_DICE: trivial}))
    return study


@pytest.mark.parametrize(("best", "trivial", "words"), [
    (0.0, 0.548, "the best validation Dice 0.000 is far below the trivial Dice 0.548"),
    (0.40, 0.548, "far below the trivial Dice 0.548"),
    (0.52, 0.548, "the best validation Dice 0.520 is within 0.05 of the trivial Dice 0.548"),
    (0.57, 0.548, "is within 0.05 of the trivial Dice 0.548"),
    (0.60, 0.548, None),
])
def test_weak_result_says_where_the_best_is(best, trivial, words):
    said = weak_result(_study(best, trivial))
    if words is None:
        assert said is None
        return
    assert words in said and "\n" not in said
    assert ("within" in said) == (abs(best - trivial) <= 0.05)
    assert said in study_caveats(_study(best, trivial))


def test_no_caveat_without_a_trivial_dice_or_a_completed_trial():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    assert weak_result(optuna.create_study(direction="maximize")) is None
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.trial.create_trial(value=0.1))
    assert weak_result(study) is None
