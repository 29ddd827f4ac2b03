"""Augmentation pipelines by name (albumentations), applied to train images only.

``AUGMENTATIONS`` maps the names of the ``augment`` config field to factories that take the
image side in pixels and return a list of albumentations transforms (sizes of elastic
distortions depend on it). :func:`make_pipeline` wraps such a list in a seeded
``A.Compose``, so the same seed gives the same sequence of augmentations in every run
(albumentations 2 keeps its own random state per ``Compose``; global seeds do not reach
it). Validation and test images are never augmented.

The pipelines work on uint8 ``(H, W, 3)`` images (the pool's own pixels; twice as fast as
float32 at 256 px) or float32 ones in [0, 1], and uint8 ``(H, W)`` masks;
geometric transforms move image and mask together (the mask with nearest-neighbour
interpolation, so it stays binary) and photometric ones touch the image only.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # its update check hangs offline

import albumentations as A  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402

from tuner.registry import Registry  # noqa: E402

# OpenCV's own thread pool: one sample at a time is too little work for it, the training
# threads (or the other loader workers) use the cores, and a pool that existed when a
# loader worker was forked deadlocks the worker's first transform. Off, process-wide.
cv2.setNumThreads(0)

Transforms = list[A.BasicTransform]
AUGMENTATIONS: Registry[Callable[[int], Transforms]] = Registry("augmentation")

# Reflected borders: a rotated or shifted image gets plausible content in its corners
# instead of black wedges that the model would learn to recognise.
_BORDER = cv2.BORDER_REFLECT_101


@AUGMENTATIONS.register("none")
def _none(size: int) -> Transforms:
    """No augmentation: batches are plain tensor indexing."""
    return []


@AUGMENTATIONS.register("flip")
def _flip(size: int) -> Transforms:
    """Horizontal flips with probability 1/2: a mirror image is still a plausible picture
    of lungs, pets or streets, where an upside-down one is not."""
    return [A.HorizontalFlip(p=0.5)]


@AUGMENTATIONS.register("vflip")
def _vflip(size: int) -> Transforms:
    """Vertical flips with probability 1/2."""
    return [A.VerticalFlip(p=0.5)]


@AUGMENTATIONS.register("flips")
def _flips(size: int) -> Transforms:
    """Horizontal and vertical flips, each with probability 1/2 (images without an up:
    microscopy, dermoscopy, aerial views)."""
    return [A.HorizontalFlip(p=0.5), A.VerticalFlip(p=0.5)]


@AUGMENTATIONS.register("rotate")
def _rotate(size: int) -> Transforms:
    """Rotation up to 20 degrees with reflected borders (``combine``'s rotation alone)."""
    return [A.Affine(rotate=(-20, 20), border_mode=_BORDER, p=0.8)]


@AUGMENTATIONS.register("combine")
def _combine(size: int) -> Transforms:
    """Rotation up to 20 degrees and a shift up to 5 % of the side, then a horizontal flip."""
    return [
        A.Affine(rotate=(-20, 20), translate_percent=(-0.05, 0.05),
                 border_mode=_BORDER, p=0.8),
        *_flip(size),
    ]


@AUGMENTATIONS.register("strong")
def _strong(size: int) -> Transforms:
    """``combine`` plus scaling, brightness/contrast, blur or noise, and a distortion."""
    return [
        A.Affine(rotate=(-20, 20), translate_percent=(-0.05, 0.05), scale=(0.85, 1.15),
                 border_mode=_BORDER, p=0.8),
        *_flip(size),
        A.RandomBrightnessContrast(brightness_limit=0.15, contrast_limit=0.15, p=0.5),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 3), sigma_limit=(0.3, 0.8)),
                 A.GaussNoise(std_range=(0.01, 0.04))], p=0.3),
        # mean displacement about 2 % of the side at any size (measured: it is close to
        # 0.055 * alpha / sigma pixels)
        A.OneOf([A.ElasticTransform(alpha=0.03 * size**2, sigma=0.08 * size,
                                    border_mode=_BORDER),
                 A.GridDistortion(num_steps=5, distort_limit=0.2, border_mode=_BORDER)],
                p=0.3),
    ]


def make_pipeline(name: str, size: int, seed: int) -> A.Compose | None:
    """The seeded pipeline ``name`` for ``size`` px images; None when it has no transforms.

    None lets callers skip per-sample work entirely (``augment="none"``).
    """
    transforms = AUGMENTATIONS.get(name)(size)
    if not transforms:
        return None
    pipeline = A.Compose(transforms, seed=seed)
    # Compose(seed=) gives every transform its own generator seeded alike (albumentations
    # 2.0.8), so HorizontalFlip and VerticalFlip would always fire together; one shared
    # stream keeps the transforms' draws independent and still repeatable.
    pipeline.set_random_state(np.random.default_rng(seed), random.Random(seed))
    return pipeline

