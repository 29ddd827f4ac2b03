"""The train / validation / test splits of a dataset's pool.

The split is a permutation of the pool drawn from ``split_seed``: the first
``val_fraction`` of it is validation, the next ``test_fraction`` test, the rest the train
pool. ``train_fraction`` keeps a prefix of the train pool, so smaller train sets are
nested in larger ones, and the validation and test images are the same for every
``train_fraction`` and every training ``seed``: their scores are comparable across trials.
The pool itself is decoded once per process (:mod:`tuner.data.datasets`).
"""

from __future__ import annotations

import math

import numpy as np

from tuner.config import TrainConfig
from tuner.data.datasets import load_pool, pool_key
from tuner.data.pool import Splits
from tuner.errors import TunerError


def split_key(cfg: TrainConfig) -> tuple:
    """The fields that decide the images of each split: the pool and the split fields."""
    return (*pool_key(cfg), cfg.val_fraction, cfg.test_fraction, cfg.train_fraction,
            cfg.split_seed)


def split_indices(n: int, cfg: TrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted pool indices of (train, val, test) for a pool of ``n`` images.

    Counts are rounded half up; an empty validation or train split, or an empty test split
    when ``test_fraction > 0``, is a TunerError naming the field and the counts.
    """
    order = np.random.default_rng(cfg.split_seed).permutation(n)
    n_val = _share(n, cfg.val_fraction)
    n_test = _share(n, cfg.test_fraction)
    if n_val == 0:
        raise TunerError(_empty("val_fraction", cfg.val_fraction, n, "validation"))
    if n_test == 0 and cfg.test_fraction > 0:
        raise TunerError(_empty("test_fraction", cfg.test_fraction, n, "test"))
    train_pool = order[n_val + n_test:]
    n_train = _share(len(train_pool), cfg.train_fraction)
    if n_train == 0:
        raise TunerError(
            f"config field 'train_fraction': {cfg.train_fraction} of the {len(train_pool)} "
            f"train images (pool of {n} minus {n_val} validation and {n_test} test) is 0 "
            "images; expected at least 1 (raise train_fraction, or lower val_fraction / "
            "test_fraction)"
        )
    return (np.sort(train_pool[:n_train]), np.sort(order[:n_val]),
            np.sort(order[n_val:n_val + n_test]))


def _share(n: int, fraction: float) -> int:
    return math.floor(n * fraction + 0.5)


def _empty(field: str, fraction: float, n: int, what: str) -> str:
    return (f"config field {field!r}: {fraction} of {n} images is 0 {what} images; "
            f"expected at least 1 (raise {field} or use more images)")


def build_splits(cfg: TrainConfig) -> Splits:
    """Train (``train_fraction`` of the train pool), validation and test splits of the pool."""
    pool = load_pool(cfg)
    train, val, test = split_indices(len(pool.names), cfg)
    return Splits(pool.take(train), pool.take(val), pool.take(test))
