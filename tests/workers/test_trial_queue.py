"""tuner.workers.trial_queue in-process: grids enqueued once, resumed, and sampled repeats."""

from __future__ import annotations

import time

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from tuner import StudySpec, categorical, records
from tuner.records import repeat_of, trial_params
from tuner.storage import open_storage
from tuner.workers.trial_queue import (
    enqueue_grid,
    enqueue_repeats,
    expected_work,
    missing_grid_trials,
)
from tuner.workers.worker import claim_waiting_trial

GRID = StudySpec(name="g", sampler="grid", repeats=2,
                 space=dict(lr=categorical([1e-3, 1e-2]), dropout=categorical([0.0, 0.5])))


def make_study(url: str, name: str) -> optuna.Study:
    return optuna.create_study(study_name=name, storage=open_storage(url),
                               direction="maximize")


def queued(study: optuna.Study) -> list[tuple[dict, int]]:
    return sorted(((trial_params(t), repeat_of(t)) for t in
                   study.get_trials(deepcopy=False, states=(TrialState.WAITING,))),
                  key=repr)


def test_every_point_and_repeat_is_enqueued_once(any_storage_url, study_name):
    study = make_study(any_storage_url, study_name)
    assert enqueue_grid(study, GRID) == 8  # 4 points x 2 repeats
    expected = sorted(((p, r) for r in range(2) for p in GRID.grid_points()), key=repr)
    assert queued(study) == expected
    assert enqueue_grid(study, GRID) == 0  # a second run adds nothing
    assert len(study.trials) == 8


def test_a_failed_point_is_enqueued_again_and_finished_ones_are_not(any_storage_url,
                                                                      study_name):
    study = make_study(any_storage_url, study_name)
    enqueue_grid(study, GRID)
    first, second = claim_waiting_trial(study), claim_waiting_trial(study)
    study.tell(first, 0.5)
    study.tell(second, state=TrialState.FAIL)
    second_point = (trial_params(study.trials[second.number]), 0)
    assert missing_grid_trials(study, GRID) == [second_point]
    assert enqueue_grid(study, GRID) == 1
    assert second_point in queued(study)


def test_a_grown_grid_enqueues_only_the_new_points(sqlite_url, study_name):
    study = make_study(sqlite_url, study_name)
    small = StudySpec(name="g", sampler="grid", space=dict(lr=categorical([1e-3])))
    enqueue_grid(study, small)
    grown = StudySpec(name="g", sampler="grid", space=dict(lr=categorical([1e-3, 1e-2])))
    assert missing_grid_trials(study, grown) == [({"lr": 1e-2}, 0)]


def test_repeats_of_a_sampled_configuration_follow_its_first_run(any_storage_url, study_name):
    study = make_study(any_storage_url, study_name)
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    study.tell(trial, 0.7)
    done = study.trials[0]
    enqueue_repeats(study, done, repeats=3)
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert [repeat_of(t) for t in waiting] == [1, 2]
    assert all(trial_params(t) == done.params for t in waiting)
    assert all(t.user_attrs[records.REPEAT] in (1, 2) for t in waiting)
    enqueue_repeats(study, waiting[0], repeats=3)  # a repeat does not enqueue repeats
    assert len(study.get_trials(deepcopy=False, states=(TrialState.WAITING,))) == 2


def test_the_biggest_cells_are_trained_first_so_workers_finish_together(sqlite_url,
                                                                       study_name):
    """Longest first within each repeat: the last trials to start are the shortest."""
    grid = StudySpec(name="g", sampler="grid", repeats=2, space=dict(
        weight_decay=categorical([0.1, 0.01]), train_fraction=categorical([0.2, 0.8])))
    study = make_study(sqlite_url, study_name)
    enqueue_grid(study, grid)
    claimed = []
    while (trial := claim_waiting_trial(study)) is not None:
        frozen = study.trials[trial.number]
        point = trial_params(frozen)
        claimed.append((point["train_fraction"], point["weight_decay"], repeat_of(frozen)))
    assert claimed == [(0.8, 0.1, 0), (0.8, 0.01, 0), (0.2, 0.1, 0), (0.2, 0.01, 0),
                       (0.8, 0.1, 1), (0.8, 0.01, 1), (0.2, 0.1, 1), (0.2, 0.01, 1)]


def test_expected_work_scales_with_the_fields_that_set_a_trials_work():
    assert expected_work({"train_fraction": 0.8}) == 4 * expected_work({"train_fraction": 0.2})
    assert expected_work({"image_size": 128}) == 4 * expected_work({"image_size": 64})
    assert expected_work({"base_channels": 16, "epochs": 10}) == 16 ** 2 * 10
    assert expected_work({"loss": "dice", "lr": 1e-3}) == 1.0  # costs alike: file order


def test_a_running_trial_part_way_through_its_suggests_still_covers_its_point(
        any_storage_url, study_name):
    """A trial holds its parameters one suggest at a time; a run starting between two of
    them must read its whole queued point, not a point of its own (which it would enqueue:
    one grid point trained twice, seen with 8 processes on 2 cores)."""
    study = make_study(any_storage_url, study_name)
    enqueue_grid(study, GRID)
    trial = claim_waiting_trial(study)
    trial.suggest_categorical("lr", [1e-3, 1e-2])  # dropout not suggested yet
    late = optuna.load_study(study_name=study_name, storage=open_storage(any_storage_url))
    assert missing_grid_trials(late, GRID) == []
    assert enqueue_grid(late, GRID) == 0 and len(late.trials) == 8


def test_a_stale_trial_with_its_retry_waiting_covers_its_point(any_storage_url, study_name):
    """After a takeover (the stale trial failed, its retry queued with the same point), the
    point is covered: the retry is its one trial."""
    grid = StudySpec(name="g", sampler="grid", space=dict(lr=categorical([1e-3])))
    storage = open_storage(any_storage_url, heartbeat_interval=1, grace_period=1,
                           stale_trial_callback=RetryHeartbeatStaleTrialCallback(3))
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize")
    enqueue_grid(study, grid)
    trial = claim_waiting_trial(study)
    trial.suggest_categorical("lr", [1e-3])
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(2.2)
    optuna.storages.fail_stale_trials(study)
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]
    assert missing_grid_trials(study, grid) == [] and enqueue_grid(study, grid) == 0


def test_with_folds_every_point_is_queued_once_per_fold_and_repeat(sqlite_url, study_name):
    """Units are repeats x folds; each queued trial says its fold. Without folds nothing
    but the repeat is stored, as before."""
    folded = StudySpec(name="g", sampler="grid", repeats=2, base={"folds": 3},
                       space=dict(lr=categorical([1e-3, 1e-2])))
    study = make_study(sqlite_url, study_name)
    assert enqueue_grid(study, folded) == 12  # 2 points x 2 repeats x 3 folds
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert [repeat_of(t) for t in waiting] == [u for u in range(6) for _ in range(2)]
    assert [records.fold_of(t) for t in waiting] == [u % 3 for u in range(6) for _ in range(2)]
    assert enqueue_grid(study, folded) == 0
    plain = make_study(sqlite_url, study_name + "-plain")
    enqueue_grid(plain, GRID)
    assert all(set(t.user_attrs) == {records.REPEAT} for t in plain.trials)


def test_folds_of_a_study_come_from_its_stored_base(sqlite_url, study_name):
    """``--set folds=3`` is in the base the study stored: a later run's spec, loaded
    without it, still queues every fold."""
    study = make_study(sqlite_url, study_name)
    study.set_user_attr(records.BASE, {"folds": 3})
    assert enqueue_grid(study, StudySpec(name="g", sampler="grid",
                                         space=dict(lr=categorical([1e-3])))) == 3


def test_a_sampled_configuration_queues_its_other_folds_and_repeats(sqlite_url, study_name):
    study = make_study(sqlite_url, study_name)
    trial = study.ask()
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    trial.set_user_attr(records.CONFIG, {"folds": 3, "fold": 0})
    study.tell(trial, 0.7)
    enqueue_repeats(study, study.trials[0], repeats=2)
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert [(repeat_of(t), records.fold_of(t)) for t in waiting] == [
        (1, 1), (2, 2), (3, 0), (4, 1), (5, 2)]
