"""`tuner run` end to end on tiny sizes: records, resume, pruning, repeats, shipped studies."""

from __future__ import annotations

import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from typer.testing import CliRunner

from tests.tiny import TINY_SETS, tiny_sets_for
from tuner import records
from tuner.cli import app

STUDIES = sorted(p for p in (Path(__file__).resolve().parents[2] / "studies").glob("*.py")
                 if p.stem != "campaign")  # a campaign file: tests/study/test_campaign.py
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["run", *map(str, args)], catch_exceptions=False)


def write_study(tmp_path, body: str) -> Path:
    path = tmp_path / "study.py"
    path.write_text(textwrap.dedent(body))
    return path


def trials(url: str, name: str):
    return optuna.load_study(study_name=name, storage=url).get_trials()


GRID = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="grid", sampler="grid", pruner="none", repeats={repeats},
                      space=dict(weight_decay=categorical([0.1, 0.001]),
                                 train_fraction=categorical([0.5, 1.0])))
"""


def test_grid_study_records_everything_and_resume_repeats_nothing(tmp_path, sqlite_url):
    study_file = write_study(tmp_path, GRID.format(repeats=1))
    first = run(study_file, "--storage", sqlite_url, "--n-trials", "3", *TINY_SETS)
    assert first.exit_code == 0, first.output
    assert len(trials(sqlite_url, "grid")) == 4  # 3 done + 1 still waiting
    second = run(study_file, "--storage", sqlite_url, *TINY_SETS)
    assert second.exit_code == 0, second.output
    third = run(study_file, "--storage", sqlite_url, *TINY_SETS)
    assert "nothing left to run" in third.output
    done = trials(sqlite_url, "grid")
    assert [t.state for t in done] == [TrialState.COMPLETE] * 4
    assert sorted((t.params["weight_decay"], t.params["train_fraction"]) for t in done) == [
        (0.001, 0.5), (0.001, 1.0), (0.1, 0.5), (0.1, 1.0)]
    trial = done[0]
    attrs = trial.user_attrs
    assert attrs[records.CONFIG]["weight_decay"] == trial.params["weight_decay"]
    assert attrs[records.CONFIG]["epochs"] == 2
    assert set(attrs[records.CURVES]) == set(records.CURVE_NAMES)
    assert all(len(v) == 2 for v in attrs[records.CURVES].values())
    assert attrs[records.EPOCHS_RUN] == 2 and attrs[records.BEST_EPOCH] in (1, 2)
    assert trial.value == pytest.approx(attrs[records.BEST_VAL_DICE])
    assert trial.value == pytest.approx(max(attrs[records.CURVES]["val_dice"]))
    assert set(trial.intermediate_values) == {1, 2}
    assert 0 <= attrs[records.TEST]["dice"] <= 1
    assert attrs[records.SECONDS] > 0
    storage = optuna.load_study(study_name="grid", storage=sqlite_url)._storage
    metas = optuna.artifacts.get_all_artifact_meta(trial, storage=storage)
    assert {m.filename for m in metas} == {"gallery_epoch001.png", "gallery_epoch002.png",
                                           records.CURVES_ARTIFACT}


def test_failed_grid_point_runs_again_on_rerun(tmp_path, sqlite_url):
    study_file = write_study(tmp_path, GRID.format(repeats=1))
    assert run(study_file, "--storage", sqlite_url, "--n-trials", "1", *TINY_SETS).exit_code == 0
    study = optuna.load_study(study_name="grid", storage=sqlite_url)
    waiting = study.get_trials(states=(TrialState.WAITING,))[0]
    study._storage.set_trial_state_values(waiting._trial_id, TrialState.RUNNING)
    study.tell(waiting.number, state=TrialState.FAIL)  # as if its worker crashed
    assert run(study_file, "--storage", sqlite_url, *TINY_SETS).exit_code == 0
    done = [t for t in trials(sqlite_url, "grid") if t.state == TrialState.COMPLETE]
    assert len(done) == 4
    assert len({(t.params["weight_decay"], t.params["train_fraction"]) for t in done}) == 4


def test_a_mistake_found_while_trials_ran_fails_its_trial_and_exits_1(
        tmp_path, sqlite_url, monkeypatch):
    """Exit 2 promises that nothing ran; a mistake that shows only in a trial (here: the
    data went missing after the checks) fails that trial, keeps the finished ones and
    exits 1 with its one line."""
    import tuner.study.objective as objective_module
    from tuner.errors import TunerError

    study_file = write_study(tmp_path, GRID.format(repeats=1))
    real, calls = objective_module.build_splits, []

    def splits_then_gone(cfg):
        calls.append(cfg)
        if len(calls) > 1:
            raise TunerError("dataset 'folder:/data/gone': the folder is missing")
        return real(cfg)

    monkeypatch.setattr(objective_module, "build_splits", splits_then_gone)
    result = run(study_file, "--storage", sqlite_url, *TINY_SETS)
    assert result.exit_code == 1, result.output
    assert "tuner: error: dataset 'folder:/data/gone': the folder is missing" in result.output
    assert "tuner: 1 of 2 trials failed (last, trial 1: dataset 'folder:/data/gone'" \
        in result.output  # every exit 1 says how many failed
    assert "Traceback" not in result.output
    states = [t.state for t in trials(sqlite_url, "grid")]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.WAITING,
                      TrialState.WAITING]


def test_repeats_are_paired_by_seed(tmp_path, sqlite_url):
    study_file = write_study(tmp_path, """
        from tuner import StudySpec, categorical
        study = StudySpec(name="rep", sampler="grid", pruner="none", repeats=2,
                          base=dict(seed=10), space=dict(dropout=categorical([0.0, 0.5])))
    """)
    assert run(study_file, "--storage", sqlite_url, *TINY_SETS).exit_code == 0
    seeds = sorted((t.params["dropout"], t.user_attrs["repeat"], t.user_attrs["seed"])
                   for t in trials(sqlite_url, "rep"))
    assert seeds == [(0.0, 0, 10), (0.0, 1, 11), (0.5, 0, 10), (0.5, 1, 11)]


def test_pruning_really_prunes(tmp_path, sqlite_url):
    study_file = write_study(tmp_path, """
        from tuner import StudySpec, categorical
        study = StudySpec(name="prune", sampler="grid", pruner="threshold",
                          pruner_options=dict(lower=0.999, n_warmup_steps=1),
                          space=dict(lr=categorical([1e-3, 1e-2])))
    """)
    result = run(study_file, "--storage", sqlite_url, *TINY_SETS, "--set", "epochs=5")
    assert result.exit_code == 0, result.output
    assert "pruned at epoch 1 (threshold: val Dice " in result.output
    for trial in trials(sqlite_url, "prune"):
        assert trial.state == TrialState.PRUNED
        assert trial.user_attrs[records.PRUNED_AT] == 1
        assert trial.user_attrs[records.EPOCHS_RUN] == 1
        assert list(trial.intermediate_values) == [1]


def test_sampled_study_stops_at_its_n_trials_and_repeats(tmp_path, sqlite_url):
    study_file = write_study(tmp_path, """
        from tuner import StudySpec, float_range
        study = StudySpec(name="tpe", sampler="tpe", pruner="none", n_trials=4, repeats=2,
                          space=dict(lr=float_range(1e-4, 1e-2, log=True)))
    """)
    assert run(study_file, "--storage", sqlite_url, *TINY_SETS).exit_code == 0
    done = trials(sqlite_url, "tpe")
    assert len(done) == 4
    by_lr = {}
    for t in done:
        by_lr.setdefault(t.params["lr"], []).append(t.user_attrs["repeat"])
    assert sorted(map(sorted, by_lr.values())) == [[0, 1], [0, 1]]
    assert "nothing left" in run(study_file, "--storage", sqlite_url, *TINY_SETS).output
    assert run(study_file, "--storage", sqlite_url, "--n-trials", "1",
               *TINY_SETS).exit_code == 0
    assert len(trials(sqlite_url, "tpe")) >= 5


def test_a_sampled_configuration_the_study_holds_is_not_trained_again(tmp_path, sqlite_url):
    """Two configurations, six sampled trials: the draws beyond them are duplicates,
    recorded as such (PRUNED, untrained), and no table counts one as a repeat."""
    study_file = write_study(tmp_path, """
        from tuner import StudySpec, categorical
        study = StudySpec(name="small", sampler="random", pruner="none", n_trials=6,
                          space=dict(loss=categorical(["bce", "dice"])))
    """)
    result = run(study_file, "--storage", sqlite_url, *TINY_SETS, "--workers", "1")
    assert result.exit_code == 0, result.output
    done = trials(sqlite_url, "small")
    complete = [t for t in done if t.state == TrialState.COMPLETE]
    duplicates = [t for t in done if records.DUPLICATE_OF in t.user_attrs]
    assert len(done) == 6 and len(complete) + len(duplicates) == 6
    assert sorted(t.params["loss"] for t in complete) == ["bce", "dice"]
    by_number = {t.number: t for t in done}
    for trial in duplicates:
        assert trial.state == TrialState.PRUNED and records.EPOCHS_RUN not in trial.user_attrs
        assert by_number[trial.user_attrs[records.DUPLICATE_OF]].params == trial.params
    assert f"{len(duplicates)} sampled configuration(s) were ones the study held" in \
        result.output
    assert "skipped: duplicate of trial" in result.output
    from tuner.reports import tables

    study = optuna.load_study(study_name="small", storage=sqlite_url)
    comparison = tables.comparison_frame(tables.trials_frame(study), ["loss"])
    assert list(comparison["n"]) == [1, 1] and list(comparison["pruned"]) == [0, 0]


@pytest.mark.parametrize("study_file", STUDIES, ids=[p.stem for p in STUDIES])
def test_every_shipped_study_runs_one_tiny_trial(study_file, sqlite_url):
    result = run(study_file, "--storage", sqlite_url, "--n-trials", "1", "--no-galleries",
                 *tiny_sets_for(study_file))
    assert result.exit_code == 0, result.output
    name = study_file.stem
    finished = [t for t in trials(sqlite_url, name) if t.state.is_finished()]
    assert len(finished) == 1 and finished[0].state != TrialState.FAIL


def test_dashboard_notes_say_the_question_and_each_trials_settings(tmp_path, sqlite_url):
    from optuna_dashboard._note import get_note_from_system_attrs

    study_file = write_study(tmp_path, GRID.format(repeats=1).replace(
        'name="grid",', 'name="grid", question="Which decay at which fraction?",'))
    assert run(study_file, "--storage", sqlite_url, "--n-trials", "1", *TINY_SETS,
               "--no-galleries").exit_code == 0
    study = optuna.load_study(study_name="grid", storage=sqlite_url)
    attrs = study._storage.get_study_system_attrs(study._study_id)
    study_note = get_note_from_system_attrs(attrs, None)["body"]
    assert "Which decay at which fraction?" in study_note and "`weight_decay`" in study_note
    trial = next(t for t in study.get_trials() if t.state == TrialState.COMPLETE)
    trial_note = get_note_from_system_attrs(attrs, trial._trial_id)["body"]
    assert f"weight_decay={trial.params['weight_decay']}" in trial_note
    assert "repeat 0, seed 0" in trial_note and "`epochs=2`" in trial_note


def test_best_lists_trials_as_table_json_and_csv(tmp_path, sqlite_url):
    import csv
    import io
    import json

    study_file = write_study(tmp_path, GRID.format(repeats=1))
    assert run(study_file, "--storage", sqlite_url, "--no-galleries", *TINY_SETS).exit_code == 0
    values = sorted((t.value for t in trials(sqlite_url, "grid")), reverse=True)
    as_csv = runner.invoke(app, ["best", "grid", "--storage", sqlite_url, "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [float(r["val_dice"]) for r in rows] == pytest.approx(values)
    assert {"weight_decay", "train_fraction", "best_epoch", "n", "top_trial"} <= set(rows[0])
    assert rows[0]["mark"] == "best" and all(r["n"] == "1" for r in rows)
    as_json = runner.invoke(app, ["best", "grid", "--storage", sqlite_url, "--format", "json",
                                  "--top", "2"])
    assert [r["val_dice"] for r in json.loads(as_json.stdout)] == pytest.approx(values[:2])
    table = runner.invoke(app, ["best", "grid", "--storage", sqlite_url])
    assert table.exit_code == 0 and "best configurations of 'grid'" in table.stdout


def test_the_runtime_line_is_decided_at_each_workers_thread_count(tmp_path, sqlite_url,
                                                                 monkeypatch):
    """Two workers train on one thread each here, and precision=auto may choose otherwise
    at one thread than at two: the line says what the workers will compute in."""
    from tuner.workers import local_workers, session

    decided_at = []
    real = session.resolve_runtime

    def recording(cfg):
        decided_at.append(cfg.threads)
        return real(cfg.replace(threads=0))  # leave this test process's threads alone

    monkeypatch.setattr(session, "resolve_runtime", recording)
    monkeypatch.setattr(session, "choose_workers", lambda *args: (2, "as asked"))
    monkeypatch.setattr(session, "run_local", lambda *args: [])  # train nothing
    result = run(write_study(tmp_path, GRID.format(repeats=1)), "--storage", sqlite_url,
                 *TINY_SETS)
    assert "runtime: cpu" in result.output
    assert decided_at == [local_workers.threads_per_worker(2)]
