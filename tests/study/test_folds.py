"""Folds end to end: `tuner run --set folds=3` trains every configuration once per fold,
paired across configurations, and the winner rule reads the folds' mean."""

from __future__ import annotations

import statistics
import textwrap

import optuna
from optuna.trial import TrialState
from typer.testing import CliRunner

from tests.tiny import TINY_SETS
from tuner import records
from tuner.cli import app
from tuner.results.runs import choose_winner, configurations

runner = CliRunner()

GRID = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="{name}", sampler="grid", pruner="median",
                      space=dict(weight_decay=categorical([0.1, 0.0])))
"""
SAMPLED = """
    from tuner import StudySpec, float_range
    study = StudySpec(name="{name}", sampler="random", pruner="none",
                      space=dict(lr=float_range(1e-4, 1e-2, log=True)))
"""


def run_study(tmp_path, url: str, body: str, name: str, *args: str) -> list:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body.format(name=name)))
    result = runner.invoke(app, ["run", str(path), "--storage", url, *TINY_SETS,
                                 "--set", "folds=3", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return optuna.load_study(study_name=name, storage=url).get_trials()


def test_a_grid_with_folds_trains_each_point_once_per_fold_paired_and_wins_by_the_mean(
        tmp_path, sqlite_url):
    trials = run_study(tmp_path, sqlite_url, GRID, "folded")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6  # 2 points x 3 folds
    by_point: dict[float, list] = {}
    for trial in trials:
        by_point.setdefault(trial.params["weight_decay"], []).append(trial)
        config = trial.user_attrs[records.CONFIG]
        assert config["folds"] == 3 and config["fold"] == records.fold_of(trial)
        assert trial.user_attrs[records.FOLD] == records.repeat_of(trial)  # repeats=1
    for runs in by_point.values():
        assert sorted(records.fold_of(t) for t in runs) == [0, 1, 2]  # each fold once
    # fold j is the same images in both configurations: the same trivial Dice and seed
    paired = {}
    for trial in trials:
        key = (records.repeat_of(trial), trial.user_attrs[records.SEED],
               trial.user_attrs[records.TRIVIAL_DICE])
        paired.setdefault(records.fold_of(trial), set()).add(key)
    assert all(len(keys) == 1 for keys in paired.values())
    assert len({next(iter(keys))[2] for keys in paired.values()}) == 3  # folds differ
    # the winner rule: each configuration's score is the mean over its three folds
    study = optuna.load_study(study_name="folded", storage=sqlite_url)
    found = configurations(study, ["weight_decay"])
    assert [c.n for c in found] == [3, 3]
    for configuration in found:
        values = [t.value for t in study.trials
                  if t.params["weight_decay"] == configuration.values["weight_decay"]]
        assert configuration.mean == statistics.fmean(values)
    winner = choose_winner(study, ["weight_decay"])
    assert winner.n == 3 and winner.mean == max(c.mean for c in found)


def test_a_sampled_configuration_is_trained_on_its_other_folds_next(tmp_path, sqlite_url):
    trials = run_study(tmp_path, sqlite_url, SAMPLED, "sampled", "--n-trials", "3")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert len({t.params["lr"] for t in trials}) == 1  # one configuration ...
    assert [records.fold_of(t) for t in trials] == [0, 1, 2]  # ... on its three folds
