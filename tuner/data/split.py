"""The train / validation / test splits of a dataset's pool.

The split is a permutation of the pool drawn from ``split_seed``: the first
``val_fraction`` of it is validation, the next ``test_fraction`` test, the rest the train
pool. ``train_fraction`` keeps a prefix of the train pool, so smaller train sets are
nested in larger ones, and the validation and test images are the same for every
``train_fraction`` and every training ``seed``: their scores are comparable across trials.
The pool itself is decoded once per process (:mod:`tuner.data.datasets`).

With ``folds`` = k > 1 (k-fold cross-validation, docs/folds.md) the test images stay the
same as without folds, and the others (validation and train pool together) are dealt
into k folds: sorted by foreground share, taken k at a time (a stratum), and each
stratum's images given to the folds in a seeded order (:func:`fold_labels`), so every
fold spans the range of foreground shares. Fold ``fold`` validates and the others form
the train pool; ``val_fraction`` then sizes nothing (it only places the test images where
the plain split puts them). The folds depend on ``split_seed`` and ``folds`` alone, so
fold j holds the same images in every configuration and for every training seed.
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
            cfg.split_seed, cfg.folds, cfg.fold)


def split_indices(n: int, cfg: TrainConfig, shares: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted pool indices of (train, val, test) for a pool of ``n`` images.

    ``shares``: each image's foreground share, which stratifies the folds when ``folds``
    > 1 (:func:`build_splits` passes them; without, the folds are unstratified and only
    their sizes, the same either way, are right). Counts are rounded half up; an empty
    validation or train split, an empty test split when ``test_fraction > 0``, or fewer
    images than folds is a TunerError naming the field and the counts.
    """
    rng = np.random.default_rng(cfg.split_seed)
    order = rng.permutation(n)
    n_val = _share(n, cfg.val_fraction)
    n_test = _share(n, cfg.test_fraction)
    if n_val == 0 and cfg.folds == 1:
        raise TunerError(_empty("val_fraction", cfg.val_fraction, n, "validation"))
    if n_test == 0 and cfg.test_fraction > 0:
        raise TunerError(_empty("test_fraction", cfg.test_fraction, n, "test"))
    test = order[n_val:n_val + n_test]
    if cfg.folds > 1:
        rest = np.concatenate([order[:n_val], order[n_val + n_test:]])
        if len(rest) < cfg.folds:
            raise TunerError(f"config field 'folds': {cfg.folds} folds of the {len(rest)} "
                             f"images left beside the {n_test} test images leave a fold "
                             f"empty; expected at most {len(rest)} folds")
        labels = fold_labels(len(rest), cfg.folds, rng,
                             None if shares is None else np.asarray(shares)[rest])
        val, train_pool = rest[labels == cfg.fold], rest[labels != cfg.fold]
    else:
        val, train_pool = order[:n_val], order[n_val + n_test:]
    n_train = _share(len(train_pool), cfg.train_fraction)
    if n_train == 0:
        raise TunerError(
            f"config field 'train_fraction': {cfg.train_fraction} of the {len(train_pool)} "
            f"train images (pool of {n} minus {len(val)} validation and {n_test} test) is "
            "0 images; expected at least 1 (raise train_fraction, or lower val_fraction / "
            "test_fraction)"
        )
    return np.sort(train_pool[:n_train]), np.sort(val), np.sort(test)


def fold_labels(count: int, folds: int, rng: np.random.Generator,
                shares: np.ndarray | None = None) -> np.ndarray:
    """The fold (0 .. folds-1) of each of ``count`` images: by ascending ``shares`` (ties,
    or no shares, in the given order), each run of ``folds`` images gives one to every
    fold in an order drawn from ``rng``; the last, shorter run to as many folds. Fold
    sizes differ by one at most, and depend on ``count``, ``folds`` and ``rng`` alone."""
    ranked = np.arange(count) if shares is None else np.argsort(shares, kind="stable")
    labels = np.empty(count, dtype=np.int64)
    for start in range(0, count, folds):
        stratum = ranked[start:start + folds]
        labels[stratum] = rng.permutation(folds)[:len(stratum)]
    return labels


def _share(n: int, fraction: float) -> int:
    return math.floor(n * fraction + 0.5)


def _empty(field: str, fraction: float, n: int, what: str) -> str:
    return (f"config field {field!r}: {fraction} of {n} images is 0 {what} images; "
            f"expected at least 1 (raise {field} or use more images)")


def describe_folds(cfg: TrainConfig) -> str:
    """What the validation split is with folds, for the line that describes a run's data
    (empty without folds)."""
    if cfg.folds == 1:
        return ""
    return (f" (fold {cfg.fold} of {cfg.folds}: each non-test image validates in one fold; "
            "val_fraction sizes nothing)")


def build_splits(cfg: TrainConfig) -> Splits:
    """Train (``train_fraction`` of the train pool), validation and test splits of the pool
    (with ``folds`` > 1: of fold ``fold``, stratified by foreground share)."""
    pool = load_pool(cfg)
    shares = pool.foreground_shares if cfg.folds > 1 else None
    train, val, test = split_indices(len(pool.names), cfg, shares)
    return Splits(pool.split(train), pool.split(val), pool.split(test))
