"""The image pool of a dataset and its train / validation / test splits.

The pool (every decoded, resized pair of ``cfg.dataset``) is built once per process and
cached, so the trials of a worker never decode twice. The split is a permutation of the pool
drawn from ``split_seed``: the first ``val_fraction`` of it is validation, the next
``test_fraction`` test, the rest the train pool. ``train_fraction`` keeps a prefix of the
train pool, so smaller train sets are nested in larger ones, and the validation and test
images are the same for every ``train_fraction`` and every training ``seed``: their scores
are comparable across trials.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from tuner.config import TrainConfig
from tuner.data.folder import load_folder
from tuner.data.synthetic import make_synthetic
from tuner.errors import TunerError
from tuner.registry import Registry


@dataclass(frozen=True)
class Split:
    """Images float32 (N, 3, H, W) in [0, 1], masks float32 (N, 1, H, W) in {0, 1}, names.

    Treat the tensors as read-only: they may be shared with other holders.
    """

    images: Tensor
    masks: Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split


@dataclass(frozen=True)
class Pool:
    """Every pair of a dataset: images uint8 (N, H, W, 3), masks uint8 (N, H, W) in {0, 1}."""

    images: np.ndarray
    masks: np.ndarray
    names: list[str]

    def take(self, index: np.ndarray) -> Split:
        """The pairs at ``index`` as a float :class:`Split`."""
        images = torch.from_numpy(self.images[index]).permute(0, 3, 1, 2).float() / 255
        masks = torch.from_numpy(self.masks[index]).unsqueeze(1).float()
        return Split(images.contiguous(), masks, [self.names[i] for i in index])


#: dataset kind (the part of ``cfg.dataset`` before ':') -> loader(argument, cfg)
Loader = Callable[[str, TrainConfig], tuple[np.ndarray, np.ndarray, list[str]]]
DATASETS: Registry[Loader] = Registry("dataset")
DATASETS.add("synthetic", lambda arg, cfg: make_synthetic(cfg.synthetic_images, cfg.image_size))
DATASETS.add("folder", lambda arg, cfg: load_folder(arg, cfg.image_size, cfg.foreground_values))


_POOLS: dict[tuple, Pool] = {}
#: pools kept per process; a worker's trials share one dataset, a second covers a switch
POOLS_KEPT = 2


def pool_key(cfg: TrainConfig) -> tuple:
    """The fields that decide which pool ``cfg`` trains on (a folder by its absolute path):
    trials with equal keys share one decoded pool."""
    kind, _, arg = cfg.dataset.partition(":")
    if kind == "folder":
        if not arg:
            raise TunerError("config field 'dataset': got 'folder:', expected folder:PATH")
        arg = str(Path(arg).expanduser().resolve())
    return (kind, arg, cfg.image_size,
            cfg.synthetic_images if kind == "synthetic" else None,
            cfg.foreground_values if kind != "synthetic" else None)


def split_key(cfg: TrainConfig) -> tuple:
    """The fields that decide the images of each split: the pool and the split fields."""
    return (*pool_key(cfg), cfg.val_fraction, cfg.test_fraction, cfg.train_fraction,
            cfg.split_seed)


def load_pool(cfg: TrainConfig) -> Pool:
    """The decoded pool of ``cfg.dataset`` at ``cfg.image_size``, cached per process by
    :func:`pool_key`, so every trial of a study shares one pool."""
    key = pool_key(cfg)
    if key not in _POOLS:
        kind, arg = key[0], key[1]
        loader = DATASETS.get(kind)
        while len(_POOLS) >= POOLS_KEPT:
            _POOLS.pop(next(iter(_POOLS)))  # the oldest
        _POOLS[key] = Pool(*loader(arg, cfg))
    return _POOLS[key]


def clear_pool_cache() -> None:
    """Forget cached pools (tests, or a long-lived process whose folder changed)."""
    _POOLS.clear()


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
