"""Train and evaluation batches, and the normalisers."""

from __future__ import annotations

import pytest
import torch

import tuner.data.batches as batches_module
from tuner.config import TrainConfig
from tuner.data import Split, TrainBatches, eval_batches, make_normalizer


def split(n: int = 10, size: int = 16) -> Split:
    """Sample i has image value i / 100 everywhere and a mask of its left half."""
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, size, size)
    masks = torch.zeros(n, 1, size, size)
    masks[..., : size // 2] = 1
    return Split(images.contiguous() / 100, masks, [f"s{i}" for i in range(n)])


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


CFG = TrainConfig(augment="none", batch_size=4, seed=0)


def ids(x: torch.Tensor) -> list[int]:
    return [round(v) for v in (x[:, 0, 0, 0] * 100).tolist()]


def test_epoch_covers_every_sample_once_in_shuffled_batches():
    batches = TrainBatches(split(10), CFG, identity)
    assert len(batches) == 3  # 4 + 4 + 2
    epoch = list(batches)
    assert [len(x) for x, _ in epoch] == [4, 4, 2]
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


def test_no_augmentation_does_no_per_sample_work(monkeypatch):
    monkeypatch.setattr(batches_module, "augment_batch",
                        lambda *a: pytest.fail("augmented with augment='none'"))
    data = split()
    for x, y in TrainBatches(data, CFG, identity):
        index = torch.tensor(ids(x))
        assert torch.equal(x, data.images[index]) and torch.equal(y, data.masks[index])


def test_augmentation_each_epoch_keeps_pairs_aligned():
    cfg = CFG.replace(augment="flip", seed=3)
    batches = TrainBatches(split(16), cfg, identity)
    flipped = 0
    for _ in range(2):
        for x, y in batches:
            assert x.shape == (len(x), 3, 16, 16) and x.dtype == torch.float32
            assert y.shape == (len(x), 1, 16, 16) and set(y.unique().tolist()) == {0.0, 1.0}
            left = y[:, 0, 0, 0] == 1  # a vertical flip keeps the left half on the left
            flipped += int((~left).sum())
            assert torch.equal(y[left], split(16).masks[: int(left.sum())])
    assert 0 < flipped < 32  # about half the samples flipped horizontally
    again = TrainBatches(split(16), cfg, identity)
    assert torch.equal(next(iter(again))[1], next(iter(TrainBatches(split(16), cfg,
                                                                    identity)))[1])


def test_n_aug_adds_augmented_copies_once():
    data = split(6)
    batches = TrainBatches(data, CFG.replace(augment="flip", n_aug=2, seed=1), identity)
    assert batches.n_samples == 18 and len(batches) == 5  # 4+4+4+4+2
    assert torch.equal(batches.images[:6], data.images)
    copies = batches.masks[6:]
    assert not torch.equal(copies, torch.cat([data.masks, data.masks]))  # some flipped
    again = TrainBatches(data, CFG.replace(augment="flip", n_aug=2, seed=1), identity)
    assert torch.equal(again.masks, batches.masks)
    # augment 'none' still gets varied copies (drawn with 'combine')
    plain = TrainBatches(data, CFG.replace(n_aug=1), identity)
    assert plain.n_samples == 12 and plain.pipeline is None
    assert not torch.equal(plain.masks[6:], data.masks)


def test_normalize_is_applied_last():
    seen = []
    data = split(4)
    for x, _ in TrainBatches(data, CFG, lambda x: seen.append(x) or x * 0 - 1):
        assert (x == -1).all()
    assert len(seen) == 1 and seen[0].shape == (4, 3, 16, 16)


def test_eval_batches_in_order_unaugmented():
    data = split(10)
    out = list(eval_batches(data, 4, lambda x: x + 1))
    assert [len(x) for x, _ in out] == [4, 4, 2]
    assert torch.equal(torch.cat([x for x, _ in out]), data.images + 1)
    assert torch.equal(torch.cat([y for _, y in out]), data.masks)


def test_normalizers():
    data = split(4, size=2)
    x = torch.full((2, 3, 2, 2), 0.5)
    imagenet = make_normalizer(CFG.replace(normalize="imagenet"), data)
    assert torch.allclose(imagenet(x)[0, :, 0, 0], torch.tensor(
        [(0.5 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225]))
    assert make_normalizer(CFG.replace(normalize="none"), data)(x) is x
    # train pixels 0, .01, .02, .03 per channel: mean .015, population std .01118
    zscore = make_normalizer(CFG.replace(normalize="zscore"), data)
    out = zscore(data.images)
    assert torch.allclose(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(out[0, 0, 0, 0], torch.tensor(-0.015 / 0.0111803), atol=1e-4)
    constant = Split(torch.full((2, 3, 2, 2), 0.3), data.masks[:2], ["a", "b"])
    assert torch.isfinite(make_normalizer(CFG.replace(normalize="zscore"), constant)(x)).all()


def test_a_split_stays_where_it_is_on_the_cpu_and_the_gpu_rule_leaves_room():
    data = split()
    assert batches_module.kept_on_device(data, torch.device("cpu")) is data
    batches = TrainBatches(data, CFG, identity, torch.device("cpu"))
    assert batches.images is data.images  # nothing copied on the CPU
    share = batches_module.DEVICE_POOL_SHARE
    assert batches_module.fits_on_device(int(share * 1000), 1000)
    assert not batches_module.fits_on_device(int(share * 1000) + 1, 1000)
