"""Each running trial's last finished epoch, kept in the artifact store, so that no epoch
is trained twice.

After every epoch but the last, the objective overwrites the trial's checkpoint
(:mod:`tuner.training.checkpoint`: weights, optimizer, scheduler, early stopping, every
random stream) in the study's artifact store under an id made of the study's name, the
trial's parameters and its paired unit (repeat): the same configuration of the same study
finds it again however it comes back. A trial interrupted by Ctrl-C goes back to the
queue with its number and its reported values (:mod:`tuner.workers.worker`); a trial whose
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

A checkpoint is never half-written: it goes to a partial file that is renamed over the
last one (:func:`tuner.optuna_internals.replace_artifact`), so a kill during the write
leaves the previous epoch's. It is checked before a run goes on from it: one that cannot
be loaded (truncated, of another format or configuration, inconsistent) is not used, and
:attr:`TrialCheckpoints.unusable` says why (the objective prints it: "trial 7: checkpoint
unreadable (...), starting again at epoch 1 of 15"). A write that fails (a full disk, a
read-only folder) is one warning per trial; the trial trains on, since the checkpoint only
serves a resume.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from typing import Any

from optuna.artifacts.exceptions import ArtifactNotFound

from tuner import records
from tuner.config import RUN_FIELDS
from tuner.optuna_internals import PARTIAL, replace_artifact
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
                 enabled: bool = True, trial_number: int | None = None) -> None:
        self.store = store if enabled else None
        self.artifact_id = artifact_id
        self.config = config
        self.trial_number = trial_number
        #: why the stored checkpoint was not used ("unreadable (truncated or damaged:
        #: ...)"); None when there was none, or it was used
        self.unusable: str | None = None
        self.write_failed = False  # warned once: later failures of this trial are silent

    def load(self) -> bytes | None:
        """The stored checkpoint of this configuration, or None: none (the common case,
        silent), or one that cannot be used (:attr:`unusable` says why); the trial then
        starts at epoch 1."""
        if self.store is None:
            return None
        try:
            with self.store.open_reader(self.artifact_id) as reader:
                data = reader.read()
        except (ArtifactNotFound, FileNotFoundError):
            return None
        except Exception as exc:  # a folder it may not read, a store that failed
            self.unusable = f"unreadable ({_short(exc)})"
            return None
        self.unusable = self._check(data)
        return data if self.unusable is None else None

    def _check(self, data: bytes) -> str | None:
        """Why ``data`` cannot be gone on from, or None when it can."""
        try:
            stored = checkpoint.progress(data)
        except Exception as exc:  # a write cut short (the old, non-atomic one), bit rot
            return f"unreadable (truncated or damaged, {len(data)} bytes: {_short(exc)})"
        if stored is None:
            return (f"unreadable (another format than {checkpoint.FORMAT}: written by "
                    "another tuner version)")
        epoch, history, config = stored
        if _trained(config) != _trained(self.config):
            return "of another configuration (the base or --set changed)"
        epochs = self.config.get("epochs")
        if not isinstance(epoch, int) or epoch < 1 or (epochs is not None and epoch >= epochs) \
                or len(history.get("val_dice", ())) != epoch:
            return f"unreadable (inconsistent: epoch {epoch!r} with " \
                   f"{len(history.get('val_dice', ()))} epochs of curves)"
        return None

    def keep(self, epoch: int, capture) -> None:
        """Replace the checkpoint with the state after ``epoch``, in one step. A failure
        (a full disk, a read-only folder) is a warning, once per trial: the trial trains
        on, and a stopped run goes on from the last checkpoint written, if any."""
        if self.store is None:
            return
        try:
            replace_artifact(self.store, self.artifact_id, io.BytesIO(capture()))
        except Exception as exc:
            if not self.write_failed:
                who = f"trial {self.trial_number}" if self.trial_number is not None \
                    else "trial"
                log.warning("%s: checkpoint of epoch %d not written (%s); training goes "
                            "on without it", who, epoch, _short(exc))
            self.write_failed = True

    def remove(self) -> None:
        if self.store is None:
            return
        for artifact_id in (self.artifact_id, self.artifact_id + PARTIAL):
            try:
                self.store.remove(artifact_id)
            except Exception:  # never written (one-epoch runs), or removed already
                pass


def _short(exc: BaseException) -> str:
    """``exc`` on one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def _trained(config: dict[str, Any]) -> dict[str, Any]:
    """What a config trains, as JSON would hold it: how a run computes (threads, device,
    precision...) may differ between the worker that wrote a checkpoint and the one that
    goes on from it."""
    kept = {k: v for k, v in config.items() if k not in RUN_FIELDS}
    return json.loads(json.dumps(kept, sort_keys=True, default=repr))
