"""Where the data cannot carry a conclusion: small scored splits, few steps, empty masks.

A 40-image set printed "train 19, val 8, test 8" and went on: two optimizer steps per
epoch, a validation score moved by whole images, and a best Dice near that of predicting
everything foreground, without a word. Each caveat here is one line that says what was
found, why it weakens a conclusion and what to do; ``tuner run`` prints them at the start
and the report shows them beside its conclusion.
"""

from __future__ import annotations

import math

from tuner.config import TrainConfig
from tuner.data.pool import Pool, Splits

#: a validation or test split smaller than this moves its Dice by whole images
MIN_SCORED_IMAGES = 20
#: fewer optimizer steps per epoch than this and an epoch barely moves the weights
MIN_STEPS_PER_EPOCH = 10
#: a best Dice this close to the trivial Dice (all foreground) has learned little
TRIVIAL_MARGIN = 0.05
EMPTY_NAMES_SHOWN = 3


def steps_per_epoch(train_images: int, cfg: TrainConfig) -> int:
    """Optimizer steps of one epoch: train images (with ``n_aug`` copies) per batch; a
    trailing batch of one joins the one before it, as ``TrainBatches`` does."""
    samples = train_images * (1 + cfg.n_aug)
    steps = math.ceil(samples / cfg.batch_size)
    return steps - 1 if steps > 1 and samples % cfg.batch_size == 1 else steps


def split_caveats(splits: Splits) -> list[str]:
    """Validation or test splits under :data:`MIN_SCORED_IMAGES` images."""
    out = []
    for name, split in (("validation", splits.val), ("test", splits.test)):
        if 0 < len(split) < MIN_SCORED_IMAGES:
            out.append(f"the {name} split holds {len(split)} images (under "
                       f"{MIN_SCORED_IMAGES}): one image moves its Dice by several points; "
                       "compare configurations with repeats or folds (docs/folds.md), "
                       "and distrust small gaps")
    return out


def steps_caveat(train_images: int, cfg: TrainConfig, where: str = "") -> str | None:
    """A caveat when an epoch has under :data:`MIN_STEPS_PER_EPOCH` optimizer steps."""
    steps = steps_per_epoch(train_images, cfg)
    if steps >= MIN_STEPS_PER_EPOCH:
        return None
    at = f" at {where}" if where else ""
    return (f"{steps} optimizer step(s) per epoch{at} ({train_images} train images, "
            f"batch_size {cfg.batch_size}): under {MIN_STEPS_PER_EPOCH}, so a run of "
            f"{cfg.epochs} epochs takes only {steps * cfg.epochs} steps; lower batch_size or "
            "raise epochs before reading small differences")


def empty_mask_caveat(pool: Pool) -> str | None:
    """A caveat naming a few images whose mask has no foreground at all."""
    counts = pool.sums.foreground if len(pool) else []
    empty = [name for name, count in zip(pool.names, counts, strict=True) if count == 0]
    if not empty:
        return None
    shown = ", ".join(empty[:EMPTY_NAMES_SHOWN]) + (", ..." if len(empty) > EMPTY_NAMES_SHOWN
                                                     else "")
    return (f"{len(empty)} of {len(pool)} masks are empty ({shown}): fine where images "
            "without foreground are expected, else an annotation error or a mask value read "
            "wrong (foreground_values); check them")


def weak_result_caveat(best_dice: float, trivial: float) -> str | None:
    """A caveat when the best validation Dice is within :data:`TRIVIAL_MARGIN` of the
    Dice of predicting every pixel foreground."""
    if best_dice - trivial >= TRIVIAL_MARGIN:
        return None
    return (f"the best validation Dice {best_dice:.3f} is within {TRIVIAL_MARGIN} of the "
            f"trivial Dice {trivial:.3f} (every pixel foreground): the models learned "
            "little; train longer or check the masks before concluding")


def data_caveats(cfg: TrainConfig, pool: Pool, splits: Splits) -> list[str]:
    """Every caveat of one configuration's data: scored split sizes, steps, empty masks."""
    found = [*split_caveats(splits), steps_caveat(len(splits.train), cfg),
             empty_mask_caveat(pool)]
    return [caveat for caveat in found if caveat]
