"""Segmentation scores in two stages, like smp's ``get_stats`` then a reduction.

1. :meth:`SplitMeter.update`: pixel counts TP / FP / FN / TN of a batch of logits against
   its target masks, kept on the device (a pixel is predicted foreground when its
   foreground probability is above ``threshold``).
2. :func:`scores`: Dice, IoU, precision, recall and accuracy from summed counts.

Reduction: MICRO over the whole split. :class:`SplitMeter` sums TP/FP/FN/TN over every
pixel of every image of the split and computes the scores once from those sums, so a
large object weighs more than a small one and images without foreground cannot produce
undefined per-image Dice values. (A per-image mean would weigh every image equally; micro
was chosen because it is defined on every split, including images without foreground,
and it matches the whole-batch soft Dice that the Dice-based losses optimise.)

Empty cases, where a denominator is zero, score 1.0: no foreground in the target nor in
the prediction gives Dice = IoU = 1.0 (nothing to find, nothing found); no predicted
foreground gives precision 1.0 (no false positive was made); no target foreground gives
recall 1.0 (nothing was missed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tuner.training.losses import foreground_logit

#: keys of :func:`scores`, in the order of ``tuner.records.METRICS`` (which adds "loss")
SCORE_NAMES = ("dice", "iou", "precision", "recall", "accuracy")


@dataclass
class Counts:
    """Pixel confusion counts (tp: foreground predicted foreground, and so on)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn


def _count_tensor(logits: torch.Tensor, target: torch.Tensor,
                  threshold: float) -> torch.Tensor:
    """int64 tensor [tp, fp, fn, tn] on the logits' device (no host synchronisation).

    ``sigmoid(z) > threshold`` is evaluated as ``z > log(threshold / (1 - threshold))``
    on the float32 foreground logit: the same test without a sigmoid per pixel.
    """
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold}")
    z = foreground_logit(logits.float())
    if tuple(target.shape) != tuple(z.shape):
        raise ValueError(f"target must have shape {tuple(z.shape)}, got {tuple(target.shape)}")
    pred = z > math.log(threshold / (1 - threshold))
    truth = target > 0.5
    tp = (pred & truth).sum()
    fp = pred.sum() - tp
    fn = truth.sum() - tp
    tn = truth.numel() - tp - fp - fn
    return torch.stack([tp, fp, fn, tn])


def _ratio(num: int, den: int) -> float:
    return num / den if den else 1.0


def scores(counts: Counts) -> dict[str, float]:
    """Dice, IoU, precision, recall, accuracy of (summed) counts; empty cases score 1.0."""
    tp, fp, fn, tn = counts.tp, counts.fp, counts.fn, counts.tn
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "accuracy": _ratio(tp + tn, counts.total),
    }


def trivial_dice(masks: torch.Tensor) -> float:
    """The Dice, micro over all of ``masks`` (N, 1, H, W) in {0, 1}, of predicting every
    pixel foreground: ``2p / (1 + p)`` for a foreground share ``p``. What a model that
    learned nothing but "say yes" scores; pruning floors and data caveats compare with it."""
    share = float((masks > 0.5).float().mean()) if masks.numel() else 0.0
    return trivial_dice_of_share(share)


def trivial_dice_of_share(share: float) -> float:
    """:func:`trivial_dice` of a split whose foreground share of the pixels is ``share``
    (:attr:`tuner.data.pool.Split.foreground_share`: no pixel read)."""
    return 2 * share / (1 + share)


class SplitMeter:
    """Loss and micro-reduced scores of one split over one epoch.

    Call :meth:`update` once per batch, :meth:`compute` at the end. Counts stay on the
    device as one int64 tensor until :meth:`compute`, so updating costs a few reductions
    and no host synchronisation; the loss is the mean over images (each batch's mean
    loss weighted by its batch size). The loss may be given as a float or as a (detached)
    scalar tensor; a tensor is summed on its device, again without synchronising.
    """

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0 < threshold < 1:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.threshold = threshold
        self._counts: torch.Tensor | None = None
        self._loss_sum: float | torch.Tensor = 0.0
        self._images = 0

    def update(self, logits: torch.Tensor, target: torch.Tensor,
               loss_value: float | torch.Tensor) -> None:
        """Add a batch: logits (N, 1 or 2, H, W), target (N, 1, H, W), its mean loss."""
        with torch.no_grad():
            counts = _count_tensor(logits.detach(), target, self.threshold)
        self._counts = counts if self._counts is None else self._counts + counts
        n = int(logits.shape[0])
        if isinstance(loss_value, torch.Tensor):
            loss_value = loss_value.detach().float()
        self._loss_sum = self._loss_sum + loss_value * n
        self._images += n

    def counts(self) -> Counts:
        """The summed counts so far."""
        return Counts() if self._counts is None else Counts(*self._counts.tolist())

    def compute(self) -> dict[str, float]:
        """``{"loss": mean loss per image, **scores(summed counts)}``."""
        if not self._images:
            raise ValueError("SplitMeter.compute() before any update()")
        return {"loss": float(self._loss_sum) / self._images, **scores(self.counts())}
