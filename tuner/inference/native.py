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

Which files an image came from, and the mask rule, are kept by the pool
(:func:`listed_pairs`); the truth is read one image at a time as it is scored, so scoring
thousands of large images holds one mask at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    the box of its picture in the model's square per image (sequences: for a dataset on
    disk they read each image's mask files when it is scored, so a split of thousands of
    large images is never held at once); ``note`` says where it came from when not from
    the mask files ('' otherwise)."""

    masks: Sequence[np.ndarray]
    boxes: Sequence[Box]
    note: str = ""


def listed_pairs(cfg: TrainConfig) -> tuple[dict[str, Pair], MaskRule] | None:
    """The dataset's pairs by name and its mask rule, as its pool (cached per process)
    keeps them; None for a dataset without files (``synthetic``)."""
    pool = load_pool(cfg)
    if not pool.sources:
        return None
    return pool.sources, pool.mask_rule


def native_truth(cfg: TrainConfig, split: Split) -> NativeTruth:
    """The truth of ``split``'s images at their own sizes (:class:`NativeTruth`), read
    image by image as they are scored. A TunerError now for an image the dataset no
    longer lists; one for a mask file that cannot be read again or breaks the rule when
    its image is scored (:class:`NativeScorer` turns it into its note)."""
    listed = listed_pairs(cfg)
    size = cfg.image_size
    if listed is None:
        square = Box(0, 0, size, size)
        return NativeTruth(_PoolMasks(split), [square] * len(split),
                           f"{cfg.dataset} images have no files: they are generated at the "
                           f"training size ({size}x{size} px), which is their own size")
    pairs, rule = listed
    missing = [name for name in split.names if name not in pairs]
    if missing:
        raise TunerError(f"dataset {cfg.dataset}: image {missing[0]!r} of the pool is no "
                         "longer listed (the folder changed since it was decoded)")
    files = _MaskFiles([pairs[name] for name in split.names], rule,
                       split.pool.mask_values, cfg.max_image_pixels)
    return NativeTruth(files, _Boxes(files, size, cfg.resize))


class _PoolMasks(Sequence):
    """The pool's own masks of a split as booleans, one image at a time."""

    def __init__(self, split: Split) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.split.arrays([index])[1][0] > 0


class _MaskFiles(Sequence):
    """Each pair's mask files read again at full size, binarised by the dataset's rule and
    merged: the rule sees the image's own masks beside a row of every value the whole
    dataset's masks hold (``witness``), so it decides as it did over the whole set when
    the dataset was decoded. The last image read is kept (its box needs its shape)."""

    def __init__(self, pairs: list[Pair], rule: MaskRule, witness: tuple[int, ...],
                 max_pixels: int) -> None:
        self.pairs, self.rule, self.max_pixels = pairs, rule, max_pixels
        self.witness = np.array([witness], np.int64) if witness else None
        self.last: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> np.ndarray:
        if self.last is not None and self.last[0] == index:
            return self.last[1]
        pair = self.pairs[index]
        files, raw = [], []
        for file in pair.masks:
            image, _ = read(file, self.max_pixels)
            files.append(file)
            raw.append(mask_values(image, file))
        if self.witness is not None:
            files.append(files[0])
            raw.append(self.witness.astype(raw[0].dtype if raw[0].dtype.kind == "i"
                                           else np.int64))
        binary = _apply_rule(self.rule, files, raw)
        if self.witness is not None:
            binary = binary[:-1]
        mask = binary[0]
        for other in binary[1:]:
            mask = mask | other
        self.last = (index, mask)
        return mask


class _Boxes(Sequence):
    """Where each image's picture lies in the model's square, from its mask's size."""

    def __init__(self, masks: _MaskFiles, size: int, how: str) -> None:
        self.masks, self.size, self.how = masks, size, how

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index: int) -> Box:
        mask = self.masks[index]
        return picture_box((mask.shape[1], mask.shape[0]), self.size, self.how)


def _apply_rule(rule: MaskRule, files: list[Path], raw: list[np.ndarray]) -> list[np.ndarray]:
    """The rule applied to masks of different sizes at once: their values laid end to end
    as one row (every rule decides by value, over the whole set), then cut back."""
    row = np.concatenate([values.ravel() for values in raw])[None]
    flat = np.asarray(rule([(files[0], row)])[0, 0]).astype(bool)
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

    #: why the images could not all be scored at their own sizes (a mask file unreadable
    #: now, or its values breaking the rule); scoring stops there
    failed: str = ""

    def add(self, start: int, probabilities: np.ndarray) -> None:
        """Score images ``start``, ``start + 1``, ... from their square foreground
        probabilities (B, S, S); after a TunerError, nothing more (:attr:`failed`)."""
        for offset, square in enumerate(probabilities):
            if self.failed:
                return
            try:
                self.rows.append(self.score(start + offset, square))
            except TunerError as error:
                self.failed = str(error)

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
