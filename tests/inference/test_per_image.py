"""Per-image scores from per-image confusion counts, and Dice by decision threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from tests.tiny import TINY
from tuner.config import TrainConfig
from tuner.data import Pool, make_normalizer
from tuner.data.synthetic import make_synthetic
from tuner.inference.per_image import (
    THRESHOLDS,
    curve_thresholds,
    dice_of,
    extremes,
    image_counts,
    per_image_frame,
    score_images,
)
from tuner.training import resolve_runtime, score
from tuner.training.metrics import SplitMeter


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def test_counts_per_image_add_up_to_the_batch_counts():
    # three 2x2 images: perfect; empty truth and empty prediction; all wrong
    truth = torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0], [1, 1, 0, 0]]).float()
    predicted = torch.tensor([[1, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 1]]).float()
    z = torch.where(predicted > 0, 3.0, -3.0).reshape(3, 1, 2, 2)
    masks = truth.reshape(3, 1, 2, 2)
    counts = image_counts(z, masks, 0.5)
    assert counts.tolist() == [[2, 0, 0, 2], [0, 0, 0, 4], [0, 2, 2, 0]]
    meter = SplitMeter(0.5)  # the counts of training's scores
    meter.update(z, masks, 0.0)
    batch = meter.counts()
    assert counts.sum(dim=0).tolist() == [batch.tp, batch.fp, batch.fn, batch.tn]
    # nothing to find and nothing found is a perfect image, as in the overall scores
    assert dice_of(counts).tolist() == [1.0, 1.0, 0.0]


def test_threshold_is_applied_as_in_training():
    z = torch.full((1, 1, 1, 2), logit(0.6))
    masks = torch.ones(1, 1, 1, 2)
    assert image_counts(z, masks, 0.5)[0, 0] == 2  # 0.6 > 0.5
    assert image_counts(z, masks, 0.7)[0, 0] == 0
    with pytest.raises(ValueError, match="threshold"):
        image_counts(z, masks, 1.0)


def test_curve_thresholds_hold_the_trials_own():
    assert curve_thresholds(0.5) == list(THRESHOLDS)
    assert 0.42 in curve_thresholds(0.42) and len(curve_thresholds(0.42)) == len(THRESHOLDS) + 1


def test_extremes_are_the_best_and_worst_by_dice():
    frame = pd.DataFrame({"dice": [0.5, 0.9, 0.1, 0.7, 0.3, 0.95]})
    assert extremes(frame, 2) == ([5, 1], [2, 4])
    assert extremes(frame.head(3), 4) == ([1], [2])  # fewer images: each gets half


def test_one_pass_gives_trainings_scores_and_consistent_tables():
    cfg = TrainConfig.from_dict({**TINY, "batch_size": 3, "normalize": "zscore",
                                "threshold": 0.4})
    images, masks, names = make_synthetic(7, 32)
    split = Pool(images, masks, names).everything()
    torch.manual_seed(0)
    model = nn.Conv2d(3, 1, 3, padding=1)
    runtime = resolve_runtime(cfg.replace(precision="fp32"))
    normalize = make_normalizer(cfg, split)
    result = score_images(model, split, cfg, runtime, normalize)
    assert result.metrics == pytest.approx(score(model, split, cfg, runtime, normalize))
    frame = per_image_frame(result)
    assert list(frame["image"]) == names and len(frame) == 7
    assert frame["true_fraction"].tolist() == pytest.approx(masks.reshape(7, -1).mean(axis=1))
    assert frame["dice"].between(0, 1).all() and frame["iou"].le(frame["dice"]).all()
    at_own = result.curve.set_index("threshold").loc[0.4]
    assert at_own["dice"] == pytest.approx(result.metrics["dice"])
    assert at_own["mean_image_dice"] == pytest.approx(frame["dice"].mean())
    # a lower threshold never predicts less foreground: recall does not fall
    assert result.curve["recall"].is_monotonic_decreasing
