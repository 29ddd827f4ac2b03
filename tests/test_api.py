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
