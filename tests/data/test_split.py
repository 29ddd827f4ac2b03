"""Pool caching and the split rules: fixed validation/test, nested train fractions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import tuner.data.synthetic as synthetic_module
from tuner.config import TrainConfig
from tuner.data import (
    DATASETS,
    build_splits,
    clear_pool_cache,
    load_pool,
    pool_key,
    split_indices,
)
from tuner.errors import TunerError

SMALL = TrainConfig.from_dict({"synthetic_images": 40, "image_size": 32})


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_pool_cache()
    yield
    clear_pool_cache()


def test_split_shapes_ranges_and_counts():
    splits = build_splits(SMALL)
    # 40 images: 8 validation, 8 test, and all 24 of the train pool (train_fraction 1.0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (24, 8, 8)
    assert len(build_splits(SMALL.replace(train_fraction=0.8)).train) == 19  # 19.2
    for part in (splits.train, splits.val, splits.test):
        images, masks = part.tensors()
        assert images.shape[1:] == (3, 32, 32) and images.dtype == torch.float32
        assert masks.shape[1:] == (1, 32, 32) and masks.dtype == torch.float32
        assert 0 <= images.min() and images.max() <= 1
        assert set(masks.unique().tolist()) <= {0.0, 1.0}
        assert len(part.names) == len(images)
        assert part.arrays()[0].dtype == np.uint8  # a view of the pool's uint8 pixels
    names = splits.train.names + splits.val.names + splits.test.names
    assert len(set(names)) == len(names)  # disjoint


def test_pool_built_once_and_shared(monkeypatch):
    calls = []
    real = synthetic_module.make_synthetic
    monkeypatch.setattr(synthetic_module, "make_synthetic",
                        lambda n, size: calls.append((n, size)) or real(n, size))
    first = load_pool(SMALL)
    # fields that do not change the pool reuse it
    for changes in (dict(lr=0.1), dict(seed=3), dict(train_fraction=0.2), dict(split_seed=5),
                    dict(foreground_values="1"), dict(resize="pad"), dict(masks_dir="m")):
        assert load_pool(SMALL.replace(**changes)) is first
    assert len(calls) == 1
    load_pool(SMALL.replace(synthetic_images=20))
    load_pool(SMALL.replace(image_size=16))
    assert len(calls) == 3


def test_val_and_test_fixed_across_train_fraction_and_seed():
    base = build_splits(SMALL)
    for changes in (dict(train_fraction=0.2), dict(train_fraction=1.0), dict(seed=7),
                    dict(augment="strong", lr=0.1)):
        other = build_splits(SMALL.replace(**changes))
        assert other.val.names == base.val.names and other.test.names == base.test.names
        assert torch.equal(other.val.tensors()[0], base.val.tensors()[0])


def test_train_fractions_are_nested_and_deterministic():
    sets = [set(build_splits(SMALL.replace(train_fraction=f)).train.names)
            for f in (0.2, 0.4, 0.6, 0.8, 1.0)]
    assert [len(s) for s in sets] == [5, 10, 14, 19, 24]  # of 24, rounded half up
    assert all(small < large for small, large in zip(sets, sets[1:], strict=False))
    assert build_splits(SMALL).train.names == build_splits(SMALL).train.names


def test_split_seed_changes_the_split():
    a = build_splits(SMALL)
    b = build_splits(SMALL.replace(split_seed=1))
    assert a.val.names != b.val.names


def test_split_indices_hand_counts():
    cfg = TrainConfig(val_fraction=0.25, test_fraction=0.1, train_fraction=0.5)
    train, val, test = split_indices(30, cfg)
    # 30 * 0.25 = 7.5 -> 8; 30 * 0.1 = 3; train pool 19 * 0.5 = 9.5 -> 10
    assert (len(train), len(val), len(test)) == (10, 8, 3)
    order = np.random.default_rng(0).permutation(30)
    assert np.array_equal(val, np.sort(order[:8]))
    assert np.array_equal(test, np.sort(order[8:11]))
    assert np.array_equal(train, np.sort(order[11:21]))


def test_zero_test_fraction_gives_an_empty_test_split():
    splits = build_splits(SMALL.replace(test_fraction=0.0))
    assert len(splits.test) == 0 and splits.test.tensors()[0].shape == (0, 3, 32, 32)
    assert len(splits.val) == 8 and len(splits.train) == 32


@pytest.mark.parametrize("changes, message", [
    (dict(val_fraction=0.01), r"'val_fraction': 0.01 of 40 images is 0 validation images"),
    (dict(test_fraction=0.01), r"'test_fraction': 0.01 of 40 images is 0 test images"),
    (dict(train_fraction=0.01), r"'train_fraction': 0.01 of the 24 train images .* is 0"),
])
def test_empty_split_is_a_named_error(changes, message):
    with pytest.raises(TunerError, match=message):
        build_splits(SMALL.replace(**changes))


def test_folder_dataset_and_its_errors(tmp_path):
    for i in range(10):
        (tmp_path / "images").mkdir(exist_ok=True)
        (tmp_path / "masks").mkdir(exist_ok=True)
        Image.fromarray(np.full((8, 8), 20 * i, np.uint8)).save(tmp_path / "images" / f"{i}.png")
        mask = np.zeros((8, 8), np.uint8)
        mask[:4] = 255
        Image.fromarray(mask).save(tmp_path / "masks" / f"{i}.png")
    cfg = TrainConfig(dataset=f"folder:{tmp_path}", image_size=16)
    splits = build_splits(cfg)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (6, 2, 2)
    images, masks = splits.val.tensors()
    assert masks.shape == (2, 1, 16, 16) and masks.mean() == 0.5
    first = splits.val.names[0]
    assert torch.allclose(images[0], torch.full((3, 16, 16), 20 * int(first) / 255))
    with pytest.raises(TunerError, match="does not exist"):
        build_splits(cfg.replace(dataset=f"folder:{tmp_path / 'missing'}"))
    with pytest.raises(TunerError, match="folder:PATH"):
        build_splits(cfg.replace(dataset="folder:"))


PATH_KINDS = ["csv", "folder", "isic", "oxford-pet"]


def test_the_config_takes_its_dataset_kinds_from_the_registry():
    assert sorted(DATASETS.names()) == sorted(["synthetic", *PATH_KINDS])
    for kind in PATH_KINDS:
        assert TrainConfig(dataset=f"{kind}:x").dataset == f"{kind}:x"
    with pytest.raises(TunerError, match=r"'dataset': got 'pets:x', expected 'synthetic' or "
                                         r"'csv:PATH', 'folder:PATH', 'isic:PATH', "
                                         r"'oxford-pet:PATH'"):
        TrainConfig(dataset="pets:x")


def test_pool_key_holds_the_fields_of_its_kind_and_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = TrainConfig(dataset="folder:data")
    assert pool_key(folder)[1] == str(tmp_path / "data")
    assert pool_key(folder) != pool_key(folder.replace(masks_dir="left,right"))
    assert pool_key(folder) != pool_key(folder.replace(resize="pad"))
    assert pool_key(folder) == pool_key(folder.replace(trimap_border="background"))
    pets = TrainConfig(dataset="oxford-pet:data")
    assert pool_key(pets) != pool_key(pets.replace(trimap_border="background"))
    assert pool_key(pets) == pool_key(pets.replace(foreground_values="1"))
    for kind in PATH_KINDS:
        with pytest.raises(TunerError, match=rf"got '{kind}:', expected {kind}:PATH"):
            pool_key(TrainConfig(dataset=f"{kind}:"))


FOLDS = SMALL.replace(folds=5)


def test_folds_are_disjoint_cover_the_non_test_images_and_keep_the_test_split():
    plain = build_splits(SMALL)
    folds = [build_splits(FOLDS.replace(fold=j)) for j in range(5)]
    non_test = set(plain.train.names) | set(plain.val.names)
    validated = [name for split in folds for name in split.val.names]
    assert sorted(validated) == sorted(non_test)  # each non-test image validates once
    assert sorted(len(s.val) for s in folds) == [6, 6, 6, 7, 7]  # 32 images: differ by 1
    for split in folds:
        assert split.test.names == plain.test.names  # the test split is the folds' own too
        assert set(split.train.names) == non_test - set(split.val.names)
        assert torch.equal(split.test.tensors()[0], plain.test.tensors()[0])
    again = build_splits(FOLDS.replace(fold=2, seed=9, lr=0.1))  # training fields: same fold
    assert again.val.names == folds[2].val.names and again.train.names == folds[2].train.names


def test_folds_are_stratified_by_foreground_share():
    """Every fold spans the foreground shares: the folds' mean shares are closer than
    those of folds dealt without the shares."""
    shares = load_pool(FOLDS).foreground_shares
    spreads = []
    for split_seed in range(5):
        for given in (shares, None):
            means = [shares[split_indices(40, FOLDS.replace(fold=j, split_seed=split_seed),
                                          given)[1]].mean() for j in range(5)]
            spreads.append(max(means) - min(means))
    stratified, unstratified = spreads[0::2], spreads[1::2]
    assert max(stratified) < 0.03 < max(unstratified)
    assert np.mean(stratified) < 0.7 * np.mean(unstratified)
    # the sizes are the same with or without the shares (the caveats count without them)
    for j in range(5):
        with_shares = split_indices(40, FOLDS.replace(fold=j), shares)
        assert [len(part) for part in with_shares] == [
            len(part) for part in split_indices(40, FOLDS.replace(fold=j))]


def test_folds_decide_the_split_key_and_their_errors_are_named():
    from tuner.data import split_key

    assert split_key(FOLDS) != split_key(SMALL) != split_key(SMALL.replace(folds=3))
    assert split_key(FOLDS) != split_key(FOLDS.replace(fold=1))
    assert split_key(FOLDS) == split_key(FOLDS.replace(seed=4, lr=0.1))
    with pytest.raises(TunerError, match="'folds': 40 folds of the 32 images"):
        split_indices(40, SMALL.replace(folds=40))
    tiny_val = FOLDS.replace(val_fraction=0.01)  # no validation share needed with folds
    assert len(split_indices(40, tiny_val)[1]) in (6, 7)
