"""Confusion counts and scores against hand computations; the split meter's reductions."""

from __future__ import annotations

import pytest
import torch

from tuner.records import METRICS
from tuner.training.metrics import SCORE_NAMES, Counts, SplitMeter, scores

# 2x2 logits with probabilities 0.88, 0.27, 0.62, 0.05 and their target
Z = torch.tensor([2.0, -1.0, 0.5, -3.0]).reshape(1, 1, 2, 2)
T = torch.tensor([1.0, 0.0, 0.0, 1.0]).reshape(1, 1, 2, 2)


def confusion_counts(logits: torch.Tensor, target: torch.Tensor, threshold: float) -> Counts:
    """The counts a split meter holds after one batch."""
    meter = SplitMeter(threshold)
    meter.update(logits, target, 0.0)
    return meter.counts()


def test_counts_at_half():
    # predicted foreground: pixels 0 and 2; true foreground: pixels 0 and 3
    assert confusion_counts(Z, T, 0.5) == Counts(tp=1, fp=1, fn=1, tn=1)


def test_counts_follow_the_threshold():
    assert confusion_counts(Z, T, 0.7) == Counts(tp=1, fp=0, fn=1, tn=2)
    assert confusion_counts(Z, T, 0.2) == Counts(tp=1, fp=2, fn=1, tn=0)


def test_counts_of_two_channel_logits_and_bf16():
    logits2 = torch.cat([torch.ones_like(Z), 1 + Z], dim=1)  # z1 - z0 == Z
    assert confusion_counts(logits2, T, 0.5) == Counts(1, 1, 1, 1)
    assert confusion_counts(Z.bfloat16(), T, 0.7) == Counts(1, 0, 1, 2)
    assert confusion_counts(Z, T.bool(), 0.5) == Counts(1, 1, 1, 1)


def test_counts_are_ints():
    counts = confusion_counts(Z, T, 0.5)
    assert all(type(v) is int for v in (counts.tp, counts.fp, counts.fn, counts.tn))
    assert Counts(1, 2, 3, 4).total == 10


def test_scores_match_hand():
    got = scores(Counts(tp=3, fp=1, fn=2, tn=4))
    assert got == pytest.approx(dict(dice=6 / 9, iou=3 / 6, precision=3 / 4,
                                     recall=3 / 5, accuracy=7 / 10))


def test_score_names_are_the_record_metrics_without_loss():
    assert SCORE_NAMES == tuple(m for m in METRICS if m != "loss")
    assert tuple(scores(Counts(1, 1, 1, 1))) == SCORE_NAMES


def test_empty_cases_score_one():
    # nothing to find and nothing found: perfect
    assert scores(Counts(tp=0, fp=0, fn=0, tn=10)) == dict.fromkeys(SCORE_NAMES, 1.0)
    # foreground missed entirely: no prediction, so precision is vacuously 1
    assert scores(Counts(tp=0, fp=0, fn=5, tn=5)) == dict(
        dice=0.0, iou=0.0, precision=1.0, recall=0.0, accuracy=0.5)
    # foreground invented on an empty target: recall vacuously 1
    assert scores(Counts(tp=0, fp=3, fn=0, tn=7)) == dict(
        dice=0.0, iou=0.0, precision=0.0, recall=1.0, accuracy=0.7)


def test_split_meter_reduces_micro_and_weights_the_loss_by_batch_size():
    meter = SplitMeter(threshold=0.5)
    meter.update(Z, T, 0.5)  # 1 image: tp 1, fp 1, fn 1, tn 1
    big_z = torch.full((3, 1, 2, 2), 5.0)  # 3 images, all predicted foreground
    big_t = torch.ones(3, 1, 2, 2)
    big_t[0, 0, 0, 0] = 0.0  # one false positive
    meter.update(big_z, big_t, torch.tensor(0.1))  # tp 11, fp 1
    got = meter.compute()
    assert meter.counts() == Counts(tp=12, fp=2, fn=1, tn=1)
    assert got["loss"] == pytest.approx((0.5 * 1 + 0.1 * 3) / 4)
    assert got["dice"] == pytest.approx(24 / 27)  # not the mean of 0.5 and 22/23
    assert got["accuracy"] == pytest.approx(13 / 16)
    assert list(got) == list(METRICS)


def test_split_meter_accepts_logits_that_need_grad():
    meter = SplitMeter(0.5)
    z = Z.clone().requires_grad_(True)
    meter.update(z, T, torch.tensor(0.3, requires_grad=True) * 1)
    assert meter.compute()["loss"] == pytest.approx(0.3)


def test_split_meter_needs_a_batch_and_a_sane_threshold():
    with pytest.raises(ValueError, match="before any update"):
        SplitMeter(0.5).compute()
    with pytest.raises(ValueError, match="threshold"):
        SplitMeter(1.0)
    with pytest.raises(ValueError, match="target"):
        confusion_counts(Z, T[:, 0], 0.5)
