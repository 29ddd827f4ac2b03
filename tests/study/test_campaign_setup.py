"""A campaign is one setup, and every stage is checked before anything is stored."""

from __future__ import annotations

import optuna
from typer.testing import CliRunner

from tests.study.test_campaign import write
from tests.tiny import TINY_SETS
from tuner import records
from tuner.cli import app

runner = CliRunner()
TWO_STAGES = """
    from tuner import Campaign, Stage, categorical
    campaign = Campaign(name="c", stages=[
        Stage("lr", space=dict(lr=categorical([1e-3, 3e-2])), pruner="none"),
        Stage("wd", space=dict(weight_decay=categorical([0.0, 0.01])), pruner="none"),
    ])
"""


def campaign(file: str, url: str, *args: str):
    return runner.invoke(app, ["campaign", file, "--storage", url, *TINY_SETS, *args])


def error_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    return lines[0]


def test_a_resumed_campaign_with_another_set_is_refused(tmp_path, sqlite_url):
    file = write(tmp_path, "c", TWO_STAGES)
    # the first stage runs and freezes; the second is left: stop after the first stage
    first = campaign(file, sqlite_url, "--set", "epochs=3")
    assert first.exit_code == 0, first.output
    before = len(optuna.get_all_study_names(sqlite_url))
    line = error_line(campaign(file, sqlite_url, "--set", "epochs=1"))
    assert "campaign 'c'" in line and "another setup" in line
    assert "stage 'lr', fixed field 'epochs': stored 3, now 1" in line
    assert "--study-name" not in line  # tuner campaign has none
    assert len(optuna.get_all_study_names(sqlite_url)) == before
    assert campaign(file, sqlite_url, "--set", "epochs=3").exit_code == 0  # same: resumes


def test_a_finished_campaign_rerun_on_other_data_is_refused(tmp_path, sqlite_url):
    file = write(tmp_path, "c", TWO_STAGES)
    assert campaign(file, sqlite_url).exit_code == 0
    line = error_line(campaign(file, sqlite_url, "--set", "synthetic_images=36"))
    assert "another setup" in line and "synthetic" in line


def test_an_edited_frozen_stage_is_refused(tmp_path, sqlite_url):
    file = write(tmp_path, "c", TWO_STAGES)
    assert campaign(file, sqlite_url).exit_code == 0
    write(tmp_path, "c", TWO_STAGES.replace("[1e-3, 3e-2]", "[1e-3, 1e-1]"))
    line = error_line(campaign(file, sqlite_url))
    assert "stage 'lr', space 'lr'" in line


def test_a_bad_later_stage_is_found_before_the_first_trains(tmp_path, sqlite_url):
    file = write(tmp_path, "c", TWO_STAGES.replace(
        "weight_decay=categorical([0.0, 0.01])", "scheduler=categorical(['none', 'warp'])"))
    line = error_line(campaign(file, sqlite_url))
    assert "stage 'wd'" in line and "'warp'" in line
    assert not (tmp_path / "tuner.db").exists()  # nothing stored, not even a schema


def test_bad_data_creates_no_database(tmp_path, sqlite_url):
    file = write(tmp_path, "c", TWO_STAGES)
    line = error_line(campaign(file, sqlite_url, "--data", f"folder:{tmp_path / 'nope'}"))
    assert "nope" in line
    assert not (tmp_path / "tuner.db").exists()


def test_a_campaign_never_writes_into_an_unrelated_study(tmp_path, sqlite_url):
    optuna.create_study(study_name="c", storage=sqlite_url).optimize(lambda t: 1.0,
                                                                     n_trials=1)
    file = write(tmp_path, "c", TWO_STAGES)
    line = error_line(campaign(file, sqlite_url))
    assert "is not a campaign's record" in line
    study = optuna.load_study(study_name="c", storage=sqlite_url)
    assert records.CAMPAIGN_SETUP not in study.user_attrs and len(study.trials) == 1


def test_status_shows_what_an_unfinished_stage_holds(tmp_path, sqlite_url):
    file = write(tmp_path, "c", TWO_STAGES)
    stage = optuna.create_study(study_name="c/lr", storage=sqlite_url, direction="maximize")
    for state in ("COMPLETE", "COMPLETE", "FAIL", "FAIL"):
        trial = stage.ask()
        stage.tell(trial, 0.5 if state == "COMPLETE" else None,
                   state=optuna.trial.TrialState[state])
    from tuner import api
    from tuner.cli.campaign import lineage_table

    result = api.campaign_status(file, sqlite_url)
    assert result.trials == {"lr": {"COMPLETE": 2, "FAIL": 2}}
    states = list(lineage_table(result).columns[3].cells)
    assert states == ["unfinished: 2 complete, 2 failed", "to run"]
    status = runner.invoke(app, ["campaign", file, "--storage", sqlite_url, "--status"])
    assert status.exit_code == 0 and "unfinished" in status.stdout, status.output
