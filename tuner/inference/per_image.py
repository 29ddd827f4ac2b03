"""Scores of a model image by image at its training size, Dice as a function of the
decision threshold, and the summary of per-image scores.

One pass over a split (:func:`score_images`, eval mode, no augmentation) gives three
things at once, all at the model's input size (``image_size``), and hands each batch's
probabilities on (to :mod:`tuner.inference.native`, which scores each image at its own
size):

- the split's overall loss and scores, micro-reduced exactly as in training
  (:class:`tuner.training.metrics.SplitMeter`: the numbers a trial stored as its test
  scores);
- per-image confusion counts TP / FP / FN / TN at the trial's threshold, from smp's
  ``get_stats`` (one row per image, no loop over pixels), hence per-image Dice and IoU
  (:func:`per_image_frame`). An image without foreground whose prediction has none either
  scores 1.0 (nothing to find, nothing found), as the overall scores do;
- the counts summed over the split at each threshold of :data:`THRESHOLDS` (and the
  trial's own), hence Dice, IoU, precision and recall by threshold and the mean per-image
  Dice at each (:func:`threshold_frame`).

A pixel is predicted foreground when its foreground logit is above
``log(t / (1 - t))``, the test ``sigmoid(z) > t`` that training uses, so the per-image
counts add up to the overall counts exactly. :func:`summary_frame` summarises per-image
scores as mean ± sd and median [IQR], with the images a score is undefined on counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import segmentation_models_pytorch as smp
import torch
from rich.console import Console
from rich.progress import track
from torch import nn

from tuner.config import TrainConfig
from tuner.data import Split, eval_batches
from tuner.training.device import Runtime
from tuner.training.losses import build_loss, foreground_logit
from tuner.training.metrics import Counts, SplitMeter, scores
from tuner.training.scoring import Normalize

#: decision thresholds of the threshold curve (the trial's own is added when missing)
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))
#: columns of the per-image table (``per_image.csv``)
PER_IMAGE_COLUMNS = ("image", "dice", "iou", "true_fraction", "predicted_fraction")
#: columns of the threshold table (``thresholds_at_training_size.csv``)
THRESHOLD_COLUMNS = ("threshold", "dice", "iou", "precision", "recall", "mean_image_dice")
#: columns of the summary of the per-image scores (``summary.csv``)
SUMMARY_COLUMNS = ("metric", "size", "images", "undefined", "mean", "sd", "median", "q1",
                   "q3", "mean_sd", "median_iqr")
#: the per-image scores summarised at each image's own size, and at the training size
OWN_SUMMARISED = ("dice", "iou", "precision", "recall", "hd95_px", "asd_px")
TRAINING_SUMMARISED = ("dice", "iou")


@dataclass
class ImageScores:
    """What one pass over a split gave.

    ``metrics``: loss and micro scores of the split; ``counts``: int64 (N, 4) per-image
    ``[tp, fp, fn, tn]`` at ``threshold``; ``curve``: the threshold table.
    """

    names: list[str]
    threshold: float
    metrics: dict[str, float]
    counts: torch.Tensor
    curve: pd.DataFrame


def image_counts(z: torch.Tensor, masks: torch.Tensor, threshold: float) -> torch.Tensor:
    """int64 (N, 4) ``[tp, fp, fn, tn]`` of each image: foreground logits ``z`` (N, 1, H, W)
    against ``masks`` (N, 1, H, W) in {0, 1}, foreground where ``sigmoid(z) > threshold``."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    predicted = (z > math.log(threshold / (1 - threshold))).long()
    stats = smp.metrics.get_stats(predicted, (masks > 0.5).long(), mode="binary")
    return torch.cat(stats, dim=1)


def dice_of(counts: torch.Tensor) -> torch.Tensor:
    """Dice of each row of (N, 4) counts; 1.0 where an image has no foreground at all."""
    tp, fp, fn, tn = counts.unbind(dim=1)
    return smp.metrics.f1_score(tp, fp, fn, tn, reduction="none", zero_division=1.0)


def iou_of(counts: torch.Tensor) -> torch.Tensor:
    """IoU of each row of (N, 4) counts; 1.0 where an image has no foreground at all."""
    tp, fp, fn, tn = counts.unbind(dim=1)
    return smp.metrics.iou_score(tp, fp, fn, tn, reduction="none", zero_division=1.0)


def curve_thresholds(threshold: float) -> list[float]:
    """:data:`THRESHOLDS` with ``threshold`` (the trial's) in its place, ascending."""
    return sorted({*THRESHOLDS, float(threshold)})


#: a progress bar (on stderr) when scoring more images than this
PROGRESS_ABOVE = 200


@torch.inference_mode()
def score_images(model: nn.Module, split: Split, cfg: TrainConfig, runtime: Runtime,
                 normalize: Normalize,
                 each_batch: Callable[[int, np.ndarray], None] | None = None) -> ImageScores:
    """Overall scores, per-image counts and the threshold curve of ``model`` on ``split``;
    ``each_batch(start, probabilities)`` also gets each batch's foreground probabilities
    (B, S, S) float32, ``start`` the split position of its first image."""
    model.eval()
    loss_fn = build_loss(cfg)
    meter = SplitMeter(cfg.threshold)
    levels = curve_thresholds(cfg.threshold)
    per_image: list[torch.Tensor] = []
    by_level: list[list[torch.Tensor]] = [[] for _ in levels]
    batches = eval_batches(split, cfg.batch_size, normalize, runtime.device,
                           runtime.channels_last)
    shown = track(batches, description=f"scoring {len(split)} images", transient=True,
                  total=math.ceil(len(split) / cfg.batch_size), console=Console(stderr=True),
                  disable=len(split) <= PROGRESS_ABOVE)
    for images, masks in shown:  # read from the pool a batch at a time
        with runtime.autocast():
            logits = model(images)
        meter.update(logits, masks, loss_fn(logits, masks))
        z = foreground_logit(logits.float())
        if each_batch is not None:
            each_batch(sum(len(c) for c in per_image), torch.sigmoid(z)[:, 0].cpu().numpy())
        for k, level in enumerate(levels):
            by_level[k].append(image_counts(z, masks, level).cpu())
        per_image.append(by_level[levels.index(cfg.threshold)][-1])
    curve = threshold_frame(levels, [torch.cat(parts) for parts in by_level])
    return ImageScores(list(split.names), cfg.threshold, meter.compute(),
                       torch.cat(per_image), curve)


def threshold_frame(levels: list[float], counts: list[torch.Tensor]) -> pd.DataFrame:
    """The threshold table: micro scores of the summed counts at each level, and the mean
    per-image Dice; ``counts[k]`` is the (N, 4) per-image counts at ``levels[k]``."""
    rows = []
    for level, table in zip(levels, counts, strict=True):
        overall = scores(Counts(*table.sum(dim=0).tolist()))
        rows.append({"threshold": level, **{name: overall[name] for name in
                                            ("dice", "iou", "precision", "recall")},
                     "mean_image_dice": float(dice_of(table).mean())})
    return pd.DataFrame(rows, columns=list(THRESHOLD_COLUMNS))


def per_image_frame(result: ImageScores) -> pd.DataFrame:
    """One row per image: Dice, IoU, and the foreground fraction of the true mask and of
    the prediction (at the model's input size), in split order."""
    counts = result.counts.double()
    tp, fp, fn, tn = counts.unbind(dim=1)
    pixels = counts.sum(dim=1)
    return pd.DataFrame({
        "image": result.names,
        "dice": dice_of(result.counts).double().numpy(),
        "iou": iou_of(result.counts).double().numpy(),
        "true_fraction": ((tp + fn) / pixels).numpy(),
        "predicted_fraction": ((tp + fp) / pixels).numpy(),
    }, columns=list(PER_IMAGE_COLUMNS))


def extremes(frame: pd.DataFrame, k: int = 4) -> tuple[list[int], list[int]]:
    """Row positions of the ``k`` best and the ``k`` worst images by Dice (best first,
    worst first; ties in split order). With fewer than ``2k`` images each gets half."""
    dice = frame["dice"].to_numpy()
    k = max(1, min(k, len(dice) // 2))
    best = (-dice).argsort(kind="stable")[:k]
    worst = dice.argsort(kind="stable")[:k]
    return [int(i) for i in best], [int(i) for i in worst]


def summary_frame(own: pd.DataFrame | None, training: pd.DataFrame) -> pd.DataFrame:
    """Per-image scores summarised: one row per metric and size (``own``: each image's
    own size, :data:`OWN_SUMMARISED`; ``training``: the model's input size), with the
    images it is defined on, the undefined ones (NaN: HD95 and ASD where the prediction or
    the truth is empty), mean, sample sd, median and quartiles, and those as text:
    ``0.812 ± 0.051`` and ``0.830 [0.790, 0.870]`` (median [IQR])."""
    rows = [] if own is None else [_summary_row(own[m], m, "own") for m in OWN_SUMMARISED]
    rows += [_summary_row(training[m], m, "training") for m in TRAINING_SUMMARISED]
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def _summary_row(values: pd.Series, metric: str, size: str) -> dict:
    defined = values.dropna().to_numpy(float)
    nan = float("nan")
    mean = defined.mean() if len(defined) else nan
    sd = defined.std(ddof=1) if len(defined) > 1 else nan
    q1, median, q3 = np.percentile(defined, [25, 50, 75]) if len(defined) else (nan,) * 3
    digits = 2 if metric.endswith("_px") else 3

    def text(value: float) -> str:
        return "" if math.isnan(value) else f"{value:.{digits}f}"

    mean_sd = text(mean) + (f" ± {text(sd)}" if not math.isnan(sd) else "")
    median_iqr = f"{text(median)} [{text(q1)}, {text(q3)}]" if len(defined) else ""
    return {"metric": metric, "size": size, "images": len(defined),
            "undefined": int(values.isna().sum()), "mean": mean, "sd": sd, "median": median,
            "q1": q1, "q3": q3, "mean_sd": mean_sd, "median_iqr": median_iqr}
