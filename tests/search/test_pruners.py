"""Pruning relative to the data: floors from the split's trivial Dice, warm-ups as a share
of the run's epochs, and a pruned trial that says why, with the numbers."""

from __future__ import annotations

import inspect
import re

import numpy as np
import optuna
import pytest
import torch
from PIL import Image

from tests.search import refusal
from tests.tiny import TINY
from tuner import StudySpec, categorical, records
from tuner.errors import TunerError
from tuner.search.catch_up import CatchUpPruner
from tuner.search.pruners import (
    PRUNERS,
    FloorPruner,
    SameFoldPruner,
    build_pruner,
    prune_reason,
    pruner_cannot_act,
)
from tuner.study.checks import rehearse_search
from tuner.study.objective import Objective
from tuner.training.metrics import trivial_dice


def should_prune(pruner, curve: list[float], trivial: float | None = None,
                 epochs: int | None = None) -> bool:
    """Whether ``pruner`` stops a trial of ``epochs`` epochs (default: the curve's length)
    after it reported ``curve`` (epochs 1, 2, ...) on data of trivial Dice ``trivial``."""
    trial = optuna.create_study(direction="maximize", pruner=pruner).ask()
    trial.set_user_attr(records.CONFIG, {"epochs": epochs or len(curve)})
    if trivial is not None:
        trial.set_user_attr(records.TRIVIAL_DICE, trivial)
    for epoch, dice in enumerate(curve, start=1):
        trial.report(dice, epoch)
    return trial.should_prune()


def thin_lines(count: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images and masks of 1-pixel lines on noise: foreground about 6 %, like vessels."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((count, size, size), np.uint8)
    for mask in masks:
        for row in rng.choice(size, 2, replace=False):
            mask[row, :] = 1
    images = (rng.uniform(0, 0.5, (count, size, size)) + 0.4 * masks) * 255
    return np.repeat(images[..., None], 3, axis=-1).astype(np.uint8), masks


def test_the_floor_follows_the_trivial_dice_of_thin_structures():
    _, masks = thin_lines(40, 32)
    trivial = trivial_dice(torch.from_numpy(masks).unsqueeze(1).float())
    assert trivial == pytest.approx(2 * 0.0625 / 1.0625)  # 2 lines of 32 rows: 1/16 fg
    pruner = build_pruner(StudySpec(name="p", pruner="hopeless"))
    assert pruner.floor(trivial) == pytest.approx(trivial + 0.1 * (1 - trivial))  # ~0.2
    slow_learner = [0.12] * 20 + [0.21] * 10  # vessels: 0.2 early on, better later
    assert not should_prune(pruner, slow_learner, trivial, epochs=60)
    fixed = FloorPruner("best", lower=0.25, n_warmup_steps=8)  # what the studies used to do
    assert should_prune(fixed, slow_learner, trivial, epochs=60)
    assert should_prune(pruner, [trivial] * 30, trivial, epochs=60)  # never beat "all yes"


def test_dense_masks_get_a_floor_below_one():
    trivial = 2 * 0.5 / 1.5  # half the pixels foreground
    pruner = FloorPruner()
    assert pruner.floor(trivial) == pytest.approx(0.7)
    assert not should_prune(pruner, [0.75] * 8, trivial, epochs=15)


def test_the_warm_up_is_a_share_of_the_run():
    pruner = FloorPruner(warmup=0.4)
    assert pruner.first_epoch(60) == 24 and pruner.first_epoch(15) == 6
    assert pruner.first_epoch(1) == 1
    assert FloorPruner(n_warmup_steps=3).first_epoch(60) == 3  # fixed where asked
    assert not should_prune(pruner, [0.0] * 23, 0.1, epochs=60)
    assert should_prune(pruner, [0.0] * 24, 0.1, epochs=60)


def test_the_warm_up_waits_for_enough_optimizer_steps():
    """31 train images at batch 16 are 2 steps per epoch: at epoch 8 of 15 such a run had
    taken 16 steps, was still at Dice 0, and reached 0.61 by epoch 15."""
    pruner = FloorPruner()  # half the epochs, and at least 50 optimizer steps
    assert pruner.first_epoch(15, steps_per_epoch=2) == 25  # never within 15 epochs
    assert pruner.first_epoch(15, steps_per_epoch=10) == 8
    assert pruner.first_epoch(15, steps_per_epoch=100) == 8
    trial = optuna.create_study(direction="maximize", pruner=pruner).ask()
    trial.set_user_attr(records.CONFIG, {"epochs": 15})
    trial.set_user_attr(records.STEPS_PER_EPOCH, 2)
    for epoch in range(1, 15):
        trial.report(0.0, epoch)
    assert not trial.should_prune()


def test_hopeless_judges_the_best_so_far_and_threshold_the_last():
    learned_then_dipped = [0.22, 0.51, 0.23]
    hopeless = FloorPruner("best", lower=0.25, n_warmup_steps=3)
    threshold = FloorPruner("last", lower=0.25, n_warmup_steps=3)
    assert not should_prune(hopeless, learned_then_dipped)
    assert should_prune(threshold, learned_then_dipped)
    assert should_prune(hopeless, [0.2, 0.21, 0.22])  # never learned
    assert not should_prune(hopeless, [0.2, 0.21])  # still warming up
    assert should_prune(hopeless, [float("nan")] * 3)  # diverged from the start


def test_a_pruned_trial_says_why_with_the_numbers():
    pruner = FloorPruner(warmup=0.4)
    values = {epoch: 0.18 for epoch in range(1, 25)}
    assert prune_reason("hopeless", pruner, values, 0.16, 60) == (
        "hopeless: best val Dice so far 0.180 < floor 0.244 = trivial 0.160 + 0.1 x "
        "(1 - trivial) after 24 of 60 epochs (40%)")
    median = optuna.pruners.MedianPruner()
    assert prune_reason("median", median, {1: 0.4, 2: 0.35}, 0.16, 15) == (
        "median: behind the other trials at epoch 2 of 15 (val Dice 0.350, best so far 0.400)")


def test_pruner_options_are_checked_with_one_line():
    for options, words in [(dict(margin=1.5), "option 'margin': got 1.5, expected a value in "
                                              "[0, 1)"),
                           (dict(warmup=2), "option 'warmup': got 2.0, expected a value in "
                                            "[0, 1]"),
                           (dict(lower=-1), "option 'lower': got -1.0, expected a value >= 0 "
                                            "or None"),
                           (dict(n_warmup_steps=1.5), "option 'n_warmup_steps': got 1.5, "
                                                      "expected an integer >= 0 or None"),
                           (dict(upper=0.9), "has no option 'upper'; its options: lower")]:
        with pytest.raises(TunerError) as info:
            build_pruner(StudySpec(name="p", pruner="hopeless", pruner_options=options))
        assert str(info.value).startswith("study file '<study>': pruner 'hopeless'")
        assert words in str(info.value)
    relative = build_pruner(StudySpec(name="p", pruner="hopeless", pruner_options=dict(
        lower=None, n_warmup_steps=None)))  # None: not set, the floor follows the data
    assert relative.lower is None and relative.floor(0.5) == pytest.approx(0.55)


@pytest.mark.parametrize(("pruner", "options", "words"), [
    ("hyperband", dict(min_resource=0), "option 'min_resource': got 0, expected a value >= 1"),
    ("hyperband", dict(reduction_factor=1), "option 'reduction_factor': got 1, expected a "
                                            "value >= 2"),
    ("hyperband", dict(max_resource="full"), "option 'max_resource': got 'full', expected an "
                                             "integer >= 1 or 'auto'"),
    ("successive_halving", dict(min_resource="fast"), "expected an integer >= 1 or 'auto'"),
    ("median", dict(n_startup_trials="five"), "option 'n_startup_trials': got 'five', "
                                              "expected an integer >= 0"),
    ("median", dict(interval_steps=0), "option 'interval_steps': got 0, expected a value >= 1"),
    ("percentile", dict(percentile=101), "option 'percentile': got 101.0, expected a value in "
                                         "[0, 100]"),
    ("patient", dict(min_delta=-0.1), "option 'min_delta': got -0.1, expected a value >= 0"),
    ("wilcoxon", dict(p_threshold=2), "option 'p_threshold': got 2.0, expected a value in "
                                      "[0, 1]"),
    ("catch_up", dict(margin="wide"), "option 'margin': got 'wide', expected a number >= 0"),
    ("none", dict(n_startup_trials=5), "pruner 'none' has no option 'n_startup_trials'; its "
                                       "options: none"),
    # a combination Optuna itself refuses: its own words, on one line
    ("hyperband", dict(bootstrap_count=2), "pruner 'hyperband': bootstrap_count > 0 and "
                                           "max_resource == 'auto' are mutually incompatible"),
])
def test_every_option_is_checked_before_a_trial_is_judged(pruner, options, words):
    spec = StudySpec(name="p", pruner=pruner, pruner_options=options, source="p.py")
    message = refusal(spec)  # what the pre-run check says
    assert message.startswith(f"study file 'p.py': pruner {pruner!r}") and words in message


def test_the_declared_options_are_the_pruners_own():
    """Each declared option is a keyword argument of the pruner it reaches, with its
    default; every pruner builds with its defaults and judges trials."""
    reaches = {"median": [optuna.pruners.MedianPruner],
               "successive_halving": [optuna.pruners.SuccessiveHalvingPruner],
               "hyperband": [optuna.pruners.HyperbandPruner],
               "wilcoxon": [optuna.pruners.WilcoxonPruner], "none": [],
               "percentile": [optuna.pruners.PercentilePruner],
               "patient": [optuna.pruners.PatientPruner, optuna.pruners.MedianPruner],
               "catch_up": [CatchUpPruner], "hopeless": [FloorPruner],
               "threshold": [FloorPruner]}
    assert set(reaches) == set(PRUNERS)
    for name, kinds in reaches.items():
        parameters = {k: p for kind in kinds
                      for k, p in inspect.signature(kind).parameters.items()}
        for option in PRUNERS.component(name).options:
            assert option.name in parameters, (name, option.name)
            if parameters[option.name].default is not inspect.Parameter.empty:
                assert parameters[option.name].default == option.default, (name, option.name)
            assert option.help, (name, option.name)
        rehearse_search(StudySpec(name="p", pruner=name, source="p.py"))  # no refusal
    assert PRUNERS.component("wilcoxon").requires == "scipy"
    assert [name for name in PRUNERS if PRUNERS.component(name).extra.get("judges_alone")] \
        == ["none", "hopeless", "threshold"]


def test_what_optuna_fails_on_in_a_trial_is_refused_before_the_run(monkeypatch):
    """An option that passes its declaration and the pruner's constructor but fails when
    the pruner first judges (hyperband's min_resource=0 did: a ZeroDivisionError in every
    trial) is one line of the pre-run check, naming the study file, pruner and options."""
    def divides_by_zero(self, study, trial):
        return 1 / 0

    monkeypatch.setattr(optuna.pruners.HyperbandPruner, "prune", divides_by_zero)
    spec = StudySpec(name="p", pruner="hyperband", pruner_options=dict(min_resource=2),
                     source="p.py")
    with pytest.raises(TunerError, match="^study file 'p.py': pruner 'hyperband' with "
                                         "min_resource=2 fails in Optuna's first trials: "
                                         "ZeroDivisionError: division by zero$"):
        rehearse_search(spec)


def test_a_prune_reason_reads_true_however_close_the_numbers():
    """A best Dice of 0.45812 below a floor of 0.45847 read "0.458 < floor 0.458"."""
    close = FloorPruner("best", lower=0.45847, n_warmup_steps=1)
    assert prune_reason("hopeless", close, {1: 0.45812}, None, 10) == (
        "hopeless: best val Dice so far 0.4581 < floor 0.4585 (lower) after 1 of 10 epochs "
        "(10%)")
    rng = np.random.default_rng(0)
    for _ in range(200):
        trivial, gap = rng.uniform(0, 0.5), 10.0 ** rng.uniform(-9, -2)
        pruner = FloorPruner("last", n_warmup_steps=1)
        value = pruner.floor(trivial) - gap
        reason = prune_reason("threshold", pruner, {1: value}, trivial, 10)
        shown, floor = re.search(r"val Dice (\S+) < floor (\S+) =", reason).groups()
        assert float(shown) < float(floor), reason
        assert len(floor.split(".")[1]) == len(shown.split(".")[1]) >= 3


def test_a_warm_up_that_reaches_the_last_epoch_is_said():
    spec = StudySpec(name="p", pruner="hopeless")
    assert pruner_cannot_act(spec, 15) is None
    assert "waits until epoch 1 (its warm-up)" in pruner_cannot_act(spec, 1)


def test_a_trial_on_thin_structures_records_its_trivial_dice_and_why_it_was_pruned(
        tmp_path, sqlite_url, study_name):
    images, masks = thin_lines(24, 32)
    for kind in ("images", "masks"):
        (tmp_path / kind).mkdir()
    for i, (image, mask) in enumerate(zip(images, masks, strict=True)):
        Image.fromarray(image).save(tmp_path / "images" / f"{i}.png")
        Image.fromarray(mask * 255).save(tmp_path / "masks" / f"{i}.png")
    spec = StudySpec(name=study_name, space=dict(lr=categorical([1e-3])),
                     base={**TINY, "epochs": 4, "dataset": f"folder:{tmp_path}"},
                     pruner="threshold", pruner_options=dict(lower=1.01, min_steps=0))
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize", pruner=build_pruner(spec))
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned):
        Objective(spec, galleries=False)(trial)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    attrs = study.trials[0].user_attrs
    assert 0.05 < attrs[records.TRIVIAL_DICE] < 0.2
    assert attrs[records.PRUNED_AT] == 2  # half of the 4 epochs (Dice never >= 1.01)
    assert attrs[records.STEPS_PER_EPOCH] == 2  # 14 train images, batch 8
    assert attrs[records.PRUNE_REASON].startswith("threshold: val Dice ")
    assert "< floor 1.010 (lower) after 2 of 4 epochs (50%)" in attrs[records.PRUNE_REASON]


def folded_study(url: str, name: str, pruner_name: str, **options) -> optuna.Study:
    """A study with two completed trials per fold: fold 0 reached 0.9, fold 1 only 0.1."""
    spec = StudySpec(name="p", pruner=pruner_name, pruner_options=options)
    study = optuna.create_study(study_name=name, storage=url, direction="maximize",
                                pruner=build_pruner(spec))
    for fold, dice in ((0, 0.9), (0, 0.9), (1, 0.1), (1, 0.1)):
        trial = study.ask()
        trial.set_user_attr(records.CONFIG, {"folds": 2, "fold": fold, "epochs": 3})
        for epoch in (1, 2, 3):
            trial.report(dice, epoch)
        study.tell(trial, dice)
    return study


def judged(study: optuna.Study, dice: float, fold: int | None) -> bool:
    """Whether a new trial of ``fold`` (None: a study without folds) at ``dice`` is pruned."""
    trial = study.ask()
    if fold is not None:
        trial.set_user_attr(records.CONFIG, {"folds": 2, "fold": fold, "epochs": 3})
        trial.set_user_attr(records.FOLD, fold)
    trial.report(dice, 1)
    return trial.should_prune()


def test_a_pruner_compares_a_trial_only_with_the_trials_of_its_fold(sqlite_url, study_name):
    """Folds differ in how hard they are: a Dice of 0.3 is good on fold 1 (whose trials
    reached 0.1) and poor on fold 0 (0.9); the median of all four trials (0.5) would prune
    both."""
    study = folded_study(sqlite_url, study_name, "median", n_startup_trials=2)
    assert isinstance(study.pruner, SameFoldPruner)
    assert not judged(study, 0.3, fold=1)
    assert judged(study, 0.3, fold=0)
    assert judged(study, 0.3, fold=None)  # no folds: the whole study, as before
    view = study.pruner.view(study, 1)
    assert {t.number for t in view.get_trials(deepcopy=False)} >= {2, 3}
    assert all(records.fold_of(t) == 1 for t in view.get_trials(deepcopy=False))
    assert view.best_trial.number == 2 and study.best_trial.number == 0


@pytest.mark.parametrize("name", ["percentile", "successive_halving", "hyperband",
                                  "patient", "wilcoxon"])
def test_every_comparing_pruner_works_through_the_fold_view(sqlite_url, study_name, name):
    study = folded_study(sqlite_url, study_name, name)
    for fold in (0, 1):
        judged(study, 0.3, fold)  # runs; what each decides is its own rule
