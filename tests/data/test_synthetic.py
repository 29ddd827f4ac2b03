"""The synthetic pool: fixed, fast, imbalanced, and not solvable by a brightness threshold.

That a UNet learns it (and that hyperparameters matter) was checked by training; the
numbers are in docs/datasets.md. These tests pin the properties that training relies on.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from tuner.data.synthetic import make_synthetic


@pytest.fixture(scope="module")
def pool():
    return make_synthetic(120, 64)


def test_shapes_dtypes_and_names(pool):
    images, masks, names = pool
    assert images.shape == (120, 64, 64, 3) and images.dtype == np.uint8
    assert masks.shape == (120, 64, 64) and masks.dtype == np.uint8
    assert set(np.unique(masks)) == {0, 1}
    assert names[0] == "synthetic_0000" and names[-1] == "synthetic_0119"
    assert len(set(names)) == 120


def test_same_pool_every_call_and_prefix_of_larger_pools(pool):
    images, masks, _ = pool
    small_images, small_masks, _ = make_synthetic(10, 64)
    assert np.array_equal(small_images, images[:10])
    assert np.array_equal(small_masks, masks[:10])
    assert not np.array_equal(images[0], images[1])  # images differ from each other


def test_foreground_is_a_minority_with_small_objects(pool):
    _, masks, _ = pool
    per_image = masks.reshape(len(masks), -1).mean(1)
    assert 0.05 <= per_image.mean() <= 0.25
    assert per_image.max() < 0.5
    assert (per_image > 0).mean() > 0.95  # nearly every image holds an object


def test_rgb_with_colour_variation(pool):
    images, _, _ = pool
    channel_means = images.reshape(len(images), -1, 3).mean(1)
    assert np.abs(channel_means[:, 0] - channel_means[:, 1]).mean() > 3  # not grayscale
    assert channel_means.std(0).min() > 5  # the tint varies between images


def _dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    return 2 * (predicted & truth).sum() / (predicted.sum() + truth.sum())


def test_no_brightness_threshold_finds_the_objects(pool):
    """Best global threshold on gray level, either polarity, stays near 'all foreground'."""
    images, masks, _ = pool
    gray = images.mean(-1)
    truth = masks.astype(bool)
    all_foreground = _dice(np.ones_like(truth), truth)
    best = max(_dice(gray > t, truth) if polarity else _dice(gray < t, truth)
               for t in range(0, 256, 4) for polarity in (True, False))
    assert best < all_foreground + 0.05
    assert best < 0.3


def test_objects_differ_from_background_by_texture(pool):
    """Objects hold more fine-scale (pixel-to-pixel) structure than the background."""
    images, masks, _ = pool
    gray = images.astype(np.float32).mean(-1)
    laplace = np.abs(4 * gray[:, 1:-1, 1:-1] - gray[:, :-2, 1:-1] - gray[:, 2:, 1:-1]
                     - gray[:, 1:-1, :-2] - gray[:, 1:-1, 2:])
    inner = masks[:, 1:-1, 1:-1].astype(bool)
    assert laplace[inner].mean() > 1.3 * laplace[~inner].mean()


def test_fast_and_scales_to_larger_images():
    start = time.perf_counter()
    make_synthetic(60, 64)
    assert time.perf_counter() - start < 1.0  # 240 images take about 0.4 s
    images, masks, _ = make_synthetic(3, 128)
    assert images.shape == (3, 128, 128, 3)
    # the same scene at twice the resolution: similar foreground share
    small = make_synthetic(3, 64)[1].mean()
    assert abs(masks.mean() - small) < 0.03


def test_rejects_nonsense_arguments():
    with pytest.raises(ValueError):
        make_synthetic(0, 64)
