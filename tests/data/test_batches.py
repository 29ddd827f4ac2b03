"""Train batches (the DataLoader of tuner.data.loader), evaluation batches, normalisers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tuner.data.batches as batches_module
from tuner.config import TrainConfig
from tuner.data import Pool, TrainBatches, eval_batches, make_normalizer
from tuner.data.loader import TrainSamples


def pool(n: int = 10, size: int = 16) -> Pool:
    """Image i has the pixel value i everywhere and a mask of its left half."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None],
                             (n, size, size, 3)).copy()
    masks = np.zeros((n, size, size), np.uint8)
    masks[..., : size // 2] = 1
    return Pool(images, masks, [f"s{i}" for i in range(n)])


def split(n: int = 10, size: int = 16):
    return pool(n, size).everything()


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


CFG = TrainConfig(augment="none", batch_size=4, seed=0)


def ids(x: torch.Tensor) -> list[int]:
    return [round(v) for v in (x[:, 0, 0, 0] * 255).tolist()]


def epoch_of(batches: TrainBatches) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x.clone(), y.clone()) for x, y in batches]


def test_epoch_covers_every_sample_once_in_shuffled_batches():
    batches = TrainBatches(split(10), CFG, identity)
    assert len(batches) == 3  # 4 + 4 + 2
    epoch = list(batches)
    assert [len(x) for x, _ in epoch] == [4, 4, 2]
    assert all(x.dtype == torch.float32 and x.shape[1:] == (3, 16, 16) for x, _ in epoch)
    seen = [i for x, _ in epoch for i in ids(x)]
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    assert all(torch.equal(y[:, :, :, :8], torch.ones_like(y[:, :, :, :8])) for _, y in epoch)


def test_shuffle_differs_per_epoch_and_repeats_per_seed():
    a = TrainBatches(split(), CFG, identity)
    b = TrainBatches(split(), CFG, identity)
    first, second = ([ids(x) for x, _ in a] for _ in range(2))
    assert first != second
    assert [ids(x) for x, _ in b] == first
    other = TrainBatches(split(), CFG.replace(seed=1), identity)
    assert [ids(x) for x, _ in other] != first


def test_a_lone_trailing_sample_joins_the_last_batch():
    batches = TrainBatches(split(9), CFG, identity)
    assert len(batches) == 2 and [len(x) for x, _ in batches] == [4, 5]
    single = TrainBatches(split(1), CFG, identity)
    assert len(single) == 1 and [len(x) for x, _ in single] == [1]


def test_no_augmentation_reads_the_pixels_as_they_are():
    data = split()
    batches = TrainBatches(data, CFG, identity)
    assert not batches.samples.per_sample_work and batches.workers == 0
    for x, y in batches:
        images, masks = data.arrays(ids(x))
        assert torch.equal(x, torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255)
        assert torch.equal(y, torch.from_numpy(masks).unsqueeze(1).float())


def test_augmentation_each_epoch_keeps_pairs_aligned():
    cfg = CFG.replace(augment="flip", seed=3)
    batches = TrainBatches(split(16), cfg, identity)
    flipped = 0
    for _ in range(2):
        for _, y in batches:
            assert set(y.unique().tolist()) == {0.0, 1.0}
            left = y[:, 0, 0, 0] == 1  # a horizontal flip moves the left half right
            flipped += int((~left).sum())
            assert torch.equal(y[~left][..., 8:], torch.ones_like(y[~left][..., 8:]))
    assert 0 < flipped < 32  # about half the samples flipped horizontally
    assert [y for _, y in epoch_of(TrainBatches(split(16), cfg, identity))][0].equal(
        [y for _, y in epoch_of(TrainBatches(split(16), cfg, identity))][0])


def test_augmented_copies_are_the_same_in_every_epoch_and_never_materialised():
    data = split(6)
    cfg = CFG.replace(augment="none", n_aug=2, seed=1)
    samples = TrainSamples(data, cfg)
    assert len(samples) == 18
    copies = [samples.__getitems__([(epoch, j) for j in range(6, 18)]) for epoch in (0, 5)]
    assert torch.equal(copies[0][0], copies[1][0]) and torch.equal(copies[0][1], copies[1][1])
    originals = samples.__getitems__([(0, j) for j in range(6)])
    assert not torch.equal(copies[0][1][:6], originals[1])  # 'combine' moved some masks
    # copy k of an image does not depend on which other images the split holds
    smaller = TrainSamples(pool(6).split(np.array([2, 3, 4])), cfg)
    image_3_copy_1 = smaller.__getitems__([(0, 4)])  # position 1 (image 3), copy 1
    assert torch.equal(image_3_copy_1[0][0], copies[0][0][3])
    batches = TrainBatches(data, cfg, identity)
    assert batches.n_samples == 18 and len(batches) == 5  # 4+4+4+4+2


def test_loader_workers_give_the_same_batches_as_none():
    cfg = CFG.replace(augment="strong", n_aug=1, seed=4)
    alone = TrainBatches(split(12, 32), cfg, identity)
    helped = TrainBatches(split(12, 32), cfg.replace(loader_workers=2), identity)
    assert alone.workers == 0 and helped.workers == 2
    for _ in range(2):  # two epochs: persistent workers draw the next epoch right
        for (x0, y0), (x1, y1) in zip(alone, helped, strict=True):
            assert torch.equal(x0, x1) and torch.equal(y0, y1)
    helped.close()


def test_a_resumed_run_draws_what_the_uninterrupted_one_would():
    cfg = CFG.replace(augment="combine", n_aug=1, seed=2)
    straight = TrainBatches(split(), cfg, identity)
    epochs = [epoch_of(straight) for _ in range(3)]
    stopped = TrainBatches(split(), cfg, identity)
    epoch_of(stopped)
    resumed = TrainBatches(split(), cfg, identity)
    resumed.load_rng_state(stopped.rng_state())
    for (x0, y0), (x1, y1) in zip(epochs[1], epoch_of(resumed), strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_normalize_is_applied_after_the_float_conversion():
    seen = []
    for x, _ in TrainBatches(split(4), CFG, lambda x: seen.append(x) or x * 0 - 1):
        assert (x == -1).all()
    assert len(seen) == 1 and seen[0].shape == (4, 3, 16, 16)
    assert seen[0].dtype == torch.float32 and float(seen[0].max()) <= 3 / 255 + 1e-7


def test_channels_last_batches_are_laid_out_so():
    x, _ = next(iter(TrainBatches(split(4), CFG, identity, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)
    x, _ = next(iter(TrainBatches(split(4), CFG, identity, channels_last=False)))
    assert x.is_contiguous()


def test_eval_batches_in_order_unaugmented():
    data = split(10)
    out = list(eval_batches(data, 4, lambda x: x + 1))
    assert [len(x) for x, _ in out] == [4, 4, 2]
    assert [i - 255 for x, _ in out for i in ids(x)] == list(range(10))
    assert torch.equal(torch.cat([y for _, y in out]), data.tensors()[1])


def test_normalizers_use_the_exact_statistics_of_the_train_pixels():
    data = split(4, size=2)
    x = torch.full((2, 3, 2, 2), 0.5)
    imagenet = make_normalizer(CFG.replace(normalize="imagenet"), data)
    assert torch.allclose(imagenet(x)[0, :, 0, 0], torch.tensor(
        [(0.5 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225]))
    assert make_normalizer(CFG.replace(normalize="none"), data)(x) is x
    zscore = make_normalizer(CFG.replace(normalize="zscore"), data)
    pixels = data.tensors()[0]
    std, mean = torch.std_mean(pixels.double(), dim=(0, 2, 3), correction=0)
    assert torch.allclose(torch.tensor(zscore.mean, dtype=torch.float64), mean)
    assert torch.allclose(torch.tensor(zscore.std, dtype=torch.float64), std)
    constant = Pool(np.full((2, 2, 2, 3), 77, np.uint8), np.zeros((2, 2, 2), np.uint8),
                    ["a", "b"]).everything()
    assert torch.isfinite(make_normalizer(CFG.replace(normalize="zscore"), constant)(x)).all()


def test_a_split_stays_where_it_is_on_the_cpu_and_the_gpu_rule_leaves_room():
    data = split()
    assert batches_module.kept_on_device(data, torch.device("cpu")) is data
    assert TrainBatches(data, CFG, identity, torch.device("cpu")).on_device is None
    share = batches_module.DEVICE_POOL_SHARE
    assert batches_module.fits_on_device(int(share * 1000), 1000)
    assert not batches_module.fits_on_device(int(share * 1000) + 1, 1000)


@pytest.mark.parametrize("bad", [-2, 65])
def test_loader_workers_out_of_range_is_refused(bad):
    from tuner.errors import TunerError

    with pytest.raises(TunerError, match="loader_workers"):
        CFG.replace(loader_workers=bad)
