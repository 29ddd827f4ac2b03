"""What ``tuner proxy`` adds to Optuna's gRPC storage proxy: the takeover of a proxied
worker's trial once its heartbeat stops (:class:`ProxyWatch`), and one queued trial per
grid point and unit however many runs enqueue the grid at once (:class:`ServedStorage`).

**Takeover.** Optuna keeps heartbeats in the database storage, and its gRPC proxy carries
none, so a proxied worker beats differently: every heartbeat interval it raises a count in
its running trial's system attribute :data:`tuner.records.PROXY_HEARTBEAT`. The watch, a
daemon thread of the proxy, reads the RUNNING trials of every study every ``interval``
seconds and remembers when each trial's count last moved, by the proxy's own monotonic
clock (no worker's clock is ever compared with another's). A count that has not moved for
``grace_period`` seconds is a dead worker's: its trial is failed and its retry queued
exactly as a stale native heartbeat's (Optuna's stale-trial retry callback, at most
:data:`tuner.workers.heartbeat.MAX_RETRY` times: a WAITING copy with the dead trial's
parameters, reported values and the system attribute ``failed_trial``), both under the
study lock (:func:`tuner.storage.study_lock`, on the proxy's database), so that a run
enqueueing the grid meanwhile never sees the point failed without its retry. A trial that
carries no count (or a null one) is left alone: it belongs to a worker connected to the
database, whose native heartbeat Optuna handles. A trial put back in the queue through
the proxy (Ctrl-C) has its count set to null, and a retry starts without the dead
trial's, so a worker connected directly may take either. After a proxy restart, each
trial's first sight starts its clock: nothing is failed on the spot.

**One queued trial per point.** ``tuner run`` enqueues a grid's missing points under the
study lock, which a ``grpc://`` URL cannot take (it names no database): two runs starting
at once through the proxy both find a point missing and both queue it, and the point is
trained twice (measured: bench/RESULTS.md). The proxy is the one place every proxied call
passes, so it serialises there: the served storage is wrapped, and creating a WAITING
trial of a tuner study (one that stores its setup) whose point and unit (its
``fixed_params`` and repeat, :mod:`tuner.workers.trial_queue`) a waiting, running,
complete or pruned trial holds already answers that trial's id instead of queueing a
second one. A point whose trials all failed is queued again, as a rerun wants. The check
holds a lock per study in the proxy and, when the point looks missing, the study lock
too, so runs connected to the database directly (which enqueue under it) are covered.
Other studies (raw Optuna clients of the same proxy) are served unchanged.

**Claims on SQLite.** SQLite has no row locks, so a worker connected to a SQLite file
claims a waiting trial under the database's lock file (:mod:`tuner.workers.worker`); a
proxied worker cannot take it, so the proxy changes trial states under it instead: two
proxied claims of one trial (or a proxied and a direct one) never both succeed.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.optuna_internals import stale_trial_retry, study_id, trial_id
from tuner.records import repeat_of
from tuner.storage import sqlite_lock, sqlite_path, study_lock
from tuner.workers.heartbeat import MAX_RETRY
from tuner.workers.trial_queue import PENDING_OR_DONE, grid_point_of

logger = logging.getLogger("tuner.proxy")


# -- takeover -----------------------------------------------------------------------------
class ProxyWatch:
    """Fails the running trials whose :data:`~tuner.records.PROXY_HEARTBEAT` stopped
    moving for ``grace_period`` seconds and queues their retries (:meth:`check` is one
    pass; :meth:`start` runs a pass every ``interval`` seconds in a daemon thread)."""

    def __init__(self, storage: Any, lock_url: str, *, interval: float, grace_period: float,
                 max_retry: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.storage, self.lock_url = storage, lock_url
        self.interval, self.grace_period = interval, grace_period
        self._max_retry, self._clock = max_retry, clock
        self._seen: dict[int, tuple[str, float]] = {}  # trial id -> (its count, when it moved)
        self._retry: Callable[[optuna.Study, FrozenTrial], None] | None = None
        self._stop = threading.Event()

    def check(self) -> list[int]:
        """One pass over every study's running trials; the ids of the trials failed."""
        now = self._clock()
        beating: dict[int, tuple[str, str]] = {}  # trial id -> (study name, its count now)
        for study in self.storage.get_all_studies():
            for trial in self.storage.get_all_trials(study_id(study), deepcopy=False,
                                                     states=(TrialState.RUNNING,)):
                if trial.system_attrs.get(records.PROXY_HEARTBEAT) is not None:
                    count = json.dumps(trial.system_attrs[records.PROXY_HEARTBEAT])
                    beating[trial_id(trial)] = (study.study_name, count)
        stale = []
        for beating_id, (study_name, count) in beating.items():
            last = self._seen.get(beating_id)
            if last is None or last[0] != count:  # first sight, or it moved: clock restarts
                self._seen[beating_id] = (count, now)
            elif now - last[1] >= self.grace_period:
                stale.append((beating_id, study_name, count))
        self._seen = {k: v for k, v in self._seen.items() if k in beating}  # ended trials
        failed = [stale_id for stale_id, study_name, count in stale
                  if self.take_over(stale_id, study_name, count)]
        for stale_id in failed:
            self._seen.pop(stale_id, None)
        return failed

    def take_over(self, stale_id: int, study_name: str, count: str) -> bool:
        """Fail trial ``stale_id`` and queue its retry, under the study lock, if it still
        runs with the same count (it may have beaten or ended since the pass read it)."""
        retry = self._retry_callback()
        with study_lock(self.lock_url, study_name):
            trial = self.storage.get_trial(stale_id)
            now = json.dumps(trial.system_attrs.get(records.PROXY_HEARTBEAT))
            if trial.state != TrialState.RUNNING or now != count:
                return False
            try:
                if not self.storage.set_trial_state_values(stale_id, state=TrialState.FAIL):
                    return False
            except UpdateFinishedTrialError:  # it ended between the read and the update
                return False
            failed = copy.deepcopy(self.storage.get_trial(stale_id))
            # the retry starts without the dead worker's count: its own worker beats anew
            failed.system_attrs = {k: v for k, v in failed.system_attrs.items()
                                   if k != records.PROXY_HEARTBEAT}
            retry(optuna.load_study(study_name=study_name, storage=self.storage), failed)
        logger.warning("trial %d of study %r: no heartbeat through the proxy for %g s; "
                       "failed, and its retry queued", failed.number, study_name,
                       self.grace_period)
        return True

    def _retry_callback(self) -> Callable[[optuna.Study, FrozenTrial], None]:
        if self._retry is None:
            if self._max_retry is None:
                self._max_retry = MAX_RETRY
            self._retry = stale_trial_retry(self._max_retry)
        return self._retry

    def start(self) -> threading.Thread:
        """Run :meth:`check` every ``interval`` seconds in a daemon thread until
        :meth:`stop`; a pass that fails (a database restart) is logged, the next one runs."""
        def watch() -> None:
            while not self._stop.wait(self.interval):
                try:
                    self.check()
                except Exception as exc:  # noqa: BLE001 - the proxy serves on; next pass
                    logger.warning("heartbeat watch: a pass failed (%s: %s); trying again in "
                                   "%g s", type(exc).__name__, exc, self.interval)

        thread = threading.Thread(target=watch, name="tuner-proxy-watch", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


# -- one queued trial per point -----------------------------------------------------------
def queue_key(trial: FrozenTrial) -> str:
    """A trial's point and unit, as the grid queue compares them."""
    return json.dumps({"params": grid_point_of(trial), "repeat": repeat_of(trial)},
                      sort_keys=True, default=str)


@dataclass
class _QueueIndex:
    """The trials of one study by point and unit, as read when ``next_number`` was the
    number the next trial would get (a trial with that number means others created more)."""

    next_number: int = 0
    holders: dict[str, list[int]] = field(default_factory=dict)

    def add(self, trial: FrozenTrial) -> None:
        self.holders.setdefault(queue_key(trial), []).append(trial_id(trial))
        self.next_number = max(self.next_number, trial.number + 1)


class ServedStorage:
    """``storage`` as the proxy serves it: every call passes through, except that creating
    a queued trial of a tuner study whose point and unit another trial holds (waiting,
    running, complete or pruned) answers that trial's id instead of adding one, and that
    on SQLite a trial's state changes under the database's lock file."""

    def __init__(self, storage: Any, lock_url: str) -> None:
        self._storage, self._lock_url = storage, lock_url
        self._sqlite_file = sqlite_path(lock_url)
        self._guard = threading.Lock()
        self._study_locks: dict[int, threading.Lock] = {}
        self._indexes: dict[int, _QueueIndex] = {}
        self._tuner_studies: set[int] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)

    def set_trial_state_values(self, stored_id: int, state: TrialState,
                               values: Any = None) -> bool:
        with sqlite_lock(self._sqlite_file):  # no-op on a database server (row locks)
            updated = self._storage.set_trial_state_values(stored_id, state, values)
        if updated and state == TrialState.WAITING:  # put back (Ctrl-C): its count is over
            self._storage.set_trial_system_attr(stored_id, records.PROXY_HEARTBEAT, None)
        return updated

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None or template_trial.state != TrialState.WAITING \
                or records.FIXED_PARAMS not in template_trial.system_attrs \
                or not self._is_tuner_study(study_id):
            return self._storage.create_new_trial(study_id, template_trial)
        key = queue_key(template_trial)
        with self._lock_of(study_id):
            held = self._holder(self._indexes.get(study_id), key)
            if held is not None:
                return held
            name = self._storage.get_study_name_from_id(study_id)
            with study_lock(self._lock_url, name):  # runs connected to the database directly
                index = self._fresh_index(study_id)
                held = self._holder(index, key)
                if held is not None:
                    return held
                created = self._storage.create_new_trial(study_id, template_trial)
                index.add(self._storage.get_trial(created))
                return created

    def _is_tuner_study(self, study_id: int) -> bool:
        if study_id not in self._tuner_studies and \
                records.SETUP in self._storage.get_study_user_attrs(study_id):
            self._tuner_studies.add(study_id)
        return study_id in self._tuner_studies

    def _lock_of(self, study_id: int) -> threading.Lock:
        with self._guard:
            return self._study_locks.setdefault(study_id, threading.Lock())

    def _holder(self, index: _QueueIndex | None, key: str) -> int | None:
        """A trial that holds ``key`` now (the index may know it in an older state)."""
        for held in (index.holders.get(key, []) if index is not None else []):
            if self._storage.get_trial(held).state in PENDING_OR_DONE:
                return held
        return None

    def _fresh_index(self, study_id: int) -> _QueueIndex:
        """The study's index, read again if any trial was created since it was read."""
        index = self._indexes.get(study_id)
        if index is not None:
            try:
                self._storage.get_trial_id_from_study_id_trial_number(study_id,
                                                                      index.next_number)
            except KeyError:
                return index  # no trial was created since: still whole
        index = _QueueIndex()
        for trial in self._storage.get_all_trials(study_id, deepcopy=False):
            index.add(trial)
        self._indexes[study_id] = index
        return index
