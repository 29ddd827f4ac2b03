"""Runner helpers: budgets and GPUs per worker, a lost database as one clear error."""

from __future__ import annotations

import optuna
import pytest

from tests.tiny import TINY
from tuner.errors import TunerError
from tuner.study.spec import StudySpec, categorical
from tuner.workers.local_workers import assign_gpus, split_budget
from tuner.workers.runner import RunOptions, prepare_study, run_worker


def test_split_budget_shares_trials_evenly():
    assert split_budget(None, 3) == [None, None, None]
    assert split_budget(7, 3) == [3, 2, 2]
    assert split_budget(1, 2) == [1, 0]


def test_gpus_round_robin_or_none_on_cpu():
    assert assign_gpus(3, [0, 1]) == [0, 1, 0]
    assert assign_gpus(2, []) == [None, None]
    assert assign_gpus(2, [3]) == [3, 3]


def test_lost_database_ends_the_worker_with_one_clear_line(sqlite_url):
    spec = StudySpec(name="lost", sampler="grid", pruner="none",
                     space=dict(lr=categorical([1e-3])))
    options = RunOptions(storage=sqlite_url, overrides=dict(TINY), galleries=False)
    prepare_study(spec, options)

    def objective(trial):
        raise optuna.exceptions.StorageInternalError("server closed the connection")

    with pytest.raises(TunerError, match="lost the database.*rerun the same command"):
        run_worker(spec, options, objective=objective)


def test_a_failure_whose_retry_another_worker_runs_is_not_this_runs_failure(sqlite_url):
    """A starved worker's trial taken over (failed as stale, its retry running elsewhere)
    is recovered, not a failure: the run whose trial it was exits 0."""
    from optuna.trial import TrialState

    from tuner.workers.outcome import run_outcome
    from tuner.workers.session import handed_on

    study = optuna.create_study(study_name="taken", storage=sqlite_url)
    study.enqueue_trial({"x": 1})
    first = study.ask()
    study.tell(first, state=TrialState.FAIL)  # failed as stale by another worker
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING, system_attrs={"failed_trial": 0, "retry_history": [0]}))
    retry = study.ask()  # the other worker runs the retry now
    assert retry.number == 1
    outcome = handed_on(study, run_outcome(study, set()))
    assert (len(outcome.failed), outcome.recovered, outcome.exit_code) == (0, 1, 0)
    study.tell(retry, state=TrialState.FAIL)  # a retry that failed: that run's failure
    outcome = handed_on(study, run_outcome(study, set()))
    assert len(outcome.failed) == 2 and outcome.exit_code == 1


def test_a_lost_database_is_named_by_its_cause(tmp_path):
    import sqlalchemy

    from tuner.workers.runner import lost_database

    url = f"sqlite:///{tmp_path / 'gone.db'}"
    gone = lost_database(url, sqlalchemy.exc.OperationalError("x", {}, Exception("no table")))
    assert "was deleted while the run trained" in gone and "finished trials" not in gone
    (tmp_path / "full.db").write_bytes(b"")
    full = lost_database(f"sqlite:///{tmp_path / 'full.db'}", sqlalchemy.exc.OperationalError(
        "x", {}, Exception("database or disk is full")))
    assert "the disk holding the database is full" in full
    other = lost_database("postgresql+psycopg://u:secret@h/db", sqlalchemy.exc.OperationalError(
        "x", {}, Exception("server closed the connection")))
    assert "lost the database" in other and "secret" not in other


def test_a_trial_failed_without_a_reason_says_its_worker_stopped():
    import optuna

    from tuner import records

    trial = optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL)
    assert "stopped sending heartbeats" in records.fail_reason(trial)
    trial.set_user_attr(records.FAIL_REASON, "ValueError: x")
    assert records.fail_reason(trial) == "ValueError: x"
