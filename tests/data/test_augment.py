"""Augmentation pipelines: names, seeding, image/mask agreement, value ranges."""

from __future__ import annotations

import numpy as np
import pytest

from tuner.data.augment import AUGMENTATIONS, make_pipeline
from tuner.errors import TunerError


def augment_batch(pipeline, images: np.ndarray,
                  masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``pipeline`` to each sample: images float32 (B, H, W, 3), masks uint8 (B, H, W).

    Each sample draws its own random parameters (albumentations has no batched mode for
    per-sample transforms); returns new arrays of the same shapes and dtypes.
    """
    out_images = np.empty_like(images)
    out_masks = np.empty_like(masks)
    for i in range(len(images)):
        result = pipeline(image=images[i], mask=masks[i])
        out_images[i] = result["image"]
        out_masks[i] = result["mask"]
    return out_images, out_masks


def batch(n: int = 6, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Images whose first channel equals the mask (so alignment is checkable)."""
    rng = np.random.default_rng(0)
    masks = np.zeros((n, size, size), np.uint8)
    for i in range(n):
        y, x = rng.integers(4, size - 12, 2)
        masks[i, y:y + 8, x:x + 12] = 1
    images = rng.uniform(0.2, 0.4, (n, size, size, 3)).astype(np.float32)
    images[..., 0] = masks
    return images, masks


def test_the_config_takes_its_augmentations_from_the_registry():
    from tuner.config import TrainConfig

    assert [TrainConfig(augment=name).augment for name in AUGMENTATIONS] == AUGMENTATIONS.names()
    with pytest.raises(TunerError, match="'augment': got 'twirl', expected one of none, flip"):
        TrainConfig(augment="twirl")
    with pytest.raises(TunerError, match="unknown augmentation .twirl.*flip, vflip, flips, rotate"):
        make_pipeline("twirl", 32, 0)


def test_none_is_no_pipeline():
    assert make_pipeline("none", 32, 0) is None


@pytest.mark.parametrize("name", ["flip", "rotate", "combine", "strong"])
def test_same_seed_same_augmentations_other_seed_others(name):
    images, masks = batch()
    a = augment_batch(make_pipeline(name, 32, 5), images, masks)
    b = augment_batch(make_pipeline(name, 32, 5), images, masks)
    c = augment_batch(make_pipeline(name, 32, 6), images, masks)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", ["flip", "rotate", "combine", "strong"])
def test_masks_stay_binary_images_in_range_and_move_with_images(name):
    images, masks = batch()
    pipeline = make_pipeline(name, 32, 1)
    for _ in range(3):
        out_images, out_masks = augment_batch(pipeline, images, masks)
        assert out_images.dtype == np.float32 and out_images.shape == images.shape
        assert out_masks.dtype == np.uint8 and set(np.unique(out_masks)) <= {0, 1}
        assert out_images.min() >= 0 and out_images.max() <= 1
        # channel 0 carried the mask: after the same geometric transform they still agree
        # (photometric changes and interpolation only blur the edge)
        agree = (out_images[..., 0] > 0.5) == out_masks.astype(bool)
        assert agree.mean() > 0.97


@pytest.mark.parametrize(("name", "drawn"), [("flip", {0, 1}), ("vflip", {0, 2}),
                                             ("flips", {0, 1, 2, 3})])
def test_flips_only_flip_and_flip_is_horizontal(name, drawn):
    """``flip`` mirrors left-right only (an upside-down chest X-ray or pet is no plausible
    image); ``vflip`` up-down only; ``flips`` both, for images without an up."""
    images, masks = batch(n=40)
    out_images, out_masks = augment_batch(make_pipeline(name, 32, 0), images, masks)
    kinds = set()
    for i in range(40):
        for kind, f in enumerate((lambda a: a, np.fliplr, np.flipud,
                                  lambda a: np.flipud(np.fliplr(a)))):
            if np.array_equal(f(masks[i]), out_masks[i]) and np.array_equal(
                    f(images[i]), out_images[i]):
                kinds.add(kind)
                break
        else:
            raise AssertionError(f"sample {i} is not a flip of its input")
    assert kinds == drawn  # each allowed combination drawn (p = 1/2 each)


def test_strong_changes_intensities_combine_does_not():
    images, masks = batch(n=20)
    images[..., 1:] = 0.3
    flat = masks == 0
    combined, cmask = augment_batch(make_pipeline("combine", 32, 0), images, masks)
    assert np.allclose(combined[..., 1][cmask == 0], 0.3, atol=1e-5)
    strong, smask = augment_batch(make_pipeline("strong", 32, 0), images, masks)
    assert flat.any() and not np.allclose(strong[..., 1][smask == 0], 0.3, atol=0.01)


def test_rotate_turns_without_flipping():
    """A rotation keeps the mask's area and its centre of mass near the same radius."""
    images, masks = batch(n=20)
    out_images, out_masks = augment_batch(make_pipeline("rotate", 32, 0), images, masks)
    moved = [i for i in range(20) if not np.array_equal(out_masks[i], masks[i])]
    assert len(moved) >= 10  # p = 0.8 per sample
    for i in moved:
        # a rotation by up to 20 degrees about the centre keeps the object's area
        assert abs(int(out_masks[i].sum()) - int(masks[i].sum())) <= 0.15 * masks[i].sum()
        assert not np.array_equal(out_masks[i], np.fliplr(masks[i]))
