"""A running trial's heartbeat: the proof of life that lets other workers retry a dead one.

Optuna's ``study.optimize`` records heartbeats itself, but tuner's worker loop
(:mod:`tuner.study.worker`) claims trials on its own, so it beats here with the storage's
public ``record_heartbeat`` from a daemon thread. A trial whose last beat is older than the
grace period is failed by Optuna's ``fail_stale_trials``, and ``RetryHeartbeatStaleTrialCallback``
puts a copy back in the queue.
"""

from __future__ import annotations

import threading

HEARTBEAT_INTERVAL_S = 10  # a killed worker's trial is noticed after the grace period
GRACE_PERIOD_S = 30  # and re-queued by Optuna's retry callback


class Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds in a daemon thread."""

    def __init__(self, storage, trial_id: int, interval: int | None) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        if self._interval:
            self._storage.record_heartbeat(self._trial_id)
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._storage.record_heartbeat(self._trial_id)
            except Exception:  # a lost connection: the next beat retries (pre-ping)
                continue

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
