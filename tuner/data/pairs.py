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
from tuner.data.pool import Pool
from tuner.errors import TunerError

#: decode with a progress bar above this many pairs (about 200 files)
PROGRESS_ABOVE = 100
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
    """
    size = cfg.image_size
    images = np.empty((len(found.pairs), size, size, 3), np.uint8)
    names: list[str] = []
    raw: list[tuple[Path, np.ndarray, Box]] = []
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
        owners += [len(names)] * len(masks)
        raw += masks
        names.append(pair.name)
    if not names:
        reasons = "; ".join(f"{len(v)} {k}" for k, v in found.skipped.items())
        raise TunerError(f"dataset {cfg.dataset!r}: no usable image pair "
                         f"({reasons or 'none found'})")
    binary = rule([(file, values) for file, values, _ in raw])
    merged = np.zeros((len(names), size, size), np.uint8)
    for k, (_, _, box) in enumerate(raw):
        clear_outside(binary[k], box)
        merged[owners[k]] |= binary[k]
    kept = {pair.name: pair for pair in found.pairs if pair.name in set(names)}
    return Pool(images[:len(names)], merged, names, cfg.dataset, found.skipped,
                sources=kept, mask_rule=rule)


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
