"""The Optuna objective: one trial = one training run of the trial's configuration.

Per epoch, in the optuna-examples order: ``trial.report(val_dice, epoch)``, then
``if trial.should_prune(): raise optuna.TrialPruned()``; an epoch the trial reported before
(re-queued after Ctrl-C, or a retry that inherits its values) is not reported again, with
Optuna's "already reported" warning. The curves so far are stored as a
user attribute every epoch, so optuna-dashboard shows a running trial live and a pruned
trial keeps its history and why it was pruned. The value is the best validation Dice of
the run. A sampled configuration that the study holds already is not trained
(:mod:`tuner.study.duplicates`).
"""

from __future__ import annotations

import io
import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import torch

from tuner import records
from tuner.config import TrainConfig
from tuner.data import Split, build_splits, normalize_kind, normalize_stats
from tuner.data.caveats import steps_per_epoch
from tuner.inference.gallery import gallery_epochs, render_gallery, spread_indices
from tuner.optuna_internals import storage_of, trial_id
from tuner.records import repeat_of
from tuner.results.curves import curves_csv
from tuner.search.pruners import prune_reason
from tuner.study.checkpoints import TrialCheckpoints, checkpoint_id
from tuner.study.duplicates import earlier_same
from tuner.study.notes import save_trial_note
from tuner.study.spec import StudySpec
from tuner.training import EpochReport, FitResult, checkpoint, fit, predict_probabilities, score
from tuner.training.metrics import trivial_dice_of_share

log = logging.getLogger("tuner")


def normalization_record(cfg: TrainConfig, train: Split) -> dict[str, Any]:
    """What the trial's input normalisation is, stored so that evaluation and prediction
    need not decode its training data again."""
    stats = normalize_stats(cfg, train)
    return {"kind": normalize_kind(cfg), "mean": stats[0] if stats else None,
            "std": stats[1] if stats else None}


def _retry_note(retry_of: int | None) -> str:
    return f" (the retry of trial {retry_of})" if retry_of is not None else ""


def finite_or_none(value: float) -> float | None:
    """JSON-safe curve values: NaN/inf (a diverged run) become None."""
    return value if math.isfinite(value) else None


class Objective:
    """Callable ``objective(trial) -> best validation Dice`` for one study."""

    def __init__(self, spec: StudySpec, overrides: dict[str, Any] | None = None,
                 artifact_store=None, save_weights: bool = False,
                 galleries: bool = True,
                 on_epoch: Callable[[optuna.Trial, EpochReport, int], None] | None = None,
                 checkpoints: bool = True) -> None:
        self.spec = spec
        self.checkpoints = checkpoints  # keep each running trial's last epoch (resumable)
        self.on_epoch = on_epoch  # (trial, report, epochs): progress display
        self.overrides = dict(overrides or {})
        self.artifact_store = artifact_store
        self.save_weights = save_weights
        self.galleries = galleries and artifact_store is not None

    def config_of(self, trial: optuna.Trial) -> TrainConfig:
        params = self.spec.suggest(trial)
        return self.spec.config(params, self.overrides, repeat_of(trial))

    def __call__(self, trial: optuna.Trial) -> float:
        cfg = self.config_of(trial)
        trial.set_user_attr(records.CONFIG, cfg.to_dict())
        trial.set_user_attr(records.REPEAT, repeat_of(trial))
        trial.set_user_attr(records.SEED, cfg.seed)
        if cfg.folds > 1:
            trial.set_user_attr(records.FOLD, cfg.fold)
        self._skip_if_duplicate(trial)
        save_trial_note(trial, cfg, repeat_of(trial))
        splits = build_splits(cfg)
        trivial = trivial_dice_of_share(splits.val.foreground_share)
        trial.set_user_attr(records.TRIVIAL_DICE, trivial)
        trial.set_user_attr(records.STEPS_PER_EPOCH, steps_per_epoch(len(splits.train), cfg))
        trial.set_user_attr(records.NORMALIZATION, normalization_record(cfg, splits.train))
        shown = spread_indices(splits.val.foreground_shares) if self.galleries else []
        snapshot_epochs = set(gallery_epochs(cfg.epochs)) if self.galleries else set()
        history: dict[str, list] = {name: [] for name in records.CURVE_NAMES}
        kept = TrialCheckpoints(
            self.artifact_store, checkpoint_id(trial.study.study_name, dict(trial.params),
                                               repeat_of(trial)),
            cfg.to_dict(), enabled=self.checkpoints and cfg.checkpoints and cfg.epochs > 1,
            trial_number=trial.number)
        resume = kept.load()
        # what this trial reported before (it was re-queued, or a retry inheriting them):
        # not reported again (Optuna would warn "step=N is already reported" for each)
        frozen = storage_of(trial.study).get_trial(trial_id(trial))
        reported = set(frozen.intermediate_values)
        retry_of = frozen.system_attrs.get(records.FAILED_TRIAL)
        if resume is not None:
            history = self._resumed(trial, resume, cfg, retry_of)
        elif kept.unusable is not None:
            self._not_resumed(trial, kept.unusable, cfg, retry_of)

        first_epoch = len(history["val_dice"]) + 1  # 1, or the epoch a resumed run goes on at

        def on_epoch(report: EpochReport) -> None:
            if report.epoch == first_epoch:  # how this trial computes, and why
                trial.set_user_attr(records.RUNTIME, report.runtime.as_record())
            for name in records.CURVE_NAMES:
                history[name].append(finite_or_none(report.metrics[name]))
            trial.set_user_attr(records.CURVES, history)
            trial.set_user_attr(records.WORK, report.work)
            if report.epoch in snapshot_epochs:
                self._upload_gallery(trial, report, splits.val, shown, cfg)
            if report.epoch not in reported:
                trial.report(report.metrics["val_dice"], report.epoch)
            if self.on_epoch is not None:
                self.on_epoch(trial, report, cfg.epochs)
            if report.epoch < cfg.epochs and trial.should_prune():  # a finished run is kept
                trial.set_user_attr(records.PRUNED_AT, report.epoch)
                values = {epoch: d if d is not None else math.nan
                          for epoch, d in enumerate(history["val_dice"], start=1)}
                trial.set_user_attr(records.PRUNE_REASON, prune_reason(
                    self.spec.pruner, trial.study.pruner, values, trivial, cfg.epochs))
                raise optuna.TrialPruned(f"pruned at epoch {report.epoch}")

        try:
            result = fit(cfg, splits, on_epoch, resume=resume, on_checkpoint=kept.keep)
        except KeyboardInterrupt:  # queued again: the next run goes on from the checkpoint
            raise
        except BaseException:
            kept.remove()
            raise
        else:
            kept.remove()
        finally:
            self._record_summary(trial, history)
            self._upload_curves(trial, history)
        if len(splits.test):  # test_fraction=0 holds out nothing
            test = score(result.model, splits.test, cfg, result.runtime, result.normalize)
            trial.set_user_attr(records.TEST, {k: finite_or_none(v) for k, v in test.items()})
        trial.set_user_attr(records.STOP_REASON, result.stop_reason)
        if self.save_weights and self.artifact_store is not None:
            self._upload_weights(trial, result)
        return result.best_val_dice

    @staticmethod
    def _resumed(trial: optuna.Trial, resume: bytes, cfg: TrainConfig,
                 retry_of: int | None) -> dict[str, list]:
        """Record and say that ``trial`` goes on after its checkpoint's epoch; the curves
        of the epochs it holds."""
        epoch, history, _ = checkpoint.progress(resume)
        trial.set_user_attr(records.RESUMED, {"epoch": epoch, "of": cfg.epochs,
                                              "retry_of": retry_of})
        log.warning("trial %d%s resumed at epoch %d of %d (epochs 1-%d from its checkpoint)",
                    trial.number, _retry_note(retry_of), epoch + 1, cfg.epochs, epoch)
        return {name: [finite_or_none(v) for v in history.get(name, [])]
                for name in records.CURVE_NAMES}

    @staticmethod
    def _not_resumed(trial: optuna.Trial, why: str, cfg: TrainConfig,
                     retry_of: int | None) -> None:
        """Record and say that ``trial`` had a checkpoint it cannot go on from (``why``)
        and trains from epoch 1 (a resume note of epoch 0 with the reason)."""
        trial.set_user_attr(records.RESUMED, {"epoch": 0, "of": cfg.epochs,
                                              "retry_of": retry_of, "unusable": why})
        log.warning("trial %d%s: checkpoint %s, starting again at epoch 1 of %d",
                    trial.number, _retry_note(retry_of), why, cfg.epochs)

    @staticmethod
    def _skip_if_duplicate(trial: optuna.Trial) -> None:
        """End a sampled trial whose configuration the study holds already, untrained."""
        earlier = earlier_same(trial)
        if earlier is not None:
            trial.set_user_attr(records.DUPLICATE_OF, earlier)
            trial.set_user_attr(records.PRUNE_REASON, f"duplicate of trial {earlier} (same "
                                "parameters and repeat): not trained again")
            raise optuna.TrialPruned(f"duplicate of trial {earlier}")

    @staticmethod
    def _record_summary(trial: optuna.Trial, history: dict[str, list]) -> None:
        """Epoch counts, best epoch and timings, for finished and pruned trials alike."""
        dice = [d if d is not None else -1.0 for d in history["val_dice"]]
        seconds = [s for s in history["seconds"] if s is not None]
        if not dice:
            return
        best = max(range(len(dice)), key=dice.__getitem__)
        trial.set_user_attr(records.EPOCHS_RUN, len(dice))
        trial.set_user_attr(records.BEST_EPOCH, best + 1)
        trial.set_user_attr(records.BEST_VAL_DICE, max(dice[best], 0.0))
        trial.set_user_attr(records.SECONDS, float(sum(seconds)))
        trial.set_user_attr(records.SECONDS_PER_EPOCH, float(sum(seconds) / len(seconds)))

    def _upload_curves(self, trial: optuna.Trial, history: dict[str, list]) -> None:
        """Per-epoch curves as a CSV artifact (optuna-dashboard shows it as a table)."""
        if self.artifact_store is None or not history["val_dice"]:
            return
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / records.CURVES_ARTIFACT
            path.write_text(curves_csv(history), encoding="utf-8")
            optuna.artifacts.upload_artifact(artifact_store=self.artifact_store,
                                             file_path=str(path), study_or_trial=trial,
                                             mimetype="text/csv")

    def _upload_gallery(self, trial: optuna.Trial, report: EpochReport, val, shown: list[int],
                        cfg: TrainConfig) -> None:
        images, masks = val.tensors(shown)
        probs = predict_probabilities(report.model, images, report.runtime, report.normalize)
        title = (f"trial {trial.number} epoch {report.epoch}: "
                 f"val Dice {report.metrics['val_dice']:.3f}")
        picture = render_gallery(images, masks, probs, cfg.threshold, title)
        name = f"{records.GALLERY_PREFIX}{report.epoch:03d}.png"
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / name
            picture.save(path)
            optuna.artifacts.upload_artifact(artifact_store=self.artifact_store,
                                             file_path=str(path), study_or_trial=trial,
                                             mimetype="image/png")

    def _upload_weights(self, trial: optuna.Trial, result: FitResult) -> None:
        buffer = io.BytesIO()
        torch.save({k: v.cpu() for k, v in result.model.state_dict().items()}, buffer)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / records.WEIGHTS_ARTIFACT
            path.write_bytes(buffer.getvalue())
            optuna.artifacts.upload_artifact(artifact_store=self.artifact_store,
                                             file_path=str(path), study_or_trial=trial,
                                             mimetype="application/octet-stream")
