"""What was loaded, in one line: images used and skipped, empty masks, foreground, splits.

A user should see at once whether the data is what they meant: how many images were used,
what was left out and why, how many masks are empty, how much of an image is foreground
(mean, min, max over the pool), and how many images each split trains or scores, the
train count including ``n_aug`` augmented copies.
"""

from __future__ import annotations

import numpy as np

from tuner.config import TrainConfig
from tuner.data.datasets import load_pool
from tuner.data.pool import Pool
from tuner.data.split import Splits, describe_folds


def describe_pool(pool: Pool, splits: Splits, cfg: TrainConfig) -> str:
    """One line on ``pool`` and its ``splits`` under ``cfg`` (for ``tuner run`` / ``train``)."""
    per_image = pool.foreground_shares if len(pool) else np.zeros(1)
    empty = [name for name, share in zip(pool.names, per_image, strict=False) if share == 0]
    parts = [f"{len(pool)} images used", _skipped(pool.skipped)]
    parts.append(f"{len(empty)} empty mask{'s' if len(empty) != 1 else ''}"
                 + (f" (e.g. {empty[0]})" if empty else ""))
    parts.append(f"foreground {per_image.mean():.1%} of the pixels (min {per_image.min():.1%}, "
                 f"max {per_image.max():.1%})")
    train = len(splits.train)
    copies = f" + {cfg.n_aug} x {train} augmented = {train * (1 + cfg.n_aug)}" if cfg.n_aug else ""
    parts.append(f"train {train}{copies}, val {len(splits.val)}, test {len(splits.test)}"
                 + describe_folds(cfg))
    return f"data {pool.source or cfg.dataset}: " + "; ".join(parts)


def describe_data(cfg: TrainConfig, splits: Splits | None = None) -> str:
    """:func:`describe_pool` of ``cfg``'s (cached) pool; the splits are built if not given."""
    from tuner.data.split import build_splits

    return describe_pool(load_pool(cfg), splits or build_splits(cfg), cfg)


def describe_location(cfg: TrainConfig) -> str:
    """Where the pixels of ``cfg``'s pool live, in one line: the decoded-data cache built
    (and how long it took) or reused, or in memory and why."""
    pool = load_pool(cfg)
    return f"data pixels: {pool.cache_note or 'in memory'} ({len(pool)} images)"


def _skipped(skipped: dict[str, list[str]]) -> str:
    if not skipped:
        return "nothing skipped"
    total = sum(len(names) for names in skipped.values())
    reasons = ", ".join(f"{len(names)} {reason} (e.g. {names[0]})"
                        for reason, names in skipped.items())
    return f"{total} skipped: {reasons}"
