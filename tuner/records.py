"""What a trial leaves in the storage: the names of its user attributes and curves.

The objective writes these; exports, reports and optuna-dashboard read them. Keeping the
names here, in one place, is the contract between the two sides.

User attributes of a finished (or pruned) trial:

- ``config``: the resolved :class:`~tuner.config.TrainConfig` as a dict;
- ``curves``: ``{name: [value per epoch]}`` for every name in :data:`CURVE_NAMES`
  (epoch ``k`` is list index ``k - 1``; Optuna's intermediate values use step ``k``);
- ``epochs_run``, ``best_epoch`` (1-based), ``best_val_dice``, ``pruned_at`` (epoch or None);
- ``seconds`` (whole trial), ``seconds_per_epoch`` (mean of training + validation);
- ``repeat`` (0, 1, ...) and ``seed`` (the training seed used by this repeat);
- ``test``: ``{metric: value}`` on the test split with the best weights (finished trials
  of studies with a test split);
- ``stop_reason``: ``epochs``, ``early_stop`` or ``diverged``; ``fail_reason`` on failures.

User attributes of the study: ``question``, ``study_file``, ``searched`` (parameter
names), ``base`` (fixed fields), ``repeats``. optuna-dashboard notes (Markdown) on the
study and on each trial say the same in words (tuner/notes.py).
"""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial

SPLITS = ("train", "val")
#: metrics computed on every split each epoch, from confusion counts over the whole split
METRICS = ("loss", "dice", "iou", "precision", "recall", "accuracy")
CURVE_NAMES = tuple(f"{split}_{metric}" for split in SPLITS for metric in METRICS) + (
    "lr",
    "seconds",
)

CONFIG = "config"
CURVES = "curves"
EPOCHS_RUN = "epochs_run"
BEST_EPOCH = "best_epoch"
BEST_VAL_DICE = "best_val_dice"
PRUNED_AT = "pruned_at"
SECONDS = "seconds"
SECONDS_PER_EPOCH = "seconds_per_epoch"
REPEAT = "repeat"
SEED = "seed"
TEST = "test"
QUESTION = "question"  # a study user attribute
#: artifact metadata: galleries are uploaded as ``gallery_epoch{k:03d}.png``
GALLERY_PREFIX = "gallery_epoch"
WEIGHTS_ARTIFACT = "best_weights.pt"


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial runs with: its own, or the fixed ones of a waiting trial."""
    return trial.params or dict(trial.system_attrs.get("fixed_params", {}))
