"""tuner.api: what a notebook does, without the command line."""

from __future__ import annotations

import io

import optuna
import pytest
from rich.console import Console

from tests.tiny import TINY
from tuner import StudySpec, api, categorical
from tuner.errors import TunerError


def test_a_notebook_runs_exports_and_trains_through_the_api(tmp_path, sqlite_url):
    spec = StudySpec(name="nb", sampler="grid", pruner="none",
                     space=dict(lr=categorical([1e-3, 1e-2])))
    said = io.StringIO()
    outcome = api.run_study(spec, storage=sqlite_url, sets=TINY, workers=1, galleries=False,
                            console=Console(file=said, width=100))
    assert outcome.exit_code == 0 and outcome.complete == 2 and not outcome.failed
    study = optuna.load_study(study_name="nb", storage=sqlite_url)
    assert sorted(t.params["lr"] for t in study.trials) == [1e-3, 1e-2]
    assert "study 'nb'" in said.getvalue()
    paths = api.export("nb", storage=sqlite_url, out=tmp_path / "out", formats="csv,md")
    assert any(str(p).endswith("trials.csv") for p in paths)
    result = api.train(sets={**TINY, "epochs": 1}, console=Console(file=io.StringIO()))
    assert result.config.epochs == 1 and 0.0 <= result.test["dice"] <= 1.0


def test_a_mistake_raises_a_tuner_error_before_anything_is_stored(tmp_path, sqlite_url):
    spec = StudySpec(name="nb", space=dict(lr=categorical([1e-3])), sampler="grid")
    with pytest.raises(TunerError, match="unknown config field 'epoch'"):
        api.run_study(spec, storage=sqlite_url, sets={"epoch": 1}, workers=1)
    assert not (tmp_path / "tuner.db").exists()


# -- issue 27, item 6: every public function checks its arguments' types and ranges ---------
STUDY = "study.py"  # never read: every case fails on its arguments first
NOT_A_CONSOLE = object()
WRONG_ARGUMENTS = {
    "run_study(None)": (lambda: api.run_study(None),
                        "study: got None, expected a study file's path or a StudySpec"),
    "run_study(a number)": (lambda: api.run_study(3), "study: got 3, expected a study file"),
    "run_study(n_trials='3')": (lambda: api.run_study(STUDY, n_trials="3"),
                                "--n-trials: got '3', expected a whole number >= 1"),
    "run_study(n_trials=-1)": (lambda: api.run_study(STUDY, n_trials=-1),
                               "--n-trials: got -1, expected a whole number >= 1"),
    "run_study(n_trials=2.5)": (lambda: api.run_study(STUDY, n_trials=2.5),
                                "--n-trials: got 2.5, expected a whole number >= 1"),
    "run_study(n_trials=True)": (lambda: api.run_study(STUDY, n_trials=True),
                                 "--n-trials: got True"),
    "run_study(timeout=-5)": (lambda: api.run_study(STUDY, timeout=-5),
                              "--timeout: got -5, expected a number of seconds >= 1"),
    "run_study(timeout='5')": (lambda: api.run_study(STUDY, timeout="5"), "--timeout: got '5'"),
    "run_study(storage=123)": (lambda: api.run_study(STUDY, storage=123),
                               "--storage: got 123, expected a storage URL"),
    "run_study(study_name='')": (lambda: api.run_study(STUDY, study_name=""),
                                 "--study-name: got '', expected a non-empty name"),
    "run_study(study_name=5)": (lambda: api.run_study(STUDY, study_name=5),
                                "--study-name: got 5"),
    "run_study(sets=5)": (lambda: api.run_study(STUDY, sets=5),
                          "--set: got 5, expected a dict of config fields, or key=value"),
    "run_study(sets=[None])": (lambda: api.run_study(STUDY, sets=[None]),
                               "--set: got None, expected key=value strings"),
    "run_study(sets={1: 2})": (lambda: api.run_study(STUDY, sets={1: 2}),
                               "--set: got 1, expected config field names as keys"),
    "run_study(sets='epoch=2')": (lambda: api.run_study(STUDY, sets="epoch=2"),
                                  "unknown config field 'epoch'"),  # one assignment, not 'e'
    "run_study(data='')": (lambda: api.run_study(STUDY, data=""), "--data: got ''"),
    "run_study(data=None-like 0)": (lambda: api.run_study(STUDY, data=0), "--data: got 0"),
    "run_study(workers=0)": (lambda: api.run_study(STUDY, workers=0),
                             "--workers: got 0, expected 'auto' or a number >= 1"),
    "run_study(workers=True)": (lambda: api.run_study(STUDY, workers=True),
                                "--workers: got True"),
    "run_study(save_weights='no')": (lambda: api.run_study(STUDY, save_weights="no"),
                                     "--save-weights: got 'no', expected True or False"),
    "run_study(devices=[-1])": (lambda: api.run_study(STUDY, devices=[-1]),
                                "--devices: got -1, expected GPU numbers >= 0"),
    "run_study(devices='0,1')": (lambda: api.run_study(STUDY, devices="0,1"),
                                 "--devices: got '0,1'"),
    "run_study(heartbeat_interval=0)": (lambda: api.run_study(STUDY, heartbeat_interval=0),
                                        "--heartbeat-interval: got 0, expected a number of "
                                        "seconds >= 1"),
    "run_study(grace_period=None)": (lambda: api.run_study(STUDY, grace_period=None),
                                     "--grace-period: got None"),
    "run_study(console=a string)": (lambda: api.run_study(STUDY, console="stderr"),
                                    "console: got 'stderr', expected a rich Console"),
    "run_campaign(None)": (lambda: api.run_campaign(None),
                           "campaign: got None, expected a campaign file's path or a Campaign"),
    "run_campaign(n_trials=0)": (lambda: api.run_campaign("c.py", n_trials=0),
                                 "--n-trials: got 0, expected a whole number >= 1"),
    "run_campaign(sets='e')": (lambda: api.run_campaign("c.py", sets="e"),
                               "--set: got 'e', expected key=value"),
    "campaign_status(None)": (lambda: api.campaign_status(None),
                              "campaign: got None, expected a campaign file's path"),
    "campaign_status(storage=1.5)": (lambda: api.campaign_status("c.py", storage=1.5),
                                     "--storage: got 1.5"),
    "export(None)": (lambda: api.export(None), "study: got None, expected a study's name"),
    "export('')": (lambda: api.export(""), "study: got '', expected a study's name"),
    "export(formats=3)": (lambda: api.export("s", formats=3), "--format: got 3"),
    "export(formats=[None])": (lambda: api.export("s", formats=[None]), "--format: got None"),
    "export(target=2)": (lambda: api.export("s", target=2),
                         "--target-dice: got 2, expected a validation Dice between 0 and 1"),
    "export(target=-0.1)": (lambda: api.export("s", target=-0.1), "--target-dice: got -0.1"),
    "export(metric=None)": (lambda: api.export("s", metric=None), "--metric: got None"),
    "export(out=5)": (lambda: api.export("s", out=5), "--out: got 5"),
    "report(None)": (lambda: api.report(None), "studies: got None, expected one or more"),
    "report([])": (lambda: api.report([]), "studies: got [], expected one or more"),
    "report(['a', None])": (lambda: api.report(["a", None]), "studies: got None"),
    "report(target='high')": (lambda: api.report("s", target="high"),
                              "--target-dice: got 'high'"),
    "evaluate(trial='0')": (lambda: api.evaluate("s", trial="0"),
                            "--trial: got '0', expected a trial number >= 0"),
    "evaluate(trial=-1)": (lambda: api.evaluate("s", trial=-1), "--trial: got -1"),
    "evaluate(best='yes')": (lambda: api.evaluate("s", best="yes"),
                             "--best: got 'yes', expected True or False"),
    "evaluate(split=3)": (lambda: api.evaluate("s", split=3), "--split: got 3"),
    "evaluate(gallery=1)": (lambda: api.evaluate("s", gallery=1), "--gallery: got 1"),
    "evaluate(native=None)": (lambda: api.evaluate("s", native=None), "native: got None"),
    "evaluate(data=[])": (lambda: api.evaluate("s", data=[]), "--data: got []"),
    "predict(images=None)": (lambda: api.predict("s", images=None, out="o"),
                             "--images: got None, expected a folder of images"),
    "predict(out=None)": (lambda: api.predict("s", images="i", out=None),
                          "--out: got None, expected a folder for the masks"),
    "predict(threshold='0.5')": (lambda: api.predict("s", images="i", out="o",
                                                     threshold="0.5"),
                                 "--threshold: got '0.5', expected a probability between 0 "
                                 "and 1 (both excluded)"),
    "predict(threshold=1)": (lambda: api.predict("s", images="i", out="o", threshold=1),
                             "--threshold: got 1"),
    "predict(max_image_pixels=-1)": (lambda: api.predict("s", images="i", out="o",
                                                         max_image_pixels=-1),
                                     "--max-image-pixels: got -1, expected a number of "
                                     "pixels >= 1"),
    "predict(trial=None-like '')": (lambda: api.predict("s", images="i", out="o", trial=""),
                                    "--trial: got ''"),
    "train(sets=5)": (lambda: api.train(sets=5), "--set: got 5"),
    "train(sets='epochs=x')": (lambda: api.train(sets="epochs=x"), "'epochs'"),
    "train(on_epoch=3)": (lambda: api.train(on_epoch=3),
                          "on_epoch: got 3, expected a function or None"),
    "train(console=NOT_A_CONSOLE)": (lambda: api.train(console=NOT_A_CONSOLE), "console: got"),
    "settings(data=5)": (lambda: api.settings(data=5), "--data: got 5"),
    "workers_of('0')": (lambda: api.workers_of("0"), "--workers: got '0'"),
    "workers_of(1.5)": (lambda: api.workers_of(1.5), "--workers: got 1.5"),
}


@pytest.mark.parametrize("case", list(WRONG_ARGUMENTS))
def test_wrong_arguments_are_one_line_tuner_errors(case, tmp_path, monkeypatch):
    """Wrong types, None, negative numbers and strings: a TunerError naming the argument as
    the command does, before anything is stored (no database, no folder)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_STORAGE", f"sqlite:///{tmp_path / 'tuner.db'}")
    call, message = WRONG_ARGUMENTS[case]
    with pytest.raises(TunerError) as raised:
        call()
    text = str(raised.value)
    assert message in text and "\n" not in text, text
    assert [p.name for p in tmp_path.iterdir()] == [], "something was written"


def test_a_string_is_one_assignment_and_one_study_name():
    assert api.settings("epochs=3") == api.settings(["epochs=3"]) == {"epochs": 3}
    assert api.settings({"epochs": 3}, "synthetic")["dataset"] == "synthetic"
    assert api.workers_of(" auto ") is None and api.workers_of("2") == 2


@pytest.mark.parametrize(("args", "words"), [
    (["run", "s.py", "--n-trials", "-1"], "--n-trials: got -1, expected a whole number >= 1"),
    (["run", "s.py", "--timeout", "-5"], "--timeout: got -5, expected a number of seconds"),
    (["run", "s.py", "--study-name", ""], "--study-name: got '', expected a non-empty name"),
    (["campaign", "c.py", "--n-trials", "0"], "--n-trials: got 0, expected a whole number"),
    (["export", "s", "--target-dice", "2"], "--target-dice: got 2, expected a validation Dice"),
    (["evaluate", "s", "--trial", "-1"], "--trial: got -1, expected a trial number >= 0"),
])
def test_the_command_says_what_the_api_says(args, words, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tuner.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_STORAGE", f"sqlite:///{tmp_path / 'tuner.db'}")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().startswith(f"tuner: error: {words}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == []
