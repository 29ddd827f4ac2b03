"""A running trial's heartbeat: the proof of life that lets other workers retry a dead one.

Optuna's ``study.optimize`` records heartbeats itself, but tuner's worker loop
(:mod:`tuner.workers.worker`) claims trials on its own, so it beats here with the storage's
public ``record_heartbeat`` from a daemon thread. A trial whose last beat is older than the
grace period is failed by Optuna's ``fail_stale_trials``, and ``RetryHeartbeatStaleTrialCallback``
puts a copy back in the queue.

A starved process (more workers than cores) still beats: a beat is a few milliseconds of
CPU every interval in a thread of its own, which the training thread lets run (torch
releases the GIL, Python switches threads every few milliseconds), so its trial goes
stale only when the process is stopped or dead, not when it trains slowly. A beat the
database refused (a busy SQLite file, a dropped connection) is tried again after a second,
not after a whole interval, so a few refusals in a row do not add up to the grace period.
The grace period is one value for the whole storage (the other workers judge staleness
by it), so it is not scaled with a trial's epoch time; should a trial still be failed
while its worker runs on, that worker drops its result (:mod:`tuner.workers.worker`) and the
retry is the trial's one result.

Every beat is also a look for dead workers' trials (the ``on_beat`` hook): with long trials,
a killed worker's trial is failed and re-queued within the grace period and one interval,
by whichever live worker beats next, instead of when a worker next asks for work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from tuner.records import PROXY_HEARTBEAT

HEARTBEAT_INTERVAL_S = 10  # a killed worker's trial is noticed after the grace period
GRACE_PERIOD_S = 30  # and re-queued by Optuna's retry callback
MAX_RETRY = 3  # a trial whose worker died is re-queued at most this many times
RETRY_S = 1.0  # a refused beat is tried again this soon


class Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds in a daemon thread, and
    after each beat calls ``on_beat`` (the takeover of dead workers' trials: a live worker
    looks for them while it trains, not only when it asks for work).

    A storage with Optuna's heartbeats (``RDBStorage``) records them in its own table;
    another (Optuna's gRPC proxy, which carries none) gets a count in the trial's
    :data:`tuner.records.PROXY_HEARTBEAT` system attribute, which ``tuner proxy`` watches
    (:mod:`tuner.workers.proxy_watch`).
    """

    def __init__(self, storage, trial_id: int, interval: int | None,
                 on_beat: Callable[[], None] | None = None) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._on_beat = on_beat
        self._native = callable(getattr(storage, "record_heartbeat", None))
        self._beats = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self._interval:
            self._record()
            self._thread = threading.Thread(target=self._beat, name="tuner-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def _record(self) -> None:
        if self._native:
            self._storage.record_heartbeat(self._trial_id)
        else:
            self._beats += 1
            self._storage.set_trial_system_attr(self._trial_id, PROXY_HEARTBEAT, self._beats)

    def _beat(self) -> None:
        wait = self._interval
        while not self._stop.wait(wait):
            try:
                self._record()
                wait = self._interval
            except Exception:  # a busy database, a lost connection: retry soon (pre-ping)
                wait = min(RETRY_S, self._interval)
                continue
            if self._on_beat is not None:
                try:
                    self._on_beat()
                except Exception:  # the takeover is anyone's job: the next beat tries again
                    logging.getLogger("tuner").debug("takeover after a beat failed",
                                                     exc_info=True)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
