"""Pruning relative to the data: floors from the split's trivial Dice, warm-ups as a share
of the run's epochs, and a pruned trial that says why, with the numbers."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch
from PIL import Image

from tests.tiny import TINY
from tuner import StudySpec, categorical, records
from tuner.errors import TunerError
from tuner.search.pruners import (
    FloorPruner,
    SameFoldPruner,
    build_pruner,
    prune_reason,
    pruner_cannot_act,
)
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
    for options, words in [(dict(margin=1.5), "margin must be in"),
                           (dict(warmup=2), "warmup must be a share"),
                           (dict(lower=-1), "lower must be a Dice"),
                           (dict(n_warmup_steps=1.5), "n_warmup_steps must be an integer"),
                           (dict(upper=0.9), "unexpected keyword argument .upper.")]:
        with pytest.raises(TunerError, match=words):
            build_pruner(StudySpec(name="p", pruner="hopeless", pruner_options=options))


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
