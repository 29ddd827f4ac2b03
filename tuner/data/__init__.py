"""Data: the dataset pool, its splits, augmentation and mini-batches.

``build_splits(cfg)`` gives the train / validation / test :class:`Split` tensors (the pool
is decoded once per process); ``make_normalizer`` and ``TrainBatches`` / ``eval_batches``
turn them into normalised ``(x, y)`` batches. See ``docs/datasets.md``.
"""

from __future__ import annotations

from tuner.data.augment import AUGMENTATIONS, make_pipeline
from tuner.data.batches import Normalizer, TrainBatches, eval_batches, make_normalizer
from tuner.data.split import (
    DATASETS,
    Pool,
    Split,
    Splits,
    build_splits,
    clear_pool_cache,
    load_pool,
    pool_key,
    split_indices,
    split_key,
)

__all__ = [
    "AUGMENTATIONS", "DATASETS", "Normalizer", "Pool", "Split", "Splits", "TrainBatches",
    "build_splits", "clear_pool_cache", "eval_batches", "load_pool", "make_normalizer",
    "make_pipeline", "pool_key", "split_indices", "split_key",
]  # fmt: skip
