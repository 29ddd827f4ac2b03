"""What a study and its trials keep in the storage: every stored name, and how to read it.

The study side (runner, objective, worker) writes these; exports, reports, the campaign
and optuna-dashboard read them. Every attribute name lives here as a constant, and is
written and read only through it: this module is the contract between the two sides, and
the names are what existing databases hold, so they never change.

User attributes of a trial:

- :data:`CONFIG`: the resolved :class:`~tuner.config.TrainConfig` as a dict;
- :data:`CURVES`: ``{name: [value per epoch]}`` for every name in :data:`CURVE_NAMES`
  (epoch ``k`` is list index ``k - 1``; Optuna's intermediate values use step ``k``);
- :data:`EPOCHS_RUN`, :data:`BEST_EPOCH` (1-based), :data:`BEST_VAL_DICE`,
  :data:`PRUNED_AT` (epoch or None);
- :data:`SECONDS` (whole trial), :data:`SECONDS_PER_EPOCH` (mean of training + validation):
  wall seconds; CPU seconds, device seconds, optimizer steps and the load average are per
  epoch in :data:`CURVES` (:data:`CPU_SECONDS`, :data:`DEVICE_SECONDS`, :data:`STEPS`,
  :data:`LOAD`; studies stored before them have none);
- :data:`REPEAT` (0, 1, ...) and :data:`SEED` (the training seed used by this repeat);
  with ``folds`` > 1 the stored repeat is the paired unit (fold and seed together:
  :func:`tuner.study.spec.unit_parts`) and :data:`FOLD` the fold it validates on;
- :data:`TEST`: ``{metric: value}`` on the test split with the best weights (finished
  trials of studies with a test split);
- :data:`STOP_REASON`: one of :data:`STOP_REASONS`; :data:`FAIL_REASON` on failures;
  :data:`PRUNE_REASON` on pruned trials (the value, the threshold and the rule in words);
- :data:`RUNTIME`: device, precision and why it was chosen, memory format;
- :data:`WORK`: training work so far, forward GFLOP per image x images trained (what the
  winner rule calls cheaper; wall seconds measure the machine's load as much);
- :data:`NORMALIZATION`: ``{"kind", "mean", "std"}`` of the input normalisation the trial
  trained with (``zscore`` statistics come from its train split; ``tuner evaluate`` and
  ``tuner predict`` reuse them without the training data);
- :data:`TRIVIAL_DICE`: the validation Dice of predicting every pixel foreground (what
  relative pruning thresholds and the data caveats compare with);
- :data:`STEPS_PER_EPOCH`: optimizer steps of one epoch (pruning warm-ups count them);
- :data:`DUPLICATE_OF`: on a sampled trial whose configuration (parameters and repeat) the
  study held already: that trial's number; it was not trained (state PRUNED).

User attributes of the study, written once when it is created: :data:`QUESTION`,
:data:`STUDY_FILE`, :data:`SEARCHED` (parameter names), :data:`BASE` (fixed fields),
:data:`REPEATS`, :data:`SETUP` (what decides its trials, compared on every later run:
tuner/study/setup.py) and :data:`CAVEATS` (where its data cannot carry a conclusion, in
words: tuner/data/caveats.py). optuna-dashboard notes
(Markdown) on the study and on each trial say the same in words (tuner/study/notes.py).

Artifacts: galleries named ``{GALLERY_PREFIX}{epoch:03d}.png``, weights
:data:`WEIGHTS_ARTIFACT`, per-epoch curves :data:`CURVES_ARTIFACT`.

This module imports no Optuna at import time, so that the training path stays free of it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tuner.config import OPTION_FIELDS

if TYPE_CHECKING:  # pragma: no cover - types only
    import optuna
    from optuna.trial import FrozenTrial

#: splits whose metrics are recorded every epoch (curves are named ``{split}_{metric}``)
CURVE_SPLITS = ("train", "val")
#: metrics computed on every split each epoch, from confusion counts over the whole split
METRICS = ("loss", "dice", "iou", "precision", "recall", "accuracy")
#: per-epoch curves of the epoch itself (no split): what it cost and under what load.
#: ``seconds``: wall seconds of training and validation (they measure the machine's load as
#: much as the configuration); ``cpu_seconds``: this process's CPU seconds in them (every
#: thread, ``time.process_time``); ``device_seconds``: CUDA's time between the epoch's
#: first and last event (None off CUDA); ``steps``: optimizer steps; ``load``: the
#: machine's one-minute load average as the epoch began (None where the system has none)
WALL_SECONDS = "seconds"
CPU_SECONDS = "cpu_seconds"
DEVICE_SECONDS = "device_seconds"
STEPS = "steps"
LOAD = "load"
CURVE_NAMES = tuple(f"{split}_{metric}" for split in CURVE_SPLITS for metric in METRICS) + (
    "lr",
    WALL_SECONDS,
    CPU_SECONDS,
    DEVICE_SECONDS,
    STEPS,
    LOAD,
)

#: the name of a study's one objective value, as optuna-dashboard shows it
METRIC_NAME = "val Dice"

# -- trial user attributes ----------------------------------------------------------------
CONFIG = "config"
CURVES = "curves"
EPOCHS_RUN = "epochs_run"
BEST_EPOCH = "best_epoch"
BEST_VAL_DICE = "best_val_dice"
PRUNED_AT = "pruned_at"
#: ``{"epoch": k, "of": epochs, "trial": n}``: this trial went on from trial n's checkpoint
#: of epoch k (itself after Ctrl-C, or the trial a dead worker left) instead of epoch 1
RESUMED = "resumed"
SECONDS = "seconds"
SECONDS_PER_EPOCH = "seconds_per_epoch"
REPEAT = "repeat"
#: the fold a trial validates on (only in studies with folds > 1)
FOLD = "fold"
SEED = "seed"
TEST = "test"
STOP_REASON = "stop_reason"
#: how the trial computed: device, precision, why that precision, memory format
RUNTIME = "runtime"
FAIL_REASON = "fail_reason"
PRUNE_REASON = "prune_reason"
WORK = "work_gflop"
TRIVIAL_DICE = "trivial_val_dice"
NORMALIZATION = "normalization"
STEPS_PER_EPOCH = "steps_per_epoch"
DUPLICATE_OF = "duplicate_of"
#: why a finished run stopped: all epochs, early stopping, or a loss that was no number;
#: a ``tuner train`` run stopped by Ctrl-C or SIGTERM (a trial's goes back in the queue)
STOP_REASONS = ("epochs", "early_stop", "diverged", "interrupted")

# -- study user attributes ----------------------------------------------------------------
QUESTION = "question"
STUDY_FILE = "study_file"
SEARCHED = "searched"
BASE = "base"
REPEATS = "repeats"
SETUP = "setup"
CAVEATS = "data_caveats"
#: of a campaign's record study (named like the campaign): ``{stage: frozen winner}``
CAMPAIGN = "campaign"
#: of a campaign's record study: the winning configuration's scores on the test images
CAMPAIGN_FINAL = "campaign_final"
#: of a campaign's record study: the campaign's setup (``tuner.study.campaign_setup``)
CAMPAIGN_SETUP = "campaign_setup"

# -- trial system attributes (tuner's runtime) -----------------------------------------------
#: a proxied worker's heartbeat (Optuna's gRPC proxy carries no heartbeats): a count the
#: worker raises every interval; ``tuner proxy`` fails a trial whose count stopped moving
PROXY_HEARTBEAT = "tuner:beat"

# -- Optuna's own names that tuner reads ----------------------------------------------------
#: system attribute where ``Study.enqueue_trial`` keeps a waiting trial's parameters
FIXED_PARAMS = "fixed_params"
#: system attribute of a trial that Optuna's stale-trial retry made: the failed trial's number
FAILED_TRIAL = "failed_trial"

# -- artifacts ----------------------------------------------------------------------------
GALLERY_PREFIX = "gallery_epoch"
WEIGHTS_ARTIFACT = "best_weights.pt"
#: a trial's per-epoch curves; the ``.csv`` ending makes optuna-dashboard show a table
CURVES_ARTIFACT = "curves.csv"
#: artifact-store id prefix of a running trial's last checkpoint (not a trial artifact:
#: overwritten every epoch, removed when the trial ends; ``tuner.study.checkpoints``)
CHECKPOINT_PREFIX = "tuner-checkpoint-"


def trial_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial runs with: its own, or the fixed ones of a waiting trial."""
    return trial.params or dict(trial.system_attrs.get(FIXED_PARAMS, {}))


def repeat_of(trial: FrozenTrial | optuna.Trial) -> int:
    """Which repeat of its configuration a trial is (0 for the first)."""
    return int(trial.user_attrs.get(REPEAT, 0))


def fold_of(trial: FrozenTrial | optuna.Trial) -> int:
    """Which fold a trial validates on: its :data:`FOLD`, else its config's (0 without
    folds)."""
    if FOLD in trial.user_attrs:
        return int(trial.user_attrs[FOLD])
    return int((trial.user_attrs.get(CONFIG) or {}).get("fold", 0))


def ranked_trials(study: optuna.Study, top: int | None = None) -> list[FrozenTrial]:
    """Completed trials by descending value (validation Dice), at most ``top``."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ranked = sorted(done, key=lambda t: t.value, reverse=True)
    return ranked if top is None else ranked[:top]


def flat_config(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` (a stored config) with each options field spread into its
    ``<field>.<component>.<option>`` keys: every value hashable, as tables compare them."""
    flat = {k: v for k, v in values.items() if k not in OPTION_FIELDS}
    for name in OPTION_FIELDS:
        for component, options in (values.get(name) or {}).items():
            flat.update({f"{name}.{component}.{option}": value
                         for option, value in (options or {}).items()})
    return flat


#: what a trial cost, as :func:`trial_costs` reads it: wall seconds (whole run, to its best
#: epoch), process CPU seconds (the same), device seconds, optimizer steps, training work
#: (GFLOP x images) and the mean one-minute load average its epochs began under
COST_NAMES = ("seconds", "seconds_to_best", "cpu_seconds", "cpu_seconds_to_best",
              "device_seconds", "steps", "work", "load")


def curve_total(curves: Mapping[str, list], name: str, epochs: int | None) -> float | None:
    """The sum of curve ``name`` over epochs 1..``epochs``; None when ``epochs`` is not
    among those recorded or one of them lacks the value (a study stored before the curve
    was recorded, a device time off CUDA)."""
    values = list(curves.get(name) or [])[:epochs or 0]
    if not epochs or len(values) < epochs or any(
            v is None or not math.isfinite(v) for v in values):
        return None
    return float(sum(values))


def trial_costs(attrs: Mapping[str, Any]) -> dict[str, float | None]:
    """The :data:`COST_NAMES` of a trial from its user attributes (None: not recorded).
    Steps of a study stored before the :data:`STEPS` curve: epochs run x
    :data:`STEPS_PER_EPOCH`, when that was stored."""
    curves = attrs.get(CURVES) or {}
    ran, best = len(curves.get("val_dice") or []), attrs.get(BEST_EPOCH)
    steps = curve_total(curves, STEPS, ran)
    if steps is None and ran and attrs.get(STEPS_PER_EPOCH) is not None:
        steps = float(ran * attrs[STEPS_PER_EPOCH])
    loads = [v for v in (curves.get(LOAD) or [])[:ran] if v is not None and math.isfinite(v)]
    return {"seconds": attrs.get(SECONDS),
            "seconds_to_best": curve_total(curves, WALL_SECONDS, best),
            "cpu_seconds": curve_total(curves, CPU_SECONDS, ran),
            "cpu_seconds_to_best": curve_total(curves, CPU_SECONDS, best),
            "device_seconds": curve_total(curves, DEVICE_SECONDS, ran), "steps": steps,
            "work": attrs.get(WORK), "load": sum(loads) / len(loads) if loads else None}


def fail_reason(trial: FrozenTrial) -> str:
    """Why a trial failed, as recorded; a trial failed without a reason is one whose worker
    stopped sending heartbeats (killed, or starved past the grace period)."""
    return str(trial.user_attrs.get(FAIL_REASON) or
               "no reason recorded: its worker stopped sending heartbeats (killed, or "
               "starved past the grace period); such a trial is retried")
