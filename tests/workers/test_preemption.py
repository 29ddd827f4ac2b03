"""Preemption and takeover as a cluster does them: SIGTERM to a run or to one of its
workers, a parent killed outright, a worker killed while another trains a long trial.

SIGTERM (``timeout``, Slurm, Kubernetes) stops a run at its next batch: the running trials
go back to the queue with their numbers and reported epochs, every process of the run ends,
and the command exits 143 within a bounded time. A dead worker's trial is failed and
re-queued by a live worker's heartbeat within the grace period, while that worker still
trains, and its retry is claimed before the points that never ran.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from tests.tiny import TINY, TINY_SETS
from tests.workers.test_local_workers import (
    ROOT,
    finish,
    spawned_workers,
    trials_of,
    tuner,
    write_grid,
)
from tuner import records

LONG = [*TINY_SETS, "--set", "epochs=300"]  # trials that outlast every wait below
BEAT = ["--heartbeat-interval", "1", "--grace-period", "3"]
#: SIGTERM to exit: one batch, the re-queue writes, the workers' own stop (20 s at most)
STOP_BOUND_S = 25


def running_with_curves(url: str, name: str) -> list:
    try:
        return [t for t in trials_of(url, name)
                if t.state == TrialState.RUNNING and t.user_attrs.get(records.CURVES)]
    except KeyError:  # the study is not created yet
        return []


def wait_until(condition, timeout: float = 180, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended


@pytest.mark.slow
def test_sigterm_to_the_run_requeues_its_trials_and_exits_143(any_storage_url, tmp_path,
                                                               study_name):
    url = any_storage_url
    study_file = write_grid(tmp_path, study_name, 3)
    run = tuner(study_file, "--storage", url, *LONG, "--workers", "2", *BEAT)
    wait_until(lambda: len(running_with_curves(url, study_name)) == 2 and
               spawned_workers(run.pid), what="two running trials")
    workers = spawned_workers(run.pid)
    sent = time.monotonic()
    run.send_signal(signal.SIGTERM)  # to the parent only, as `timeout` and Kubernetes do
    output = finish(run, timeout=60)
    took = time.monotonic() - sent
    assert run.returncode == 143, output
    assert took < STOP_BOUND_S, (took, output)
    assert "interrupted (SIGTERM)" in output and "Traceback" not in output, output
    wait_until(lambda: not any(alive(pid) for pid in workers), timeout=10,
               what="the workers to end with the run")
    trials = trials_of(url, study_name)
    assert [t.state for t in trials].count(TrialState.RUNNING) == 0, output
    requeued = [t for t in trials if t.state == TrialState.WAITING and t.intermediate_values]
    assert len(requeued) == 2 and TrialState.FAIL not in {t.state for t in trials}


@pytest.mark.slow
def test_sigterm_to_one_worker_hands_its_trial_to_the_others(tmp_path, sqlite_url,
                                                             study_name):
    study_file = write_grid(tmp_path, study_name, 2)
    run = tuner(study_file, "--storage", sqlite_url, *TINY_SETS, "--set", "epochs=60",
                "--workers", "2", *BEAT)
    wait_until(lambda: len(running_with_curves(sqlite_url, study_name)) == 2 and
               spawned_workers(run.pid), what="two running trials")
    os.kill(spawned_workers(run.pid)[0], signal.SIGTERM)
    output = finish(run)
    assert run.returncode == 0, output
    assert "worker 2 was stopped (SIGTERM) and put its trial back in the queue" in output
    trials = trials_of(sqlite_url, study_name)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2, output  # same numbers
    assert sorted(t.params["dropout"] for t in trials) == [0.1, 0.2]
    assert any(records.RESUMED in t.user_attrs for t in trials), output


@pytest.mark.slow
def test_workers_end_with_a_parent_killed_outright(tmp_path, sqlite_url, study_name):
    study_file = write_grid(tmp_path, study_name, 2)
    run = tuner(study_file, "--storage", sqlite_url, *LONG, "--workers", "2", *BEAT)
    wait_until(lambda: len(running_with_curves(sqlite_url, study_name)) == 2 and
               spawned_workers(run.pid), what="two running trials")
    workers = spawned_workers(run.pid)
    run.kill()
    finish(run)
    wait_until(lambda: not any(alive(pid) for pid in workers), timeout=STOP_BOUND_S,
               what="the orphaned worker to stop")
    states = sorted(t.state.name for t in trials_of(sqlite_url, study_name))
    assert states == ["RUNNING", "WAITING"]  # the parent's (stale later), the worker's back


@pytest.mark.slow
def test_sigterm_ends_tuner_train_with_what_it_trained(tmp_path):
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1"}
    args = [f"{key}={value}" for key, value in {**TINY, "epochs": 300}.items()]
    run = subprocess.Popen([sys.executable, "-m", "tuner.cli", "train", *args], cwd=ROOT,
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    for line in run.stdout:
        if line.startswith("epoch   3/"):
            break
    run.send_signal(signal.SIGTERM)
    output = finish(run, timeout=30)
    assert run.returncode == 143, output
    assert "interrupted (SIGTERM) after" in output and "of 300 epochs; best epoch" in output
    assert "Traceback" not in output


@pytest.mark.slow
def test_a_live_worker_takes_over_a_dead_ones_trial_while_it_trains(tmp_path, postgres_url,
                                                                    study_name):
    """Two runs share a grid of three long trials; one is SIGKILLed. The other fails and
    re-queues the dead trial from its heartbeat thread before its own trial ends, and then
    claims that retry (it goes on from its checkpoint) before the point nobody ran."""
    study_file = write_grid(tmp_path, study_name, 3)
    slow = [*TINY_SETS, "--set", "epochs=150", *BEAT, "--storage", postgres_url]
    survivor = tuner(study_file, *slow, "--n-trials", "2")
    wait_until(lambda: running_with_curves(postgres_url, study_name), what="a first trial")
    victim = tuner(study_file, *slow, "--n-trials", "1")
    wait_until(lambda: [len(t.intermediate_values) >= 3  # a checkpoint is kept
                        for t in running_with_curves(postgres_url, study_name)] == [True] * 2,
               what="both trials past their first epochs")
    victim.kill()
    finish(victim)
    killed = time.monotonic()
    taken = wait_until(lambda: [t for t in trials_of(postgres_url, study_name)
                                if t.state == TrialState.FAIL], timeout=60,
                       what="the dead trial to be failed")
    noticed = time.monotonic() - killed
    trials = trials_of(postgres_url, study_name)
    own = [t for t in trials if t.state == TrialState.RUNNING]
    assert own, "the survivor's own trial ended before the takeover"
    assert noticed < 3 + 1 + 6, noticed  # grace + one interval + the time to look
    output = finish(survivor)
    assert survivor.returncode == 0, output
    trials = trials_of(postgres_url, study_name)
    retry = [t for t in trials if t.system_attrs.get(records.FAILED_TRIAL) == taken[0].number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE, output
    assert records.RESUMED in retry[0].user_attrs  # from the dead trial's checkpoint
    never_ran = [t for t in trials if t.state == TrialState.WAITING]
    assert len(never_ran) == 1 and not never_ran[0].intermediate_values
