"""Scores at each image's own size: the model's square predictions mapped back to every
image's upright size, against its mask files read again at that size.

The model sees each image fitted to the trial's ``image_size`` (``resize``: ``squash`` or
``pad``). :func:`restore` undoes that for a probability map, as ``tuner predict`` does
(:mod:`tuner.inference.prediction` uses it): the padding cut off, the picture resized
bilinearly to the image's size, thresholded at the trial's threshold. The truth is the
image's mask file(s) decoded again by :mod:`tuner.data.image_io` (upright, full size),
binarised by the dataset's own mask rule, applied to the scored images' masks together
as decoding applies it to the whole dataset's, and merged like decoding merges them.
:class:`NativeScorer` counts TP / FP / FN / TN per image at that size, hence Dice, IoU,
precision and recall (empty denominators score 1.0, as in training), and HD95 and the
average surface distance in pixels of the original image (:mod:`tuner.inference.distances`:
NaN where the prediction or the truth is empty).

A dataset without files (``synthetic``) is generated at the training size, which is then
its own size: its pool masks are the truth, and the note says so.

Which files an image came from: the pool does not record it, so :func:`listed_pairs` asks
the dataset's adapter to list its pairs again, stopping it before it decodes anything.
Once :class:`tuner.data.pool.Pool` keeps each pair and its mask rule, that becomes a read
of the pool.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from tuner.config import TrainConfig
from tuner.data import Split
from tuner.data.datasets import load_pool
from tuner.data.image_io import Box, fit, mask_values, read
from tuner.data.masks import MaskRule
from tuner.data.pairs import Pair
from tuner.errors import TunerError
from tuner.inference.distances import hd95_and_asd
from tuner.training.metrics import SCORE_NAMES, Counts, scores

#: columns of the per-image table at each image's own size (``per_image.csv``)
NATIVE_COLUMNS = ("image", "width", "height", "tp", "fp", "fn", "tn", "dice", "iou",
                  "precision", "recall", "hd95_px", "asd_px", "true_fraction",
                  "predicted_fraction")


def restore(probs: np.ndarray, box: Box, size: tuple[int, int]) -> np.ndarray:
    """Square probabilities (S, S) back at an image's ``size`` (width, height): the
    picture's ``box`` cut out (the padding dropped) and resized bilinearly; (H, W) float."""
    inner = np.ascontiguousarray(probs[box.top:box.top + box.height,
                                       box.left:box.left + box.width], np.float32)
    resized = Image.fromarray(inner).resize(size, Image.BILINEAR)  # float32: mode F
    return np.clip(np.asarray(resized), 0, 1)


def picture_box(size: tuple[int, int], square: int, how: str) -> Box:
    """Where an image of ``size`` (width, height) lies in its fitted ``square``
    (:func:`tuner.data.image_io.fit`, the one place that knows)."""
    return fit(Image.new("1", size), square, how, Image.NEAREST)[1]


@dataclass
class NativeTruth:
    """The truth of the scored images at their own sizes: one boolean mask (H, W) and
    the box of its picture in the model's square per image; ``note`` says where it came
    from when not from the mask files ('' otherwise)."""

    masks: list[np.ndarray]
    boxes: list[Box]
    note: str = ""


def listed_pairs(cfg: TrainConfig) -> tuple[dict[str, Pair], MaskRule] | None:
    """The dataset's pairs by name and its mask rule, as its pool (cached per process)
    keeps them; None for a dataset without files (``synthetic``)."""
    pool = load_pool(cfg)
    if not pool.sources:
        return None
    return pool.sources, pool.mask_rule


def native_truth(cfg: TrainConfig, split: Split) -> NativeTruth:
    """The truth of ``split``'s images at their own sizes (:class:`NativeTruth`). A
    TunerError when a mask file cannot be read again or its values break the rule."""
    listed = listed_pairs(cfg)
    size = cfg.image_size
    if listed is None:
        square = Box(0, 0, size, size)
        return NativeTruth([m[0].numpy() > 0.5 for m in split.masks], [square] * len(split),
                           f"{cfg.dataset} images have no files: they are generated at the "
                           f"training size ({size}x{size} px), which is their own size")
    pairs, rule = listed
    files: list[Path] = []
    raw: list[np.ndarray] = []
    owners: list[int] = []
    for k, name in enumerate(split.names):
        pair = pairs.get(name)
        if pair is None:
            raise TunerError(f"dataset {cfg.dataset}: image {name!r} of the pool is no longer "
                             "listed (the folder changed since it was decoded)")
        for file in pair.masks:
            image, _ = read(file, cfg.max_image_pixels)
            files.append(file)
            raw.append(mask_values(image, file))
            owners.append(k)
    binary = _apply_rule(rule, files, raw)
    masks: list[np.ndarray | None] = [None] * len(split)
    for k, mask in zip(owners, binary, strict=True):
        masks[k] = mask if masks[k] is None else masks[k] | mask
    boxes = [picture_box((m.shape[1], m.shape[0]), size, cfg.resize) for m in masks]
    return NativeTruth(masks, boxes)


def _apply_rule(rule: MaskRule, files: list[Path], raw: list[np.ndarray]) -> list[np.ndarray]:
    """The rule applied to masks of different sizes at once: their values laid end to end
    as one row (every rule decides by value, over the whole set), then cut back."""
    row = np.concatenate([values.ravel() for values in raw])[None]
    flat = rule([(files[0], row)])[0, 0].astype(bool)
    cuts = np.cumsum([values.size for values in raw])[:-1]
    return [part.reshape(values.shape) for part, values in
            zip(np.split(flat, cuts), raw, strict=True)]


@dataclass
class NativeScorer:
    """Scores each image at its own size as its square probabilities arrive."""

    truth: NativeTruth
    names: list[str]
    threshold: float
    rows: list[dict] = field(default_factory=list)

    def add(self, start: int, probabilities: np.ndarray) -> None:
        """Score images ``start``, ``start + 1``, ... from their square foreground
        probabilities (B, S, S)."""
        for offset, square in enumerate(probabilities):
            self.rows.append(self.score(start + offset, square))

    def score(self, index: int, square: np.ndarray) -> dict:
        truth = self.truth.masks[index]
        height, width = truth.shape
        predicted = restore(square, self.truth.boxes[index], (width, height)) > self.threshold
        tp = int(np.count_nonzero(predicted & truth))
        fp, fn = int(np.count_nonzero(predicted)) - tp, int(np.count_nonzero(truth)) - tp
        counts = Counts(tp, fp, fn, truth.size - tp - fp - fn)
        hd95, asd = hd95_and_asd(predicted, truth)
        ratios = scores(counts)
        return {"image": self.names[index], "width": width, "height": height,
                "tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "tn": counts.tn,
                **{name: ratios[name] for name in ("dice", "iou", "precision", "recall")},
                "hd95_px": hd95, "asd_px": asd, "true_fraction": (tp + fn) / truth.size,
                "predicted_fraction": (tp + fp) / truth.size}

    def frame(self) -> pd.DataFrame:
        """One row per image in split order (:data:`NATIVE_COLUMNS`)."""
        return pd.DataFrame(self.rows, columns=list(NATIVE_COLUMNS))


def overall(frame: pd.DataFrame) -> dict[str, float]:
    """Micro scores at the images' own sizes: every image's pixel counts summed, as
    training sums them at its size (its larger images weigh more)."""
    if frame.empty:
        return {name: math.nan for name in SCORE_NAMES}
    return scores(Counts(*(int(frame[c].sum()) for c in ("tp", "fp", "fn", "tn"))))
