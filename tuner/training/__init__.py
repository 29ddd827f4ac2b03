"""Training one model: the loop, models, losses, optimizers, metrics, device and precision.

Knows nothing of Optuna, not even by import: ``fit(cfg, splits, on_epoch)`` takes a plain
callback, so a run trains the same inside a study (the objective reports and prunes from
the callback) and outside one (``tuner train``).
"""

from __future__ import annotations

from tuner.training.device import Runtime, resolve_runtime
from tuner.training.loop import EpochHook, EpochReport, FitResult, Interrupted, fit
from tuner.training.models import build_model
from tuner.training.scoring import predict_probabilities, score, score_batches

__all__ = ["EpochHook", "EpochReport", "FitResult", "Interrupted", "Runtime", "build_model", "fit",
           "predict_probabilities", "resolve_runtime", "score", "score_batches"]
