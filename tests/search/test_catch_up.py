"""The learning-curve rule: a run is stopped only when even the largest gain a finished run
made from the same epoch on would leave it below the best finished run."""

from __future__ import annotations

import optuna
import pytest

from tuner import StudySpec
from tuner.search.catch_up import CatchUpPruner, best_until, later_gain
from tuner.search.pruners import PRUNERS, build_pruner, prune_reason, pruner_cannot_act


def finished(study: optuna.Study, curve: list[float]) -> None:
    """A finished run of ``study`` with per-epoch values ``curve``, its value the best."""
    trial = study.ask()
    for epoch, dice in enumerate(curve, start=1):
        trial.report(dice, epoch)
    study.tell(trial, max(curve))


def stopped(study: optuna.Study, curve: list[float]) -> bool:
    """Whether a new run of ``study`` that reported ``curve`` so far is stopped."""
    trial = study.ask()
    for epoch, dice in enumerate(curve, start=1):
        trial.report(dice, epoch)
    return trial.should_prune()


def study_with(pruner: CatchUpPruner, *curves: list[float]) -> optuna.Study:
    study = optuna.create_study(direction="maximize", pruner=pruner)
    for curve in curves:
        finished(study, curve)
    return study


def test_a_run_that_cannot_catch_the_best_is_stopped_and_one_that_can_goes_on():
    # the best run ends at 0.80 and gained 0.30 after epoch 1; the late bloomer 0.40
    study = study_with(CatchUpPruner(n_startup_trials=2),
                       [0.50, 0.70, 0.80], [0.10, 0.30, 0.50])
    assert stopped(study, [0.05])            # 0.05 + 0.40 < 0.80
    assert not stopped(study, [0.45])        # 0.45 + 0.40 >= 0.80: it could still win
    # after epoch 2 the finished runs gained at most 0.20: 0.55 + 0.20 < 0.80
    assert stopped(study, [0.45, 0.55])
    assert not stopped(study, [0.45, 0.62])  # 0.62 + 0.20 >= 0.80


def test_it_judges_the_best_so_far_not_a_dip():
    study = study_with(CatchUpPruner(n_startup_trials=1), [0.50, 0.70, 0.80])
    assert not stopped(study, [0.75, 0.20])  # best so far 0.75 + gain 0.10 >= 0.80
    assert stopped(study, [0.65, 0.20])  # 0.65 + 0.10 < 0.80


def test_nothing_is_stopped_before_enough_runs_have_finished_or_before_the_warm_up():
    curves = ([0.50, 0.70, 0.80], [0.60, 0.70, 0.75])
    assert not stopped(study_with(CatchUpPruner(n_startup_trials=3), *curves), [0.0])
    assert stopped(study_with(CatchUpPruner(n_startup_trials=2), *curves), [0.0])
    late = study_with(CatchUpPruner(n_startup_trials=2, n_warmup_steps=2), *curves)
    assert not stopped(late, [0.0])
    assert stopped(late, [0.0, 0.0])


def test_the_margin_makes_it_more_patient():
    curves = ([0.50, 0.70, 0.80],)
    assert stopped(study_with(CatchUpPruner(n_startup_trials=1), *curves), [0.40])
    assert not stopped(study_with(CatchUpPruner(n_startup_trials=1, margin=0.2), *curves),
                       [0.40])  # 0.40 + 0.30 + 0.20 >= 0.80


def test_gains_come_from_runs_that_went_past_the_epoch():
    study = study_with(CatchUpPruner(n_startup_trials=1), [0.50, 0.70, 0.80])
    run = study.trials[0]
    assert best_until(run.intermediate_values, 2) == pytest.approx(0.70)
    assert best_until({}, 2) is None
    assert later_gain(run, 1) == pytest.approx(0.30)
    assert later_gain(run, 3) is None  # it ended there: it says nothing about later gains


def test_bad_options_are_refused_and_it_is_a_registered_pruner():
    for options in ({"n_startup_trials": -1}, {"n_warmup_steps": 1.5}, {"margin": -0.1},
                    {"margin": float("nan")}, {"n_startup_trials": True}):
        with pytest.raises(ValueError):
            CatchUpPruner(**options)
    assert isinstance(PRUNERS.build("catch_up", {"margin": 0.01}), CatchUpPruner)
    spec = StudySpec(name="c", pruner="catch_up", pruner_options={"n_warmup_steps": 3})
    assert build_pruner(spec).inner.n_warmup_steps == 3  # compares trials: per fold
    assert pruner_cannot_act(spec, 3) is not None
    assert pruner_cannot_act(spec, 4) is None


def test_a_study_that_minimises_is_refused():
    study = optuna.create_study(direction="minimize", pruner=CatchUpPruner(n_startup_trials=0))
    finished(study, [0.5, 0.4])
    with pytest.raises(ValueError, match="maximises"):
        stopped(study, [0.9])


@pytest.mark.parametrize(("dice", "numbers"), [
    (0.20, "0.200 + the largest gain of a finished run after epoch 1 (0.300) < the best "
           "finished run's 0.800"),
    # by a hair: with three decimals it read "0.500 + (0.300) < 0.800"
    (0.49996, "0.49996 + the largest gain of a finished run after epoch 1 (0.30000) < the "
              "best finished run's 0.80000"),
])
def test_a_stopped_trial_says_why_with_the_numbers(dice, numbers):
    spec = StudySpec(name="c", pruner="catch_up", pruner_options={"n_startup_trials": 1})
    pruner = build_pruner(spec)
    study = optuna.create_study(direction="maximize", pruner=pruner)
    finished(study, [0.50, 0.70, 0.80])
    assert stopped(study, [dice])
    reason = prune_reason("catch_up", pruner, {1: dice}, None, 3)
    assert reason == f"catch_up: at epoch 1 of 3, best val Dice so far {numbers}"
