"""Campaigns: a study file fixes the winner of an earlier study with best_of()."""

from __future__ import annotations

import textwrap

import optuna
from typer.testing import CliRunner

from tests.tiny import TINY_SETS
from tuner.cli import app

runner = CliRunner()
FIRST = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="stage1", sampler="grid", pruner="none",
                      space=dict(optimizer=categorical(["adam", "sgd"]),
                                 lr=categorical([1e-3, 3e-2])))
"""
SECOND = """
    from tuner import StudySpec, best_of, categorical
    study = StudySpec(name="stage2", sampler="grid", pruner="none",
                      base=best_of("stage1"),
                      space=dict(weight_decay=categorical([0.0, 0.01])))
"""


def write(tmp_path, name: str, body: str):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_second_stage_fixes_the_first_stages_best(tmp_path, sqlite_url):
    first, second = write(tmp_path, "first", FIRST), write(tmp_path, "second", SECOND)
    early = runner.invoke(app, ["run", second, "--storage", sqlite_url, *TINY_SETS])
    assert early.exit_code == 2
    assert "nothing was stored there" in early.stderr and "second.py" in early.stderr
    assert not (tmp_path / "tuner.db").exists()  # reading the storage created nothing
    assert runner.invoke(app, ["run", first, "--storage", sqlite_url, "--no-galleries",
                               *TINY_SETS]).exit_code == 0
    best = optuna.load_study(study_name="stage1", storage=sqlite_url).best_trial
    result = runner.invoke(app, ["run", second, "--storage", sqlite_url, "--no-galleries",
                                 *TINY_SETS])
    assert result.exit_code == 0, result.output
    stage2 = optuna.load_study(study_name="stage2", storage=sqlite_url)
    for trial in stage2.trials:
        config = trial.user_attrs["config"]
        assert (config["optimizer"], config["lr"]) == (best.params["optimizer"],
                                                      best.params["lr"])
    base = stage2.user_attrs["base"]
    assert (base["optimizer"], base["lr"]) == (best.params["optimizer"], best.params["lr"])
