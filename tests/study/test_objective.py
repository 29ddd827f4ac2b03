"""tuner.study.objective in-process: one trial through Optuna's ask/tell on every storage.

What the objective must leave in the storage is the contract of tuner.records: the config,
every curve, summary attributes, test scores, galleries, and per-epoch intermediate values
that the pruner reads.
"""

from __future__ import annotations

import optuna
import pytest

from tests.tiny import TINY
from tuner import StudySpec, categorical, records
from tuner.search.pruners import build_pruner
from tuner.storage import artifact_store
from tuner.study.objective import Objective


def make_study(url: str, name: str, spec: StudySpec) -> optuna.Study:
    return optuna.create_study(study_name=name, storage=url, direction="maximize",
                               pruner=build_pruner(spec))


def test_a_trial_records_the_whole_contract(any_storage_url, study_name):
    spec = StudySpec(name=study_name, base=TINY, pruner="none",
                     space=dict(weight_decay=categorical([0.0, 0.01])))
    study = make_study(any_storage_url, study_name, spec)
    objective = Objective(spec, {"dropout": 0.1}, artifact_store(any_storage_url))
    trial = study.ask()
    value = objective(trial)
    study.tell(trial, value)

    done = study.trials[0]
    attrs = done.user_attrs
    assert done.state == optuna.trial.TrialState.COMPLETE
    config = attrs[records.CONFIG]
    assert config["weight_decay"] == done.params["weight_decay"]
    assert config["dropout"] == 0.1 and config["epochs"] == TINY["epochs"]  # overrides apply
    assert set(attrs[records.CURVES]) == set(records.CURVE_NAMES)
    assert all(len(v) == TINY["epochs"] for v in attrs[records.CURVES].values())
    assert attrs[records.EPOCHS_RUN] == TINY["epochs"]
    assert attrs[records.STOP_REASON] == "epochs"
    assert attrs[records.RUNTIME]["device"] == "cpu"
    assert attrs[records.RUNTIME]["precision"] in ("fp32", "bf16")
    assert attrs[records.RUNTIME]["precision_reason"]  # why, in words
    assert attrs[records.REPEAT] == 0 and attrs[records.SEED] == config["seed"]
    val_dice = attrs[records.CURVES]["val_dice"]
    assert value == attrs[records.BEST_VAL_DICE] == max(val_dice)
    assert val_dice[attrs[records.BEST_EPOCH] - 1] == max(val_dice)
    assert done.intermediate_values == {k + 1: d for k, d in enumerate(val_dice)}
    assert set(attrs[records.TEST]) == set(records.METRICS)
    assert attrs[records.SECONDS] > 0 and records.PRUNED_AT not in attrs
    assert attrs[records.WORK] > 0  # forward GFLOP per image x images trained
    assert 0 < attrs[records.TRIVIAL_DICE] < 1  # the validation split's all-foreground Dice
    assert attrs[records.NORMALIZATION]["kind"] == "zscore"  # auto, without pretrained weights
    assert len(attrs[records.NORMALIZATION]["mean"]) == 3
    artifacts = {m.filename for m in optuna.artifacts.get_all_artifact_meta(
        done, storage=study._storage)}
    galleries = {name for name in artifacts if name.startswith(records.GALLERY_PREFIX)}
    assert galleries and artifacts - galleries == {records.CURVES_ARTIFACT}


def test_a_repeat_trains_with_the_shifted_seed(any_storage_url, study_name):
    spec = StudySpec(name=study_name, base={**TINY, "seed": 5, "epochs": 1}, pruner="none",
                     space=dict(lr=categorical([1e-3])), sampler="grid", repeats=2)
    study = make_study(any_storage_url, study_name, spec)
    study.enqueue_trial({"lr": 1e-3}, user_attrs={records.REPEAT: 1})
    trial = study.ask()
    study.tell(trial, Objective(spec, galleries=False)(trial))
    attrs = study.trials[0].user_attrs
    assert attrs[records.REPEAT] == 1 and attrs[records.SEED] == 6
    assert attrs[records.CONFIG]["seed"] == 6


def test_a_pruned_trial_keeps_its_epochs_and_says_where(any_storage_url, study_name):
    spec = StudySpec(name=study_name, base={**TINY, "epochs": 3},
                     space=dict(lr=categorical([1e-3])),
                     pruner="threshold",  # Dice is never >= 1.01
                     pruner_options=dict(lower=1.01, min_steps=0))
    study = make_study(any_storage_url, study_name, spec)
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned):
        Objective(spec, galleries=False)(trial)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    attrs = study.trials[0].user_attrs
    assert attrs[records.PRUNED_AT] == 2 and attrs[records.EPOCHS_RUN] == 2  # half of 3, up
    assert len(attrs[records.CURVES]["val_dice"]) == 2
    assert "< floor 1.010 (lower) after 2 of 3 epochs" in attrs[records.PRUNE_REASON]
    assert records.TEST not in attrs  # no test pass for a run that was stopped


def test_the_hook_sees_every_epoch(sqlite_url, study_name):
    spec = StudySpec(name=study_name, base=TINY, pruner="none")
    study = make_study(sqlite_url, study_name, spec)
    seen = []
    objective = Objective(spec, galleries=False,
                          on_epoch=lambda trial, report, epochs: seen.append(
                              (trial.number, report.epoch, epochs)))
    trial = study.ask()
    study.tell(trial, objective(trial))
    assert seen == [(0, 1, TINY["epochs"]), (0, 2, TINY["epochs"])]
