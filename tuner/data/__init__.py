"""Data: datasets by spec, the decoded pool, its splits, augmentation and mini-batches.

``build_splits(cfg)`` gives the train / validation / test :class:`Split` tensors (the pool
is decoded once per process); ``describe_data(cfg)`` says what was loaded in one line;
``make_normalizer`` and ``TrainBatches`` / ``eval_batches`` turn splits into normalised
``(x, y)`` batches. Dataset adapters, one file each, live in :mod:`tuner.data.adapters`.
See ``docs/datasets.md``. The names below are imported on first use (PEP 562), so that
importing one light module of this package (an adapter's declaration, the mask rules)
does not import torch and albumentations with it.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module of this package that defines it
_PUBLIC = {
    "AUGMENTATIONS": "augment", "make_pipeline": "augment",
    "Normalizer": "batches", "TrainBatches": "loader", "eval_batches": "batches",
    "model_input": "batches", "model_target": "batches", "DeviceSplit": "batches",
    "make_normalizer": "batches", "normalize_kind": "batches", "normalize_stats": "batches",
    "normalizer_from_stats": "batches", "kept_on_device": "batches",
    "DATASETS": "adapters",
    "clear_pool_cache": "datasets", "load_pool": "datasets", "pool_key": "datasets",
    "Pool": "pool", "Split": "pool", "Splits": "pool",
    "build_splits": "split", "split_indices": "split", "split_key": "split",
    "describe_data": "summary", "describe_pool": "summary", "describe_location": "summary",
}  # fmt: skip
__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tuner.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"tuner.data.{_PUBLIC[name]}"), name)
    globals()[name] = value
    return value
