"""Each running trial's last finished epoch, kept in the artifact store, so that no epoch
is trained twice.

After every epoch but the last, the objective overwrites the trial's checkpoint
(:mod:`tuner.training.checkpoint`: weights, optimizer, scheduler, early stopping, every
random stream) in the study's artifact store under an id made of the study's name, the
trial's parameters and its paired unit (repeat): the same configuration of the same study
finds it again however it comes back. A trial interrupted by Ctrl-C goes back to the
queue with its number and its reported values (:mod:`tuner.study.worker`); a trial whose
worker died is failed as stale and retried by Optuna as a new trial with the old one's
parameters and intermediate values; either way the next run of that configuration goes on
after the checkpoint's epoch and says so ("trial 7 resumed at epoch 9 of 15"). The
checkpoint is removed when the trial ends (complete, pruned or failed), so the store holds
at most one per running trial.

It is written with the store's own ``write`` / ``open_reader`` / ``remove`` (Optuna's
artifact-store protocol: a local folder, or S3 / GCS for many machines), not as a trial
artifact, because it is overwritten each epoch: a trial artifact would keep every epoch's
copy in the trial's metadata. A checkpoint of another configuration is never loaded: its
id is the configuration's, and the loop checks the stored config too.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from typing import Any

from tuner import records
from tuner.config import RUN_FIELDS
from tuner.training import checkpoint

log = logging.getLogger("tuner")


def checkpoint_id(study_name: str, params: dict[str, Any], unit: int) -> str:
    """The artifact-store id of a configuration's checkpoint in one study."""
    key = json.dumps([study_name, params, unit], sort_keys=True, default=repr)
    return records.CHECKPOINT_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:32]


class TrialCheckpoints:
    """The checkpoint of one trial: read once when it starts, kept after each epoch,
    removed at its end. Without an artifact store (or with ``enabled`` False) it does
    nothing."""

    def __init__(self, store, artifact_id: str, config: dict[str, Any],
                 enabled: bool = True) -> None:
        self.store = store if enabled else None
        self.artifact_id = artifact_id
        self.config = config

    def load(self) -> bytes | None:
        """The stored checkpoint of this configuration, or None (none, unreadable, of
        another format or another config: the trial then starts at epoch 1)."""
        if self.store is None:
            return None
        try:
            with self.store.open_reader(self.artifact_id) as reader:
                data = reader.read()
            stored = checkpoint.progress(data)
        except Exception:  # missing (the common case), truncated, or of an older tuner
            return None
        if stored is None or _trained(stored[2]) != _trained(self.config):
            return None
        return data

    def keep(self, epoch: int, capture) -> None:
        """Overwrite the checkpoint with the state after ``epoch``."""
        if self.store is not None:
            self.store.write(self.artifact_id, io.BytesIO(capture()))

    def remove(self) -> None:
        if self.store is None:
            return
        try:
            self.store.remove(self.artifact_id)
        except Exception:  # never written (one-epoch runs), or removed already
            pass


def _trained(config: dict[str, Any]) -> dict[str, Any]:
    """What a config trains, as JSON would hold it: how a run computes (threads, device,
    precision...) may differ between the worker that wrote a checkpoint and the one that
    goes on from it."""
    kept = {k: v for k, v in config.items() if k not in RUN_FIELDS}
    return json.loads(json.dumps(kept, sort_keys=True, default=repr))
