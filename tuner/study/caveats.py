"""The data caveats of a whole study: its base configuration's, and the fewest optimizer
steps per epoch that any of its configurations trains with (a grid's smallest train
fraction, a sampled space's extremes), said before anything trains."""

from __future__ import annotations

from typing import Any

from tuner.data import build_splits, load_pool, split_indices
from tuner.data.caveats import empty_mask_caveat, split_caveats, steps_caveat, steps_per_epoch
from tuner.study.checks import field_sets
from tuner.study.spec import StudySpec

#: the fields that change how many optimizer steps an epoch has
STEP_FIELDS = ("train_fraction", "val_fraction", "test_fraction", "folds", "batch_size",
               "n_aug", "dataset", "synthetic_images")


def study_caveats(spec: StudySpec, overrides: dict[str, Any]) -> list[str]:
    """One line per caveat of ``spec``'s data (see :mod:`tuner.data.caveats`)."""
    base = spec.config({}, overrides)
    pool, splits = load_pool(base), build_splits(base)
    fewest = (steps_per_epoch(len(splits.train), base), len(splits.train), base, {})
    checked, _ = field_sets(spec)
    for fields in checked:
        cfg = spec.config(fields, overrides)
        size = len(pool) if cfg.dataset == base.dataset else len(load_pool(cfg))
        train = len(split_indices(size, cfg)[0])  # fold 0: the folds' sizes differ by 1 at most
        steps = steps_per_epoch(train, cfg)
        if steps < fewest[0]:
            fewest = (steps, train, cfg, fields)
    _, train, cfg, fields = fewest
    where = ", ".join(f"{k}={v}" for k, v in fields.items() if k in STEP_FIELDS)
    found = [*split_caveats(splits), steps_caveat(train, cfg, where), empty_mask_caveat(pool)]
    return [caveat for caveat in found if caveat]
