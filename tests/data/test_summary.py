"""The one-line summary of what was loaded: counts, skips, empty masks, foreground, splits."""

from __future__ import annotations

import numpy as np

from tuner.config import TrainConfig
from tuner.data import Pool, Splits, describe_data, describe_pool
from tuner.data.split import split_indices


def test_counts_by_hand():
    masks = np.zeros((4, 16, 16), np.uint8)
    masks[1, :8] = 1  # 50 %
    masks[2, :4] = 1  # 25 %
    masks[3] = 1  # 100 %
    pool = Pool(np.zeros((4, 16, 16, 3), np.uint8), masks, ["a", "b", "c", "d"],
                source="folder:/x", skipped={"not an image file": ["n.txt", "m.csv"],
                                             "unreadable": ["bad.png"]})
    cfg = TrainConfig(val_fraction=0.25, test_fraction=0.25, train_fraction=1.0, n_aug=3)
    index = split_indices(4, cfg)
    splits = Splits(*(pool.split(i) for i in index))
    line = describe_pool(pool, splits, cfg)
    assert line == ("data folder:/x: 4 images used; 3 skipped: 2 not an image file "
                    "(e.g. n.txt), 1 unreadable (e.g. bad.png); 1 empty mask (e.g. a); "
                    "foreground 43.8% of the pixels (min 0.0%, max 100.0%); "
                    "train 2 + 3 x 2 augmented = 8, val 1, test 1")


def test_synthetic_defaults_say_nothing_skipped_and_no_copies():
    cfg = TrainConfig.from_dict({"synthetic_images": 20, "image_size": 32})
    line = describe_data(cfg)
    assert line.startswith("data synthetic: 20 images used; nothing skipped; 0 empty masks; ")
    assert line.endswith("train 12, val 4, test 4") and "augmented" not in line
