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


CAMPAIGN = """
    from tuner import Campaign, Stage, categorical
    campaign = Campaign(name="c", stages=[
        Stage("lr", space=dict(lr=categorical([1e-3, 3e-2])), repeats=2, pruner="none"),
        Stage("wd", space=dict(weight_decay=categorical([0.0, 0.01])), pruner="none"),
        Stage("loss", space=dict(loss=categorical(["bce", "dice"])), pruner="none"),
    ])
"""


def test_a_campaign_runs_its_stages_and_freezes_each_winner(tmp_path, sqlite_url):
    from tuner import records
    from tuner.results.runs import choose_winner

    file = write(tmp_path, "campaign", CAMPAIGN)
    rest = runner.invoke(app, ["campaign", file, "--storage", sqlite_url, *TINY_SETS])
    assert rest.exit_code == 0, rest.output
    assert "every stage frozen" in rest.stdout
    record = optuna.load_study(study_name="c", storage=sqlite_url).user_attrs[records.CAMPAIGN]
    assert list(record) == ["lr", "wd", "loss"]
    lr_stage = optuna.load_study(study_name="c/lr", storage=sqlite_url)
    assert len(lr_stage.trials) == 4  # 2 points x 2 repeats
    assert record["lr"]["fields"] == choose_winner(lr_stage, ["lr"]).fields
    assert record["lr"]["n"] == 2 and len(record["lr"]["trials"]) == 2
    for trial in optuna.load_study(study_name="c/loss", storage=sqlite_url).trials:
        config = trial.user_attrs[records.CONFIG]
        assert config["lr"] == record["lr"]["fields"]["lr"]
        assert config["weight_decay"] == record["wd"]["fields"]["weight_decay"]
    assert "final test scores of c/loss" in rest.stdout
    final = optuna.load_study(study_name="c", storage=sqlite_url).user_attrs[
        records.CAMPAIGN_FINAL]
    assert final["study"] == "c/loss" and set(final["metrics"]) >= {"dice", "iou"}
    assert (tmp_path / "exports" / "c" / "evaluation" / "test" / "per_image.csv").is_file()
    again = runner.invoke(app, ["campaign", file, "--storage", sqlite_url, *TINY_SETS])
    assert again.exit_code == 0 and again.stderr.count("frozen (") == 3
    assert len(optuna.load_study(study_name="c/lr", storage=sqlite_url).trials) == 4
    status = runner.invoke(app, ["campaign", file, "--storage", sqlite_url, "--status"])
    assert status.exit_code == 0 and status.stdout.count("frozen") >= 3


def test_the_shipped_campaign_defines_every_stage(tmp_path):
    from pathlib import Path

    from tuner.study.campaign import load_campaign
    from tuner.study.checks import check_spec

    campaign = load_campaign(Path(__file__).resolve().parents[2] / "studies" / "campaign.py")
    assert [s.name for s in campaign.stages] == ["lr", "scheduler", "regularisation", "loss",
                                                 "augmentation"]
    fixed = {"optimizer": "adam", "lr": 1e-3, "scheduler": "none", "weight_decay": 0.0,
             "dropout": 0.0, "loss": "bce_dice"}
    for stage in campaign.stages:
        check_spec(campaign.spec(stage, fixed), dict(epochs=1, synthetic_images=24,
                                                      image_size=32, base_channels=4))


SAMPLED = """
    from tuner import Campaign, Stage, categorical, float_range
    campaign = Campaign(name="s", stages=[
        Stage("lr", space=dict(lr=float_range(1e-4, 1e-2, log=True)), sampler="random",
              n_trials=6, pruner="none"),
        Stage("loss", space=dict(loss=categorical(["bce", "dice"])), pruner="none"),
    ])
"""


def test_n_trials_gives_every_sampled_stage_that_many_and_runs_them_all(tmp_path, sqlite_url):
    file = write(tmp_path, "sampled", SAMPLED)
    result = runner.invoke(app, ["campaign", file, "--storage", sqlite_url, *TINY_SETS,
                                 "--n-trials", "2"])
    assert result.exit_code == 0, result.output
    assert "every stage frozen" in result.stdout  # one command, not one per batch of trials
    assert "--n-trials 2: every sampled stage runs 2 trials in all" in result.stderr
    assert len(optuna.load_study(study_name="s/lr", storage=sqlite_url).trials) == 2
    assert len(optuna.load_study(study_name="s/loss", storage=sqlite_url).trials) == 2  # grid


def test_the_report_of_a_campaign_shows_its_lineage_and_each_stage(tmp_path, sqlite_url):
    file = write(tmp_path, "campaign", CAMPAIGN.replace('"wd", space=dict(weight_decay=categ'
                                                        'orical([0.0, 0.01]))', '"wd", '
                                                        'space=dict(weight_decay=categorical'
                                                        '([0.0]))'))
    assert runner.invoke(app, ["campaign", file, "--storage", sqlite_url,
                               *TINY_SETS]).exit_code == 0
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["report", "c", "--storage", sqlite_url, "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "Campaign c: lineage" in page and "weight_decay = 0.0" in page
    assert "Final test scores" in page and "per-image Dice: mean" in page
    assert all(f"c/{stage}" in page for stage in ("lr", "wd", "loss"))
    assert "Compute in all: " in page and " CPU s of training and validation" in page
