"""``tuner evaluate``: which trial (--trial, --best), its model (saved weights or a retrain),
its scores on a split or another dataset, and the files it writes."""

from __future__ import annotations

import errno
import textwrap

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution
from PIL import Image
from typer.testing import CliRunner

from tests.tiny import TINY, TINY_SETS
from tuner import records
from tuner.cli import app
from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.inference.evaluation import Evaluation, evaluate_trial, pick_trial
from tuner.inference.native import NATIVE_COLUMNS
from tuner.inference.per_image import THRESHOLD_COLUMNS
from tuner.reports import evaluation_files as files

runner = CliRunner()
STUDY = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="ev", sampler="grid", pruner="none",
                      space=dict(lr=categorical([1e-3, 3e-3])))
"""


@pytest.fixture
def study_file(tmp_path):
    path = tmp_path / "study.py"
    path.write_text(textwrap.dedent(STUDY))
    return path


def run_study(study_file, url, *args: str) -> optuna.Study:
    result = runner.invoke(app, ["run", str(study_file), "--storage", url, "--no-galleries",
                                 *TINY_SETS, *args])
    assert result.exit_code == 0, result.output
    return optuna.load_study(study_name="ev", storage=url)


def folder_dataset(root, sizes) -> str:
    """A folder dataset of RGB images of ``sizes`` (width, height) with square masks."""
    rng = np.random.default_rng(0)
    for k, (width, height) in enumerate(sizes):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(exist_ok=True)
        pixels = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"p{k}.png")
        mask = np.zeros((height, width), np.uint8)
        mask[: height // 2, : width // 2] = 255
        Image.fromarray(mask).save(root / "masks" / f"p{k}.png")
    return f"folder:{root}"


def test_saved_weights_score_any_split_and_dataset(study_file, sqlite_url, tmp_path):
    study = run_study(study_file, sqlite_url, "--save-weights")
    best = study.best_trial
    evaluation = evaluate_trial(sqlite_url, "ev")
    assert evaluation.trial == best.number and evaluation.split == "test"
    assert evaluation.weights == "saved" and not evaluation.note
    for name, value in best.user_attrs[records.TEST].items():
        assert evaluation.metrics[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    val = evaluate_trial(sqlite_url, "ev", best.number, split="val")
    assert val.metrics["dice"] == pytest.approx(best.value, rel=1e-4, abs=1e-5)
    everything = evaluate_trial(sqlite_url, "ev", split="all")
    assert everything.images == TINY["synthetic_images"] == len(everything.per_image)
    # --data: every image of another dataset, not its test part (unless --split says so)
    sizes = [(40, 24), (32, 32), (20, 50), (64, 64), (33, 17), (16, 16), (48, 30)]
    spec = folder_dataset(tmp_path / "other", sizes)
    other = evaluate_trial(sqlite_url, "ev", dataset=spec)
    assert other.split == "all" and other.images == 7
    assert sorted(other.per_image["image"]) == [f"p{k}" for k in range(7)]
    # scored at each image's own size too, against its mask file
    own = other.native.set_index("image")
    assert {n: (r.width, r.height) for n, r in own.iterrows()} == {
        f"p{k}": size for k, size in enumerate(sizes)}
    assert (own["tp"] + own["fn"]).tolist() == [
        (sizes[int(n[1:])][1] // 2) * (sizes[int(n[1:])][0] // 2) for n in own.index]
    assert evaluate_trial(sqlite_url, "ev", dataset=spec, split="test").images == 1


def test_the_evaluation_files(study_file, sqlite_url, tmp_path):
    run_study(study_file, sqlite_url, "--save-weights")
    out, gallery = tmp_path / "out", tmp_path / "g.png"
    shown = runner.invoke(app, ["evaluate", "ev", "--storage", sqlite_url, "--out", str(out),
                                "--gallery", str(gallery)])
    assert shown.exit_code == 0, shown.output
    assert "test split (5 images of synthetic, saved weights)" in shown.output
    assert "at each image's own size: dice" in shown.output
    assert "at the training size (32 px): loss" in shown.output
    assert "which is their own size" in shown.output  # synthetic data has no files
    scores = pd.read_csv(out / "scores.csv")
    per_image = pd.read_csv(out / "per_image.csv")
    summary = pd.read_csv(out / "summary.csv")
    thresholds = pd.read_csv(out / "thresholds_at_training_size.csv")
    assert tuple(per_image.columns) == NATIVE_COLUMNS + tuple(
        f"{c}_at_training_size" for c in files.TRAINING_COLUMNS) and len(per_image) == 5
    assert tuple(thresholds.columns) == THRESHOLD_COLUMNS
    row = scores.iloc[0]
    assert row["images"] == 5 and row["weights"] == "saved" and row["split"] == "test"
    assert row["training_size"] == 32 and "which is their own size" in row["own_size"]
    assert row["image_dice_mean"] == pytest.approx(per_image["dice"].mean())
    assert row["image_dice_mean_at_training_size"] == pytest.approx(
        per_image["dice_at_training_size"].mean())
    assert row["hd95_undefined"] == per_image["hd95_px"].isna().sum()
    # synthetic images are generated at the training size: both sizes agree
    assert per_image["dice"].tolist() == pytest.approx(
        per_image["dice_at_training_size"].tolist(), abs=1e-3)
    at_half = thresholds.set_index("threshold").loc[0.5]
    assert at_half["dice"] == pytest.approx(row["dice_at_training_size"])
    assert {("dice", "own"), ("hd95_px", "own"), ("asd_px", "own"), ("dice", "training")} <= set(
        zip(summary["metric"], summary["size"], strict=True))
    for name in ("best.png", "worst.png", "plots/per_image_dice.html",
                 "plots/dice_by_threshold.html"):
        assert (out / name).stat().st_size > 0, name
    assert Image.open(gallery).size[0] > 0 and Image.open(out / "worst.png").size[0] > 0
    default = runner.invoke(app, ["evaluate", "ev", "--storage", sqlite_url, "--split", "val"])
    assert default.exit_code == 0, default.output
    assert (tmp_path / "exports" / "ev" / "evaluation" / "val" / "per_image.csv").exists()


def add_trial(study, lr: float, repeat: int, dice: float) -> int:
    """A completed trial of configuration ``lr`` with a tiny stored config and no weights."""
    config = TrainConfig.from_dict({**TINY, "lr": lr, "seed": repeat}).to_dict()
    trial = optuna.trial.create_trial(
        params={"lr": lr}, distributions={"lr": CategoricalDistribution([1e-3, 3e-3])},
        value=dice, user_attrs={records.CONFIG: config, records.REPEAT: repeat,
                                records.SECONDS: 1.0})
    study.add_trial(trial)
    return study.trials[-1].number


def test_best_is_the_best_mean_not_the_luckiest_trial(sqlite_url):
    study = optuna.create_study(study_name="ev", storage=sqlite_url, direction="maximize")
    lucky = add_trial(study, 1e-3, 0, 0.95)  # the luckiest single trial, mean 0.70
    add_trial(study, 1e-3, 1, 0.45)
    add_trial(study, 3e-3, 0, 0.80)  # the best mean, 0.81
    steady = add_trial(study, 3e-3, 1, 0.82)
    trial, why = pick_trial(study, best=True)
    assert trial.number == steady != lucky and "winning configuration" in why
    assert pick_trial(study, number=lucky)[0].number == lucky
    # no weights were saved: evaluate retrains that trial's config with its seed
    result = runner.invoke(app, ["evaluate", "ev", "--storage", sqlite_url, "--best"])
    assert result.exit_code == 0, result.output
    assert f"trial {steady} has no saved weights: retrained its config with seed 1" in (
        result.stderr)
    assert f"trial {steady}, test split" in result.stdout and "retrained weights" in result.stdout


def test_a_retrain_reproduces_a_trial_run_without_weights(study_file, sqlite_url):
    study = run_study(study_file, sqlite_url, "--n-trials", "1")
    trial = study.trials[0]  # the other grid point waits: --best would refuse to choose
    evaluation = evaluate_trial(sqlite_url, "ev", trial.number)
    assert evaluation.weights == "retrained" and "no saved weights" in evaluation.note
    # the same config and seed train the same model: the stored test scores come back
    stored = trial.user_attrs[records.TEST]
    assert evaluation.metrics["dice"] == pytest.approx(stored["dice"], rel=1e-4, abs=1e-5)


def test_mistakes_exit_2_with_one_line(sqlite_url, tmp_path):
    study = optuna.create_study(study_name="ev", storage=sqlite_url, direction="maximize")
    add_trial(study, 1e-3, 0, 0.5)
    running = study.ask().number
    plain = tmp_path / "plain.txt"
    plain.write_text("a file")
    cases = {
        ("--split", "everything"): "expected one of test, val, train, all",
        ("--trial", "0", "--best"): "got both, expected one of them",
        ("--trial", str(running)): "the trial is running; expected a completed trial",
        ("--trial", "99"): "has no such trial",
        ("--best",): "1 trial(s) waiting or running",
        ("--gallery", str(tmp_path)): "is a folder",
        ("--trial", "0", "--gallery", str(plain / "g.png")): "plain.txt is a file, not a "
                                                             "folder",
        ("--trial", "0", "--out", str(plain)): "exists and is not a folder",
        ("--trial", "0", "--out", str(plain / "ev")): "plain.txt is a file, not a folder",
        ("--split", "bogus", "--out", str(tmp_path / "ev")): "got 'bogus', expected one of",
        ("--trial", "0", "--data", "nokind:x"): "nokind",
        ("--storage", f"sqlite:///{tmp_path / 'nope.db'}"): "nope.db",
    }
    for args, message in cases.items():
        result = runner.invoke(app, ["evaluate", "ev", "--storage", sqlite_url, *args])
        assert result.exit_code == 2 and message in result.stderr, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1
    left = {p.name for p in tmp_path.iterdir()} - {"tuner.db", "tuner.lock", "artifacts"}
    assert left == {"plain.txt"}  # no exports/, no ev/, no nope.db
    with pytest.raises(TunerError, match="no completed trial"):
        pick_trial(optuna.create_study(study_name="empty", storage=sqlite_url))


def _evaluation(picture) -> Evaluation:
    """A tiny evaluation result whose gallery is ``picture``."""
    per_image = pd.DataFrame({"image": ["a", "b"], "dice": [0.5, 0.9], "iou": [0.3, 0.8],
                              "true_fraction": [0.1, 0.2], "predicted_fraction": [0.1, 0.3]})
    thresholds = pd.DataFrame({"threshold": [0.5], "dice": [0.7], "iou": [0.5],
                               "precision": [0.7], "recall": [0.7], "mean_image_dice": [0.7]})
    image = Image.new("RGB", (8, 8))
    return Evaluation(trial=0, split="test", images=2, metrics={"dice": 0.7},
                      per_image=per_image, thresholds=thresholds,
                      pictures={"best": image, "worst": image, "gallery": picture})


class _DiskFull:
    def save(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_failed_gallery_leaves_no_evaluation_files(tmp_path, monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))  # no PNG plots
    out, gallery = tmp_path / "deep" / "ev", tmp_path / "pictures" / "g.png"
    with pytest.raises(TunerError, match=r"--gallery .*g.png: cannot write there \(No space"):
        files.write_evaluation(_evaluation(_DiskFull()), "s", out, gallery)
    assert list(tmp_path.iterdir()) == []
    written = files.write_evaluation(_evaluation(Image.new("RGB", (8, 8))), "s", out, gallery)
    assert {p.relative_to(out).as_posix() for p in written} >= {
        "scores.csv", "per_image.csv", "summary.csv", "thresholds_at_training_size.csv",
        "best.png", "worst.png"}
    assert Image.open(gallery).format == "PNG" and not list(out.glob(".*"))
    jpeg = tmp_path / "g.JPG"
    files.write_evaluation(_evaluation(Image.new("RGB", (8, 8))), "s", out, jpeg)
    assert Image.open(jpeg).format == "JPEG"


def test_default_folders_of_other_datasets_are_one_short_name_each(tmp_path):
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    exports = tmp_path / "exports"
    assert files.default_folder(url, "s", "test") == exports / "s" / "evaluation" / "test"
    assert files.default_folder(url, "s", "all", "synthetic").name == "synthetic-all"
    names = {files.default_folder(url, "s", "all", spec).name
             for spec in ("folder:/a/b", "folder:/a_b", "folder:/a b", f"folder:/{'x' * 600}")}
    assert len(names) == 4 and all(len(n) <= 100 for n in names)
