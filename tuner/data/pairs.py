"""Decoding a dataset's (image, masks) pairs into a :class:`~tuner.data.pool.Pool`.

Every adapter on disk (folder, Oxford-IIIT Pet, ISIC, list file) only *finds* its pairs
and says what it skipped while listing (:class:`Found`); this module decodes them the same
way for all (:mod:`tuner.data.image_io`), applies the adapter's mask rule, merges the
masks of a pair that has several (left and right lung), and skips undecodable files or
image/mask size mismatches only where the adapter asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from rich.progress import track

from tuner.config import TrainConfig
from tuner.data.image_io import (
    Box,
    UnreadableImage,
    clear_outside,
    fit,
    fit_mask,
    mask_values,
    read,
    to_rgb,
)
from tuner.data.masks import MaskRule
from tuner.data.pool import Pool, allocate
from tuner.errors import TunerError

#: decode with a progress bar above this many pairs (about 200 files)
PROGRESS_ABOVE = 100
#: raw mask values a pool keeps (for the rule at each image's own size: a mask rule that
#: decides over the set needs them; two or three in a binary dataset)
VALUES_KEPT = 1024
#: skip reasons that :func:`decode` can apply (an adapter opts in to each)
UNREADABLE = "unreadable"
SIZE_DIFFERS = "mask size differs from the image"


@dataclass(frozen=True)
class Pair:
    """One sample: its name, its image file and its mask file(s), merged by union."""

    name: str
    image: Path
    masks: tuple[Path, ...]


@dataclass
class Found:
    """What an adapter found: the pairs to decode, and what it skipped, by reason."""

    pairs: list[Pair]
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, reason: str, name: str) -> None:
        self.skipped.setdefault(reason, []).append(name)


class _SizeDiffers(TunerError):
    pass


def decode(found: Found, cfg: TrainConfig, rule: MaskRule,
           skip: tuple[str, ...] = ()) -> Pool:
    """The pool of ``found`` at ``cfg.image_size`` (``cfg.resize``), masks by ``rule``.

    ``skip`` lists the problems (:data:`UNREADABLE`, :data:`SIZE_DIFFERS`) that leave a
    pair out, counted in ``Pool.skipped``, instead of stopping with a one-line error.
    Every array is made by :func:`~tuner.data.pool.allocate` and filled pair by pair, so
    a build into the decoded-data cache holds one pair in memory at a time (16-bit masks
    excepted: their raw values wait in memory for the mask rule).
    """
    size = cfg.image_size
    images = allocate("images", (len(found.pairs), size, size, 3))
    raw = RawMasks(sum(len(pair.masks) for pair in found.pairs), size)
    names: list[str] = []
    boxes: list[Box] = []
    owners: list[int] = []  # raw mask k belongs to pair owners[k]
    steps = track(found.pairs, description=f"decoding {cfg.dataset}", transient=True,
                  disable=len(found.pairs) <= PROGRESS_ABOVE)
    for pair in steps:
        try:
            image, masks = _decode_pair(pair, cfg)
        except UnreadableImage as error:
            if UNREADABLE not in skip:
                raise
            found.skip(UNREADABLE, error.file.name)
            continue
        except _SizeDiffers:
            if SIZE_DIFFERS not in skip:
                raise
            found.skip(SIZE_DIFFERS, pair.image.name)
            continue
        images[len(names)] = image
        for file, values, box in masks:
            raw.append(file, values)
            boxes.append(box)
            owners.append(len(names))
        names.append(pair.name)
    if not names:
        reasons = "; ".join(f"{len(v)} {k}" for k, v in found.skipped.items())
        raise TunerError(f"dataset {cfg.dataset!r}: no usable image pair "
                         f"({reasons or 'none found'})")
    binary = rule(raw.listed())
    merged = allocate("masks", (len(names), size, size))
    for k, box in enumerate(boxes):
        mask = np.array(binary[k])
        clear_outside(mask, box)
        merged[owners[k]] |= mask
    kept = {pair.name: pair for pair in found.pairs if pair.name in set(names)}
    return Pool(images[:len(names)], merged, names, cfg.dataset, found.skipped,
                sources=kept, mask_rule=rule, mask_values=raw.values())


class RawMasks:
    """The raw (resized) values of a dataset's mask files, kept for the mask rule, which
    decides over the whole set: 8-bit values in one array of :func:`allocate` (a file of
    the cache while it is built), wider ones (16-bit, float) in memory."""

    def __init__(self, count: int, size: int) -> None:
        self.narrow = allocate("raw_masks", (count, size, size))
        self.wide: dict[int, np.ndarray] = {}
        self.files: list[Path] = []
        self.seen: set[int] = set()

    def append(self, file: Path, values: np.ndarray) -> None:
        if values.dtype == np.uint8:
            self.narrow[len(self.files)] = values
            self.seen.update(np.flatnonzero(np.bincount(values.ravel(), minlength=256)).tolist())
        else:
            self.wide[len(self.files)] = values
            self.seen.update(np.unique(values).tolist())
        self.files.append(file)

    def values(self) -> tuple[int, ...]:
        """Every raw value the masks hold (the first :data:`VALUES_KEPT`), sorted."""
        return tuple(sorted(self.seen)[:VALUES_KEPT])

    def listed(self) -> list[tuple[Path, np.ndarray]]:
        """``[(file, values)]`` as mask rules take them (views, nothing copied)."""
        return [(file, self.wide[k] if k in self.wide else self.narrow[k])
                for k, file in enumerate(self.files)]


def _decode_pair(pair: Pair, cfg: TrainConfig) -> tuple[np.ndarray,
                                                      list[tuple[Path, np.ndarray, Box]]]:
    """The fitted RGB image (S, S, 3) and each mask's fitted raw values with its box."""
    size, how, limit = cfg.image_size, cfg.resize, cfg.max_image_pixels
    image, image_size = read(pair.image, limit, draft=size)
    masks = []
    for file in pair.masks:
        mask, mask_size = read(file, limit)
        if mask_size != image_size:
            raise _SizeDiffers(
                f"mask {file} is {mask_size[0]}x{mask_size[1]} px but image {pair.image} is "
                f"{image_size[0]}x{image_size[1]}; expected the same size")
        masks.append((file, *fit_mask(mask_values(mask, file), size, how)))
    square, _ = fit(to_rgb(image, pair.image), size, how, Image.BILINEAR)
    return np.asarray(square), masks
