"""Saved weights (--save-weights) and evaluating a stored trial later."""

from __future__ import annotations

import textwrap

import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.tiny import TINY_SETS
from tuner.cli import app
from tuner.errors import TunerError
from tuner.reports.evaluation import evaluate_trial

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


def test_saved_weights_reproduce_the_trials_test_scores(study_file, sqlite_url, tmp_path):
    result = runner.invoke(app, ["run", str(study_file), "--storage", sqlite_url,
                                 "--save-weights", "--no-galleries", *TINY_SETS])
    assert result.exit_code == 0, result.output
    import optuna

    study = optuna.load_study(study_name="ev", storage=sqlite_url)
    best = study.best_trial
    evaluation = evaluate_trial(sqlite_url, "ev", gallery=tmp_path / "g.png")
    assert evaluation.trial == best.number and evaluation.split == "test"
    for name, value in best.user_attrs["test"].items():
        assert evaluation.metrics[name] == pytest.approx(value, rel=1e-4, abs=1e-5), name
    assert Image.open(tmp_path / "g.png").size[0] > 0
    val = evaluate_trial(sqlite_url, "ev", best.number, split="val")
    assert val.metrics["dice"] == pytest.approx(best.value, rel=1e-4, abs=1e-5)
    shown = runner.invoke(app, ["evaluate", "ev", "--storage", sqlite_url])
    assert shown.exit_code == 0 and f"trial {best.number}, test split" in shown.output


def test_trial_without_weights_says_how_to_get_them(study_file, sqlite_url):
    assert runner.invoke(app, ["run", str(study_file), "--storage", sqlite_url,
                               "--n-trials", "1", "--no-galleries", *TINY_SETS]).exit_code == 0
    with pytest.raises(TunerError, match="no saved weights; run the study with --save-weights"):
        evaluate_trial(sqlite_url, "ev")
    result = runner.invoke(app, ["evaluate", "ev", "--storage", sqlite_url, "--split", "all"])
    assert result.exit_code == 2 and "expected one of test, val, train" in result.stderr
