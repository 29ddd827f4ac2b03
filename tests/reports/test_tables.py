"""Tables of a study built with ask/tell (the trial records exactly as tuner.records says).

``build_study`` is shared with the other report tests (``from tests.reports.test_tables import``).
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import pandas as pd
import pytest

from tuner import records
from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.inference.gallery import gallery_epochs, render_gallery
from tuner.reports import tables
from tuner.results import curves
from tuner.storage import artifact_store

optuna.logging.set_verbosity(optuna.logging.WARNING)

EPOCHS = 4
WEIGHT_DECAYS = (0.1, 0.01)
FRACTIONS = (0.4, 0.8)
BASE = dict(loss="dice", epochs=EPOCHS, image_size=32, base_channels=4)
SPACE = {
    "weight_decay": optuna.distributions.CategoricalDistribution(WEIGHT_DECAYS),
    "train_fraction": optuna.distributions.CategoricalDistribution(FRACTIONS),
}


def score(wd: float, tf: float, repeat: int) -> float:
    """Peak validation Dice of the fake trial: wd=0.01, tf=0.8 wins; repeats differ by 0.01."""
    return 0.5 + 0.2 * tf + (0.05 if wd == 0.01 else 0.0) + 0.01 * repeat


def fake_curves(wd: float, tf: float, repeat: int, epochs: int) -> dict[str, list[float]]:
    """Curves that rise to ``score`` at the last epoch; wd=0.1 drops by 0.02 in epoch 4."""
    peak = score(wd, tf, repeat)
    val_dice = [peak * math.sqrt(e / EPOCHS) for e in range(1, epochs + 1)]
    if wd == 0.1 and epochs == EPOCHS:
        val_dice[-1] = val_dice[-2] - 0.02
    curves = {name: [0.1 * i + e for e in range(1, epochs + 1)]
              for i, name in enumerate(records.CURVE_NAMES)}
    curves["val_dice"] = val_dice
    curves[records.DEVICE_SECONDS] = [None] * epochs  # a CPU run: no device time
    curves["train_dice"] = [v + 0.05 for v in val_dice]
    curves["val_loss"] = [1 - v for v in val_dice]
    curves["train_loss"] = [0.95 - v for v in val_dice]
    return curves


def _upload_galleries(trial: optuna.Trial, url: str, folder, epochs: int,
                      quality: float) -> None:
    """Galleries as the objective uploads them; prediction right with probability quality."""
    rng = np.random.default_rng(trial.number)
    images = rng.random((2, 3, 16, 16))
    masks = np.zeros((2, 1, 16, 16))
    masks[:, :, 4:12, 4:12] = 1
    store = artifact_store(url)
    for epoch in [e for e in gallery_epochs(EPOCHS) if e <= epochs]:
        probs = np.where(rng.random(masks.shape) < quality, masks, 1 - masks)
        path = folder / f"{records.GALLERY_PREFIX}{epoch:03d}.png"
        render_gallery(images, masks, probs, 0.5, f"trial {trial.number}").save(path)
        optuna.artifacts.upload_artifact(artifact_store=store, file_path=str(path),
                                         study_or_trial=trial)


def _run_fake_trial(study, url, folder, wd, tf, repeat, epochs, pruned=False) -> None:
    study.enqueue_trial({"weight_decay": wd, "train_fraction": tf})
    trial = study.ask(SPACE)
    curves = fake_curves(wd, tf, repeat, epochs)
    best_epoch = int(np.argmax(curves["val_dice"])) + 1
    config = TrainConfig.from_dict({**BASE, "weight_decay": wd, "train_fraction": tf,
                                     "seed": repeat}).to_dict()
    for step, value in enumerate(curves["val_dice"], start=1):
        trial.report(value, step)
    attrs = {
        records.CONFIG: config, records.CURVES: curves, records.EPOCHS_RUN: epochs,
        records.BEST_EPOCH: best_epoch, records.BEST_VAL_DICE: max(curves["val_dice"]),
        records.PRUNED_AT: epochs if pruned else None, records.SECONDS: 10.0 + repeat,
        records.SECONDS_PER_EPOCH: 2.5, records.REPEAT: repeat, records.SEED: repeat,
    }  # fmt: skip
    if not pruned:
        attrs[records.TEST] = {"dice": max(curves["val_dice"]) - 0.01, "iou": 0.5}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    if folder is not None:
        _upload_galleries(trial, url, folder, epochs, score(wd, tf, repeat))
    if pruned:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, max(curves["val_dice"]))


def build_study(url: str, name: str, tmp_path, repeats: int = 2,
                galleries: bool = True) -> optuna.Study:
    """2 x 2 grid x ``repeats`` completed trials, then one pruned, one failed, one running."""
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    study.set_user_attr(records.QUESTION, "which weight decay at which train fraction?")
    folder = tmp_path if galleries else None
    for repeat in range(repeats):
        for wd in WEIGHT_DECAYS:
            for tf in FRACTIONS:
                _run_fake_trial(study, url, folder, wd, tf, repeat, EPOCHS)
    _run_fake_trial(study, url, folder, 0.1, 0.4, repeats, 2, pruned=True)
    failed = study.ask(SPACE)
    study.tell(failed, state=optuna.trial.TrialState.FAIL)
    study.ask(SPACE)  # left running
    return study


N_TRIALS = 2 * 2 * 2 + 3


@pytest.fixture(scope="module")
def fake_study(tmp_path_factory) -> optuna.Study:
    """Built once for this module (tables only read it; no galleries)."""
    folder = tmp_path_factory.mktemp("tables")
    return build_study(f"sqlite:///{folder / 'tuner.db'}", "fake", folder, galleries=False)


def test_trials_frame_has_one_row_per_trial_in_documented_columns(fake_study):
    frame = tables.trials_frame(fake_study)
    trials = fake_study.get_trials()
    assert list(frame["number"]) == [t.number for t in trials]
    assert list(frame["state"]) == [t.state.name for t in trials]
    expected = ["number", "state", "weight_decay", "train_fraction",
                *tables.FIXED_COLUMNS[2:], "test_dice", "test_iou"]
    assert list(frame.columns) == expected
    assert len(frame) == N_TRIALS


def test_trials_frame_final_and_best_values_come_from_the_curves(fake_study):
    frame = tables.trials_frame(fake_study).set_index("number")
    trial = fake_study.trials[0]  # wd=0.1, tf=0.4, repeat 0: best epoch 3, drop at epoch 4
    curves = fake_curves(0.1, 0.4, 0, EPOCHS)
    row = frame.loc[0]
    assert row["weight_decay"] == 0.1 and row["train_fraction"] == 0.4
    assert row["best_epoch"] == 3 == trial.user_attrs["best_epoch"]
    assert row["best_val_dice"] == pytest.approx(curves["val_dice"][2])
    assert row["final_val_dice"] == pytest.approx(curves["val_dice"][3])
    assert row["best_val_precision"] == pytest.approx(curves["val_precision"][2])
    assert row["final_train_loss"] == pytest.approx(curves["train_loss"][3])
    assert row["test_dice"] == pytest.approx(curves["val_dice"][2] - 0.01)
    pruned = frame[frame["state"] == "PRUNED"].iloc[0]
    assert pruned["pruned_at"] == 2 and pruned["epochs_run"] == 2
    assert pd.isna(pruned["test_dice"])
    failed = frame[frame["state"] == "FAIL"].iloc[0]
    assert pd.isna(failed["best_val_dice"]) and pd.isna(failed["repeat"])


def test_param_named_like_a_fixed_column_gets_a_prefix(sqlite_url, study_name):
    study = optuna.create_study(study_name=study_name, storage=sqlite_url)
    study.optimize(lambda t: t.suggest_int("seed", 0, 3) + t.suggest_float("lr", 0.1, 1),
                   n_trials=2)
    assert tables.param_columns(study) == {"seed": "param_seed", "lr": "lr"}
    assert {"param_seed", "seed", "lr"} <= set(tables.trials_frame(study).columns)


def test_comparison_groups_repeats_with_mean_std_count(fake_study):
    trials = tables.trials_frame(fake_study)
    table = tables.comparison_frame(trials, ["weight_decay", "train_fraction"])
    assert len(table) == 4
    best = table.iloc[0]
    assert (best["weight_decay"], best["train_fraction"]) == (0.01, 0.8)
    peaks = [score(0.01, 0.8, r) for r in (0, 1)]
    assert best["best_val_dice_mean"] == pytest.approx(np.mean(peaks))
    assert best["best_val_dice_std"] == pytest.approx(np.std(peaks, ddof=1))
    assert best["n"] == 2 and best["pruned"] == 0
    pruned_row = table[(table["weight_decay"] == 0.1) & (table["train_fraction"] == 0.4)]
    assert pruned_row["n"].item() == 2 and pruned_row["pruned"].item() == 1
    assert list(table["best_val_dice_mean"]) == sorted(table["best_val_dice_mean"],
                                                       reverse=True)


def test_comparison_without_params_is_one_row(fake_study):
    table = tables.comparison_frame(tables.trials_frame(fake_study), [])
    assert len(table) == 1 and table["n"].item() == 8


def test_pivot_puts_first_param_down_and_marks_the_best(fake_study):
    params = ["weight_decay", "train_fraction"]
    table = tables.comparison_frame(tables.trials_frame(fake_study), params)
    pivot = tables.pivot_frame(table, params)
    assert list(pivot.index) == [0.01, 0.1] and list(pivot.columns) == [0.4, 0.8]
    expected = np.mean([score(0.01, 0.4, r) for r in (0, 1)])
    assert pivot.loc[0.01, 0.4] == pytest.approx(expected)
    marks = tables.pivot_frame(table, params, "best_val_dice_mark")
    assert marks.loc[0.01, 0.8] == "best" and marks.loc[0.1, 0.4] == ""
    with pytest.raises(ValueError):
        tables.pivot_frame(table, params[:1])


def test_curves_frame_is_tidy_with_every_stored_metric(fake_study):
    frame = tables.curves_frame(fake_study)
    assert list(frame.columns) == list(curves.TIDY_COLUMNS)
    assert len(frame) == 8 * EPOCHS * len(records.CURVE_NAMES) + 2 * len(records.CURVE_NAMES)
    first = frame[frame["trial"] == 0]
    assert set(first["configuration"]) == {"weight_decay=0.1, train_fraction=0.4"}
    assert set(frame.loc[frame["trial"] == 4, "repeat"]) == {1}  # the second pass
    pairs = set(zip(first["split"], first["metric"], strict=True))
    assert pairs == {curves.split_metric(name) for name in records.CURVE_NAMES}
    assert {("val", m) for m in records.METRICS} <= pairs and ("", "lr") in pairs
    dice = first[(first["split"] == "val") & (first["metric"] == "dice")]
    assert list(dice["epoch"]) == [1, 2, 3, 4]
    assert list(dice["value"]) == pytest.approx(fake_curves(0.1, 0.4, 0, EPOCHS)["val_dice"])


def test_comparison_has_test_dice_and_time_to_the_best_epoch(fake_study):
    trials = tables.trials_frame(fake_study)
    row = trials.set_index("number").loc[0]  # best epoch 3; seconds curve 0.1 * i + e
    per_epoch = fake_curves(0.1, 0.4, 0, EPOCHS)["seconds"]
    assert row["seconds_to_best"] == pytest.approx(sum(per_epoch[:3]))
    table = tables.comparison_frame(trials, ["weight_decay", "train_fraction"])
    best = table.iloc[0]
    tests = [score(0.01, 0.8, r) - 0.01 for r in (0, 1)]
    assert best["test_dice_mean"] == pytest.approx(np.mean(tests))
    assert best["test_dice_std"] == pytest.approx(np.std(tests, ddof=1))
    assert best["seconds_to_best_mean"] == pytest.approx(sum(per_epoch))  # best at epoch 4


def test_a_second_complete_trial_of_one_repeat_is_no_second_repeat(tmp_path):
    """A duplicate (or a trial that a retry also finished) never counts as a repeat."""
    study = build_study(f"sqlite:///{tmp_path / 'd.db'}", "dup", tmp_path, repeats=1,
                        galleries=False)
    _run_fake_trial(study, None, None, 0.01, 0.8, 0, EPOCHS)  # the same point, repeat 0
    table = tables.comparison_frame(tables.trials_frame(study), ["weight_decay",
                                                                 "train_fraction"])
    best = table.iloc[0]
    assert (best["weight_decay"], best["train_fraction"], best["n"]) == (0.01, 0.8, 1)
    assert pd.isna(best["best_val_dice_std"])  # one run: no spread, never "± 0.000"


def test_metric_names_are_checked():
    assert tables.metric("test_dice").column == "test_dice"
    assert not tables.metric("val_loss").higher_is_better
    with pytest.raises(TunerError, match=r"--metric: got 'dice', expected one of val_dice"):
        tables.metric("dice")


def test_config_summary_separates_searched_from_fixed(fake_study):
    varied, fixed = tables.config_summary(fake_study)
    assert varied == {"train_fraction": [0.4, 0.8], "weight_decay": [0.01, 0.1],
                      "seed": [0, 1, 2]}
    assert fixed == {"image_size": 32, "base_channels": 4, "epochs": EPOCHS, "loss": "dice"}


def test_comparison_carries_the_paired_comparison_with_the_best(fake_study):
    """Each configuration against the best, run by run (the same repeat index)."""
    from scipy import stats

    table = tables.comparison_frame(tables.trials_frame(fake_study),
                                    ["weight_decay", "train_fraction"])
    best, row = table.iloc[0], table.iloc[2]  # wd=0.1, tf=0.8: peaks at epoch 3
    assert pd.isna(best["best_val_dice_pairs"]) and best["best_val_dice_mark"] == "best"
    mine = [score(0.1, 0.8, r) * math.sqrt(3 / 4) for r in (0, 1)]
    theirs = [score(0.01, 0.8, r) for r in (0, 1)]
    assert row["best_val_dice_pairs"] == 2
    assert row["best_val_dice_diff"] == pytest.approx(np.mean(np.subtract(mine, theirs)))
    assert row["best_val_dice_p"] == pytest.approx(stats.ttest_rel(mine, theirs).pvalue,
                                                   rel=1e-6)
    interval = stats.ttest_rel(mine, theirs).confidence_interval(0.95)  # 2 pairs: the t's
    assert row["best_val_dice_method"] == "t"
    assert (row["best_val_dice_ci_low"], row["best_val_dice_ci_high"]) == pytest.approx(
        (interval.low, interval.high), rel=1e-6)
    assert (row["best_val_dice_ci_high"] < 0) == (row["best_val_dice_p"] < 0.05)
    assert row["best_val_dice_mark"] == "" and row["test_dice_pairs"] == 2
    assert str(table["best_val_dice_pairs"].dtype) == "Int64"
