"""The Oxford-IIIT Pet adapter on a tiny copy of the published layout and its oddities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.data.test_folder import S, config, rgb, write
from tuner.data import build_splits, clear_pool_cache, describe_data
from tuner.data.adapters import load as load_dataset
from tuner.errors import TunerError


def trimap(pet: slice = slice(4, 12), border: int = 1) -> np.ndarray:
    """1 = pet (a square), 3 = a ``border``-px ring around it, 2 = background."""
    values = np.full((S, S), 2, np.uint8)
    outer = slice(pet.start - border, pet.stop + border)
    values[outer, outer] = 3
    values[pet, pet] = 1
    return values


@pytest.fixture
def pets(tmp_path) -> Path:
    """images/ + annotations/trimaps/ as unpacked, with the published set's oddities."""
    for stem in ("Abyssinian_1", "Bengal_2", "beagle_3"):
        write(tmp_path / "images" / f"{stem}.jpg", rgb(level=120), quality=95)
        write(tmp_path / "annotations" / "trimaps" / f"{stem}.png", trimap())
    (tmp_path / "images" / "Abyssinian_100.mat").write_bytes(b"MATLAB 5.0 MAT-file")
    # a GIF named .jpg whose trimap is all background
    Image.fromarray(rgb(level=51)).convert("P").save(tmp_path / "images" / "Egyptian_Mau_14.jpg",
                                                    format="GIF")
    write(tmp_path / "annotations" / "trimaps" / "Egyptian_Mau_14.png",
          np.full((S, S), 2, np.uint8))
    write(tmp_path / "annotations" / "trimaps" / "._Abyssinian_1.png", trimap())  # macOS litter
    (tmp_path / "annotations" / "xmls").mkdir()
    return tmp_path


def load(path: Path, **fields):
    return load_dataset(config(f"oxford-pet:{path}", **fields))


def test_native_layout_border_counts_as_pet(pets):
    pool = load(pets)
    assert pool.names == ["Abyssinian_1", "Bengal_2", "Egyptian_Mau_14", "beagle_3"]
    assert pool.skipped == {"not an image file": ["Abyssinian_100.mat"]}
    assert pool.masks[0].sum() == 10 * 10  # pet 8x8 plus its 1-px border
    assert pool.masks[0, 0, 0] == 0 and pool.masks[0, 5, 5] == 1
    assert pool.masks[2].sum() == 0  # the GIF's all-background trimap: an empty mask
    assert (pool.images[2] == 51).all()  # decoded by its content (51: a web-palette gray)


def test_border_as_background(pets):
    assert load(pets, trimap_border="background").masks[0].sum() == 8 * 8


def test_unreadable_images_missing_trimaps_and_size_mismatches_are_skipped(pets):
    (pets / "images" / "Bengal_2.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    write(pets / "images" / "Persian_9.jpg", rgb())  # no trimap
    write(pets / "images" / "pug_5.jpg", rgb(size=20))
    write(pets / "annotations" / "trimaps" / "pug_5.png", trimap())  # 16 px for a 20 px image
    pool = load(pets)
    assert pool.names == ["Abyssinian_1", "Egyptian_Mau_14", "beagle_3"]
    assert pool.skipped == {"not an image file": ["Abyssinian_100.mat"],
                            "no trimap": ["Persian_9.jpg"], "unreadable": ["Bengal_2.jpg"],
                            "mask size differs from the image": ["pug_5.jpg"]}


def test_an_unreadable_trimap_is_skipped_too(pets):
    (pets / "annotations" / "trimaps" / "beagle_3.png").write_bytes(b"broken")
    pool = load(pets)
    assert "beagle_3" not in pool.names and pool.skipped["unreadable"] == ["beagle_3.png"]


def test_values_outside_the_trimap_code_are_an_error(pets):
    bad = trimap()
    bad[0, 0] = 7
    write(pets / "annotations" / "trimaps" / "beagle_3.png", bad)
    with pytest.raises(TunerError, match=r"trimap .*beagle_3\.png holds value\(s\) \[7\]; "
                                         r"expected 1 \(pet\), 2 \(background\) and 3"):
        load(pets)


def test_the_layout_is_named_when_a_folder_is_missing(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(TunerError, match=r"oxford-pet dataset .*: no folder .*trimaps; "
                                         r"expected the published layout images/\*\.jpg"):
        load(tmp_path)


def test_nothing_usable_is_an_error(tmp_path):
    (tmp_path / "annotations" / "trimaps").mkdir(parents=True)
    write(tmp_path / "images" / "a.jpg", rgb())
    with pytest.raises(TunerError, match=r"no image in .*images has a trimap"):
        load(tmp_path)


def test_through_the_dataset_spec_with_its_summary(pets):
    for i in range(6):
        write(pets / "images" / f"Birman_{i}.jpg", rgb(level=20 * i))
        write(pets / "annotations" / "trimaps" / f"Birman_{i}.png", trimap())
    clear_pool_cache()
    cfg = config(f"oxford-pet:{pets}", n_aug=2)
    splits = build_splits(cfg)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 10  # every pair used
    line = describe_data(cfg, splits)
    assert "\n" not in line
    assert line.startswith(f"data oxford-pet:{pets}: 10 images used; 1 skipped: 1 not an "
                           "image file (e.g. Abyssinian_100.mat); 1 empty mask (e.g. "
                           "Egyptian_Mau_14); foreground ")
    n_train = len(splits.train)
    assert line.endswith(f"train {n_train} + 2 x {n_train} augmented = {3 * n_train}, "
                         f"val {len(splits.val)}, test {len(splits.test)}")
    clear_pool_cache()
