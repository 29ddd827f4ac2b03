"""Data: datasets by spec, the decoded pool, its splits, augmentation and mini-batches.

``build_splits(cfg)`` gives the train / validation / test :class:`Split` tensors (the pool
is decoded once per process); ``describe_data(cfg)`` says what was loaded in one line;
``make_normalizer`` and ``TrainBatches`` / ``eval_batches`` turn splits into normalised
``(x, y)`` batches. See ``docs/datasets.md``.
"""

from __future__ import annotations

from tuner.data.augment import AUGMENTATIONS, make_pipeline
from tuner.data.batches import (
    Normalizer,
    TrainBatches,
    eval_batches,
    make_normalizer,
    normalize_kind,
    normalize_stats,
    normalizer_from_stats,
)
from tuner.data.datasets import (
    DATASETS,
    clear_pool_cache,
    load_pool,
    pool_key,
)
from tuner.data.pool import Pool, Split, Splits
from tuner.data.split import build_splits, split_indices, split_key
from tuner.data.summary import describe_data, describe_pool

__all__ = [
    "AUGMENTATIONS", "DATASETS", "Normalizer", "Pool", "Split", "Splits", "TrainBatches",
    "build_splits", "clear_pool_cache", "describe_data",
    "describe_pool", "eval_batches", "load_pool", "make_normalizer", "make_pipeline",
    "normalize_kind", "normalize_stats", "normalizer_from_stats",
    "pool_key", "split_indices", "split_key",
]  # fmt: skip
