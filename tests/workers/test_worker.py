"""tuner.workers.worker in-process: claiming, telling, failures, budgets and dead workers.

Objectives here are plain functions (no training): the loop is the point. Every test runs
on a real SQLite file and on the real PostgreSQL.
"""

from __future__ import annotations

import threading
import time

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from tuner import records
from tuner.errors import TunerError
from tuner.storage import open_storage
from tuner.workers.heartbeat import Heartbeat
from tuner.workers.worker import claim_waiting_trial, run_trials


def make_study(url: str, name: str, **storage_options) -> optuna.Study:
    storage = open_storage(url, **storage_options)
    return optuna.create_study(study_name=name, storage=storage, direction="maximize")


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def test_claim_only_runs_each_queued_trial_once_and_stops(any_storage_url, study_name):
    study = make_study(any_storage_url, study_name)
    for x in (1, 2, 3):
        study.enqueue_trial({"x": x})
    result = run_trials(study, lambda t: t.suggest_int("x", 0, 9) / 10, claim_only=True)
    assert (result.finished, result.failed, result.stop_reason) == (3, 0, "done")
    assert sorted(t.value for t in study.trials) == [0.1, 0.2, 0.3]
    assert states(study) == ["COMPLETE"] * 3


def test_two_workers_at_once_never_share_a_queued_trial(any_storage_url, study_name):
    study = make_study(any_storage_url, study_name)
    for x in range(8):
        study.enqueue_trial({"x": x})
    ran: list[int] = []

    def objective(trial):
        ran.append(trial.suggest_int("x", 0, 9))
        time.sleep(0.02)
        return 1.0

    def worker():
        own = optuna.load_study(study_name=study_name, storage=open_storage(any_storage_url))
        run_trials(own, objective, claim_only=True)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(ran) == list(range(8))  # every point once, none twice
    assert len(study.trials) == 8 and states(study) == ["COMPLETE"] * 8


def test_a_failing_trial_is_recorded_with_its_reason_and_the_loop_goes_on(any_storage_url,
                                                                           study_name):
    study = make_study(any_storage_url, study_name)
    study.enqueue_trial({"x": 0})
    study.enqueue_trial({"x": 1})

    def objective(trial):
        if trial.suggest_int("x", 0, 9) == 0:
            raise RuntimeError("boom")
        return 0.5

    result = run_trials(study, objective, claim_only=True)
    assert (result.finished, result.failed) == (1, 1)
    failed = study.trials[0]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs[records.FAIL_REASON] == "RuntimeError: boom"


def test_a_user_mistake_fails_the_trial_and_stops_the_worker(any_storage_url, study_name):
    study = make_study(any_storage_url, study_name)
    study.enqueue_trial({"x": 0})
    study.enqueue_trial({"x": 1})

    def objective(trial):
        raise TunerError("config field 'lr': got nan")

    with pytest.raises(TunerError):
        run_trials(study, objective, claim_only=True)
    assert states(study) == ["FAIL", "WAITING"]
    assert study.trials[0].user_attrs[records.FAIL_REASON] == "config field 'lr': got nan"


def test_pruned_trials_count_as_finished(any_storage_url, study_name):
    study = make_study(any_storage_url, study_name)
    study.enqueue_trial({"x": 0})

    def objective(trial):
        trial.report(0.1, 1)
        raise optuna.TrialPruned()

    result = run_trials(study, objective, claim_only=True)
    assert (result.finished, result.failed) == (1, 0)
    assert states(study) == ["PRUNED"]


def test_a_sampled_study_asks_the_sampler_until_the_budget(any_storage_url, study_name):
    study = make_study(any_storage_url, study_name)
    result = run_trials(study, lambda t: t.suggest_float("x", 0, 1), claim_only=False,
                        max_trials=3)
    assert (result.finished, result.stop_reason) == (3, "budget")
    assert len(study.trials) == 3 and all("x" in t.params for t in study.trials)


def test_a_sampled_study_stops_when_told_enough(any_storage_url, study_name):
    study = make_study(any_storage_url, study_name)
    result = run_trials(study, lambda t: t.suggest_float("x", 0, 1), claim_only=False,
                        should_continue=lambda: len(study.trials) < 2)
    assert result.finished == 2 and result.stop_reason == "done"


def test_the_deadline_stops_the_loop_before_a_new_trial(sqlite_url, study_name):
    study = make_study(sqlite_url, study_name)
    study.enqueue_trial({"x": 0})
    result = run_trials(study, lambda t: 1.0, claim_only=True, deadline=time.monotonic() - 1)
    assert result.stop_reason == "timeout" and states(study) == ["WAITING"]


def test_a_dead_workers_trial_is_failed_and_taken_over(any_storage_url, study_name):
    """A trial claimed by a worker that then died (one heartbeat, never told) is failed
    after the grace period, re-queued by the retry callback, and run by a live worker."""
    options = dict(heartbeat_interval=1, grace_period=1,
                   stale_trial_callback=RetryHeartbeatStaleTrialCallback(3))
    study = make_study(any_storage_url, study_name, **options)
    study.enqueue_trial({"x": 4})
    dead = claim_waiting_trial(study)
    study._storage.record_heartbeat(dead._trial_id)  # its last sign of life
    time.sleep(2.5)
    result = run_trials(study, lambda t: t.suggest_int("x", 0, 9) / 10, claim_only=True,
                        grace_period=1)
    assert result.finished == 1
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert trials[1].params == {"x": 4} and trials[1].value == 0.4


def claimed_with_heartbeats(url: str, name: str):
    """A study with 1 s heartbeats and a 2 s grace period, and its one queued trial claimed."""
    study = make_study(url, name, heartbeat_interval=1, grace_period=2,
                       stale_trial_callback=RetryHeartbeatStaleTrialCallback(3))
    study.enqueue_trial({"x": 1})
    return study, claim_waiting_trial(study)


def test_the_heartbeat_keeps_a_long_trial_alive(any_storage_url, study_name):
    study, trial = claimed_with_heartbeats(any_storage_url, study_name)
    with Heartbeat(study._storage, trial._trial_id, interval=1):
        time.sleep(3.5)  # longer than the grace period: only the beats keep it running
        optuna.storages.fail_stale_trials(study)
        assert states(study) == ["RUNNING"]
    study.tell(trial, 1.0)
    assert states(study) == ["COMPLETE"]


class OneBeat(Heartbeat):
    """A starved worker's heartbeat: one beat as the trial starts, then none."""

    def __init__(self, storage, trial_id: int, interval: int | None, on_beat=None) -> None:
        super().__init__(storage, trial_id, None)
        storage.record_heartbeat(trial_id)


@pytest.mark.parametrize("late", ["tell", "write"])
def test_a_starved_workers_trial_is_taken_over_once_and_its_late_result_dropped(
        late, any_storage_url, study_name, monkeypatch):
    """The first trial's worker stops beating (starved) and runs past the grace period;
    another worker fails it and queues its retry under the study lock, and a run starting
    then enqueues nothing. The starved worker's late result (its tell, or its next write
    of an epoch) is dropped, not a second COMPLETE: the retry is the point's one result."""
    import tuner.workers.worker as worker
    from tuner.study.spec import StudySpec, categorical
    from tuner.workers.trial_queue import enqueue_grid, missing_grid_trials
    from tuner.workers.worker import take_over_stale_trials

    options = dict(heartbeat_interval=1, grace_period=1,
                   stale_trial_callback=RetryHeartbeatStaleTrialCallback(3))
    grid = StudySpec(name="g", sampler="grid",
                     space=dict(lr=categorical([1e-3]), dropout=categorical([0.1])))
    study = make_study(any_storage_url, study_name, **options)
    enqueue_grid(study, grid)
    monkeypatch.setattr(worker, "Heartbeat", OneBeat)
    other = optuna.load_study(study_name=study_name,
                              storage=open_storage(any_storage_url, **options))

    def objective(trial):
        grid.suggest(trial)
        if trial.number == 0:
            time.sleep(2.5)  # past the grace period without a beat
            take_over_stale_trials(other)  # what another worker does before its claim
            assert states(other) == ["FAIL", "WAITING"]
            assert missing_grid_trials(other, grid) == [] and enqueue_grid(other, grid) == 0
            if late == "write":
                trial.set_user_attr("curves", {})  # the next epoch's record
            return 0.9
        return 0.5

    result = run_trials(study, objective, claim_only=True, grace_period=1)
    assert (result.finished, result.failed, result.taken_over) == (1, 0, 1)
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE"]
    assert trials[1].value == 0.5 and trials[1].system_attrs["failed_trial"] == 0
    assert trials[1].params == trials[0].params == {"lr": 1e-3, "dropout": 0.1}


def test_a_failed_trial_is_never_told_complete(any_storage_url, study_name):
    """The tell of a trial failed meanwhile tells nothing and says so."""
    from tuner.workers.worker import tell_unless_taken_over

    study = make_study(any_storage_url, study_name)
    study.enqueue_trial({"x": 1})
    trial = claim_waiting_trial(study)
    study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)  # a takeover
    assert tell_unless_taken_over(study, trial, 0.9) is False
    assert tell_unless_taken_over(study, trial, state=TrialState.PRUNED) is False
    assert states(study) == ["FAIL"]
    again = make_study(any_storage_url, f"{study_name}-b")
    again.enqueue_trial({"x": 1})
    running = claim_waiting_trial(again)
    assert tell_unless_taken_over(again, running, 0.9) is True
    assert states(again) == ["COMPLETE"]


def test_the_heartbeat_beats_while_the_training_thread_holds_the_cpu(any_storage_url,
                                                                     study_name):
    """A busy training thread (pure Python, the GIL held between switches) does not stop
    the beats: only a stopped or dead process goes stale."""
    study, trial = claimed_with_heartbeats(any_storage_url, study_name)
    with Heartbeat(study._storage, trial._trial_id, interval=1):
        end = time.monotonic() + 3.5
        while time.monotonic() < end:
            sum(range(10_000))
        optuna.storages.fail_stale_trials(study)
        assert states(study) == ["RUNNING"]


def test_a_refused_beat_is_tried_again_within_a_second(monkeypatch):
    import tuner.workers.heartbeat as heartbeat

    monkeypatch.setattr(heartbeat, "RETRY_S", 0.1)
    beats: list[float] = []

    class Busy:
        def record_heartbeat(self, trial_id):
            beats.append(time.monotonic())
            if len(beats) == 2:
                raise RuntimeError("database is locked")

    with Heartbeat(Busy(), 1, interval=1):
        time.sleep(1.5)
    assert len(beats) == 3  # the first, the refused one at 1 s, its retry 0.1 s later
    assert beats[2] - beats[1] < 0.5


def test_trials_that_ran_before_are_claimed_first(any_storage_url, study_name):
    """A trial put back by SIGTERM (it reported epochs) and a dead worker's retry go before
    the points that never ran, whatever their numbers: they go on from checkpoints."""
    study = make_study(any_storage_url, study_name)
    for x in range(4):
        study.enqueue_trial({"x": x})
    storage = study._storage
    first, second = claim_waiting_trial(study), claim_waiting_trial(study)
    storage.set_trial_intermediate_value(second._trial_id, 1, 0.5)
    storage.set_trial_state_values(second._trial_id, TrialState.WAITING)  # SIGTERM's re-queue
    storage.set_trial_state_values(first._trial_id, TrialState.FAIL)
    study.enqueue_trial({"x": 0}, user_attrs={records.REPEAT: 0})  # the retry of trial 0
    retry_id = study.trials[-1]._trial_id
    storage.set_trial_system_attr(retry_id, records.FAILED_TRIAL, first.number)
    order = [claim_waiting_trial(study).number for _ in range(4)]
    assert order == [1, 4, 2, 3]  # begun (by number), then the never-run points


def test_a_stop_request_puts_the_running_trial_back_and_stops_the_loop(any_storage_url,
                                                                      study_name):
    study = make_study(any_storage_url, study_name)
    study.enqueue_trial({"x": 0})
    study.enqueue_trial({"x": 1})

    def objective(trial):
        trial.report(0.25, 1)
        raise KeyboardInterrupt  # what the training loop raises at a stop request

    with pytest.raises(KeyboardInterrupt):
        run_trials(study, objective, claim_only=True)
    assert states(study) == ["WAITING", "WAITING"]
    assert study.trials[0].intermediate_values == {1: 0.25}  # kept for the resume
