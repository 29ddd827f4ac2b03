"""A worker's loop: take a trial, keep its heartbeat, run the objective, tell the result.

Why not ``study.optimize``: a grid study must train each enqueued configuration exactly
once however many workers share it, and ``optimize`` creates a new sampled trial whenever
the queue looks empty, which races between workers (optuna#1547). Here a grid worker only
*claims* waiting trials (the WAITING -> RUNNING update is atomic in the database, exactly
as ``Study.ask`` pops its queue) and stops when none are left; other studies ask the
sampler as usual. Stale trials of killed workers (:mod:`tuner.workers.heartbeat`) are failed
with Optuna's ``fail_stale_trials``, whose retry callback puts them back in the queue.

Each grid point is trained once, even under overload. A takeover (the stale trial failed,
its retry queued) runs under the study lock that ``trial_queue.enqueue_grid`` holds, so a
run starting meanwhile never sees the point failed and not yet queued again. A worker
whose trial was taken over while it still ran (starved beyond the grace period, not dead)
finds it finished by someone else: every write to it fails (Optuna refuses to update a
finished trial), the objective stops at its next epoch, and its result is dropped, never
told: the retry is the trial's one result. On SQLite, which has no row locks, the state
is read and told under the database's lock file, the one the takeover runs under.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import optuna
import sqlalchemy
from optuna.exceptions import ExperimentalWarning, StorageInternalError, UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from tuner import interrupt, records
from tuner.errors import TunerError
from tuner.optuna_internals import (
    has_stale_trials,
    live_trial,
    sql_engine,
    storage_of,
    study_id,
    trial_id,
)
from tuner.storage import sqlite_file_of, sqlite_lock, study_lock
from tuner.workers.heartbeat import GRACE_PERIOD_S, Heartbeat

STORAGE_ERRORS = (sqlalchemy.exc.SQLAlchemyError, StorageInternalError)
#: failed trials in a row after which a worker stops: a run that only fails (a missing
#: package, a bug, a space that gives a bad value) must end, not loop on new failures
FAILURES_IN_A_ROW = 3
#: one takeover at a time per process (the heartbeat thread and the main thread both look)
_TAKING_OVER = threading.Lock()


def begun(trial: FrozenTrial) -> bool:
    """Whether a waiting trial ran before: a dead worker's retry (Optuna's callback marks
    it) or a trial put back by Ctrl-C or SIGTERM (it reported epochs). Such trials are
    claimed first: they go on from their checkpoints, and a cluster that preempts workers
    should not leave them for last."""
    return records.FAILED_TRIAL in trial.system_attrs or bool(trial.intermediate_values)


def claim_waiting_trial(study: optuna.Study) -> optuna.Trial | None:
    """Take a WAITING trial for this worker (those that ran before first, :func:`begun`,
    then the oldest), or None when the queue is empty.

    Optuna's WAITING -> RUNNING update reads the state with SELECT ... FOR UPDATE, a row
    lock on PostgreSQL; SQLite has no row locks and its driver starts no transaction on a
    SELECT, so two workers could both read WAITING and both claim one trial (seen with two
    threads under load). On SQLite the claim therefore runs under the database's lock file.
    """
    storage = storage_of(study)
    with sqlite_lock(sqlite_file_of(storage)):
        waiting = storage.get_all_trials(study_id(study), deepcopy=False,
                                         states=(TrialState.WAITING,))
        for frozen in sorted(waiting, key=lambda t: (not begun(t), t.number)):
            try:
                if storage.set_trial_state_values(trial_id(frozen), state=TrialState.RUNNING):
                    return live_trial(study, trial_id(frozen))
            except UpdateFinishedTrialError:
                continue  # another worker took and finished it meanwhile
    return None


def take_over_stale_trials(study: optuna.Study) -> None:
    """Fail the trials whose heartbeat is stale and queue their retries (Optuna's
    ``fail_stale_trials`` and the storage's retry callback), under the study lock: a run
    enqueueing the grid meanwhile sees each such trial running, or failed with its retry
    waiting, never failed alone (it would queue the point a second time). The lock is
    taken only when a stale trial exists (a cheap query first): taking it on every claim
    serialised 200 workers on one database (bench/many_workers.py)."""
    if not _TAKING_OVER.acquire(blocking=False):  # another thread of this process is at it
        return
    try:
        if not has_stale_trials(study):
            return
        engine = sql_engine(storage_of(study))
        lock = study_lock(engine.url.render_as_string(hide_password=False),
                          study.study_name, engine) if engine is not None \
            else contextlib.nullcontext()  # a connection of the storage's own pool
        # catch_warnings swaps the process's filters: not from the heartbeat's thread (the
        # commands ignore ExperimentalWarning for good: optuna_internals.quiet_optuna)
        main = threading.current_thread() is threading.main_thread()
        with lock, warnings.catch_warnings() if main else contextlib.nullcontext():
            if main:
                warnings.simplefilter("ignore", ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    finally:
        _TAKING_OVER.release()


def tell_unless_taken_over(study: optuna.Study, trial: optuna.Trial,
                           value: float | None = None, state: TrialState | None = None
                           ) -> bool:
    """Tell ``trial``'s value or ``state``, unless another worker failed it as stale
    meanwhile (this worker was starved, not dead, and the retry runs the point): then
    nothing is told and the answer is False. A failed trial never becomes COMPLETE."""
    storage = storage_of(study)
    with sqlite_lock(sqlite_file_of(storage)):  # PostgreSQL: the row lock of the update
        if storage.get_trial(trial_id(trial)).state != TrialState.RUNNING:
            return False
        try:
            study.tell(trial, value, state=state)
        except (UpdateFinishedTrialError, ValueError):
            ended = storage.get_trial(trial_id(trial)).state
            if ended == TrialState.RUNNING:  # a bad value, not a takeover
                raise
            # failed by another worker between the read and the update, or told already
            # by an attempt the storage retried
            return ended == (state or TrialState.COMPLETE)
    return True


@dataclass
class LoopResult:
    """What one worker loop did, and why it stopped."""

    finished: int = 0  # trials this loop completed or pruned
    failed: int = 0
    taken_over: int = 0  # trials failed as stale while this worker still ran them
    stop_reason: str = "done"  # done | budget | timeout | failing
    last_failure: str = ""  # the reason of the last failed trial


TrialHook = Callable[[FrozenTrial], None]


def run_trials(study: optuna.Study, objective: Callable[[optuna.Trial], float], *,
               claim_only: bool, max_trials: int | None = None,
               deadline: float | None = None,
               should_continue: Callable[[], bool] = lambda: True,
               grace_period: int = GRACE_PERIOD_S,
               failures_in_a_row: int = FAILURES_IN_A_ROW,
               on_trial_end: TrialHook | None = None,
               heartbeat_interval: int | None = None) -> LoopResult:
    """Run trials until the queue is empty (``claim_only``), ``max_trials`` ran, the
    ``deadline`` (``time.monotonic()``) passed, ``should_continue()`` says no, or
    ``failures_in_a_row`` trials failed one after another. Heartbeats beat at the storage's
    interval or, for a storage without Optuna's heartbeats (the gRPC proxy), at
    ``heartbeat_interval``."""
    result = LoopResult()
    in_a_row = 0
    storage = storage_of(study)
    interval = storage.get_heartbeat_interval() if hasattr(storage, "get_heartbeat_interval") \
        else heartbeat_interval
    idle_limit = grace_period + 2 * (interval or 0)
    idle_since: float | None = None
    while True:
        interrupt.raise_if_requested()
        if max_trials is not None and result.finished + result.failed >= max_trials:
            result.stop_reason = "budget"
            return result
        if deadline is not None and time.monotonic() >= deadline:
            result.stop_reason = "timeout"
            return result
        if interval:
            take_over_stale_trials(study)
        trial = claim_waiting_trial(study)
        if trial is None and claim_only and interval and _others_running(study):
            # a running trial may belong to a killed worker: once its heartbeat is stale it
            # is failed and re-queued above, and this worker takes it. Wait that long, not
            # for live workers' trials to end (a trial without any heartbeat never goes stale).
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since < idle_limit:
                time.sleep(min(interval, 1.0))  # leave as soon as the others are done
                continue
        idle_since = None if trial is not None else idle_since
        if trial is None:
            if claim_only or not should_continue():
                return result
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "heartbeat ... used with optimize"
                trial = study.ask()
        state = _run_one(study, trial, objective, interval)
        if state is None:  # taken over: the retry is its result, not a failure of this loop
            result.taken_over += 1
            optuna.logging.get_logger("tuner").warning(
                "trial %d was failed as stale and retried by another worker while this one "
                "still ran it (a starved process?); its result here is dropped", trial.number)
            continue
        ended = storage.get_trial(trial_id(trial))
        if state == TrialState.FAIL:
            result.failed += 1
            in_a_row += 1
            result.last_failure = str(ended.user_attrs.get(records.FAIL_REASON, ""))
        else:
            result.finished += 1
            in_a_row = 0
        if on_trial_end is not None:
            on_trial_end(ended)
        if in_a_row >= failures_in_a_row:
            result.stop_reason = "failing"
            return result


def _others_running(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _run_one(study: optuna.Study, trial: optuna.Trial,
             objective: Callable[[optuna.Trial], float],
             interval: int | None) -> TrialState | None:
    """Run and tell one trial; its state, or None when it was taken over meanwhile."""
    with Heartbeat(storage_of(study), trial_id(trial), interval,
                   on_beat=lambda: take_over_stale_trials(study)):
        try:
            value = objective(trial)
        except UpdateFinishedTrialError:  # a write to a trial failed as stale meanwhile
            return None
        except optuna.TrialPruned:
            told = tell_unless_taken_over(study, trial, state=TrialState.PRUNED)
            return TrialState.PRUNED if told else None
        except KeyboardInterrupt:
            _requeue(study, trial)
            raise
        except STORAGE_ERRORS:  # the database is gone: nothing more to do in this worker
            with contextlib.suppress(Exception):
                study.tell(trial, state=TrialState.FAIL)
            raise
        except TunerError as exc:
            if _fail(study, trial, str(exc)):
                raise
            return None
        except Exception as exc:
            if not _fail(study, trial, f"{type(exc).__name__}: {exc}"):
                return None
            optuna.logging.get_logger("tuner").exception("trial %d failed", trial.number)
            return TrialState.FAIL
    return TrialState.COMPLETE if tell_unless_taken_over(study, trial, value) else None


def _requeue(study: optuna.Study, trial: optuna.Trial) -> None:
    """Put an interrupted trial (Ctrl-C) back in the queue, RUNNING -> WAITING: the next
    run claims it with its number, parameters and reported values, and goes on from its
    last checkpoint (:mod:`tuner.study.checkpoints`). Failing it instead would lose all
    three (Optuna never reopens a finished trial)."""
    storage = storage_of(study)
    with contextlib.suppress(Exception), sqlite_lock(sqlite_file_of(storage)):
        if storage.get_trial(trial_id(trial)).state == TrialState.RUNNING:
            storage.set_trial_state_values(trial_id(trial), TrialState.WAITING)


def _fail(study: optuna.Study, trial: optuna.Trial, reason: str) -> bool:
    """Record why ``trial`` failed and tell FAIL; False if it was taken over meanwhile."""
    try:
        trial.set_user_attr(records.FAIL_REASON, reason)
    except UpdateFinishedTrialError:
        return False
    return tell_unless_taken_over(study, trial, state=TrialState.FAIL)
