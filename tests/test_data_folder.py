"""Folder datasets: pairing, decoding, mask rules and every bad input, on tiny PNGs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuner.data.folder import load_folder
from tuner.errors import TunerError

REPO = Path(__file__).resolve().parents[1]
ISBI = Path(os.environ.get("TUNER_ISBI_DIR", REPO / ".." / "shared" / "data" /
                           "isbi2012_membrane"))


def write(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def square_mask(size: int = 8, value: int = 255, background: int = 0) -> np.ndarray:
    """A mask whose top-left quarter is ``value``."""
    mask = np.full((size, size), background, np.uint8)
    mask[: size // 2, : size // 2] = value
    return mask


def rgb(size: int = 8, level: int = 100) -> np.ndarray:
    return np.full((size, size, 3), level, np.uint8)


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Two RGB pairs (a, b) with {0, 255} masks, one using the <stem>_mask convention."""
    write(tmp_path / "images" / "a.png", rgb(level=10))
    write(tmp_path / "images" / "b.PNG", rgb(level=200))
    write(tmp_path / "masks" / "a.png", square_mask())
    write(tmp_path / "masks" / "b_mask.png", square_mask())
    return tmp_path


def test_pairs_decoded_sorted_and_binary(dataset):
    images, masks, names = load_folder(dataset, 8)
    assert names == ["a", "b"]
    assert images.shape == (2, 8, 8, 3) and images.dtype == np.uint8
    assert images[0].max() == 10 and images[1].min() == 200
    expected = (square_mask() == 255).astype(np.uint8)
    assert np.array_equal(masks[0], expected) and np.array_equal(masks[1], expected)


def test_resizes_images_bilinear_and_masks_nearest(dataset):
    images, masks, _ = load_folder(dataset, 4)
    assert images.shape == (2, 4, 4, 3)
    assert np.array_equal(masks[0], [[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    ramp = np.tile(np.arange(0, 256, 32, dtype=np.uint8), (8, 1))  # 0, 32, ... 224
    write(dataset / "images" / "a.png", np.stack([ramp] * 3, -1))
    images, _, _ = load_folder(dataset, 4)
    # PIL's bilinear widens its triangle filter to 2 px when shrinking by 2: pixel 1 has
    # centre 3.0 and weights 1/4, 3/4, 3/4, 1/4 on columns 1-4: (8 + 48 + 72 + 32) / 2 = 80;
    # at the border the weights 3/4, 3/4, 1/4 of columns 0-2 give 40 / 1.75 = 22.9
    assert np.array_equal(images[0, 0, :, 0], [23, 80, 144, 201])


def test_grayscale_replicated_and_sixteen_bit_scaled(tmp_path):
    write(tmp_path / "images" / "g.png", np.arange(64, dtype=np.uint8).reshape(8, 8))
    deep = (np.arange(64, dtype=np.uint16) * 1000).reshape(8, 8)
    Image.fromarray(deep).save(tmp_path / "images" / "h.tif")
    write(tmp_path / "masks" / "g.png", square_mask())
    write(tmp_path / "masks" / "h.png", square_mask())
    images, _, _ = load_folder(tmp_path, 8)
    assert np.array_equal(images[0, ..., 0], images[0, ..., 2])
    assert images[0, 3, 5, 1] == 29
    assert images[1].min() == 0 and images[1].max() == 255  # min-max scaled 16 bits


@pytest.mark.parametrize("values", [(0, 1), (0, 255), (3, 7)])
def test_any_two_values_larger_is_foreground(tmp_path, values):
    low, high = values
    write(tmp_path / "images" / "a.png", rgb())
    write(tmp_path / "masks" / "a.png", square_mask(value=high, background=low))
    _, masks, _ = load_folder(tmp_path, 8)
    assert masks[0].sum() == 16 and masks[0, 0, 0] == 1


def test_empty_mask_is_background_and_single_value_follows_the_set(tmp_path):
    write(tmp_path / "images" / "a.png", rgb())
    write(tmp_path / "images" / "b.png", rgb())
    write(tmp_path / "masks" / "a.png", np.zeros((8, 8), np.uint8))
    write(tmp_path / "masks" / "b.png", np.zeros((8, 8), np.uint8))
    _, masks, _ = load_folder(tmp_path, 8)
    assert masks.sum() == 0
    write(tmp_path / "masks" / "b.png", square_mask())
    _, masks, _ = load_folder(tmp_path, 8)
    assert masks[0].sum() == 0 and masks[1].sum() == 16


def test_palette_and_rgb_masks(tmp_path):
    write(tmp_path / "images" / "a.png", rgb())
    write(tmp_path / "images" / "b.png", rgb())
    palette = Image.fromarray(square_mask(value=1)).convert("P")
    (tmp_path / "masks").mkdir()
    palette.save(tmp_path / "masks" / "a.png")
    write(tmp_path / "masks" / "b.png", np.stack([square_mask(value=1)] * 3, -1))
    _, masks, _ = load_folder(tmp_path, 8)
    assert masks[0].sum() == 16 and masks[1].sum() == 16


def test_more_than_two_values_needs_foreground_values(tmp_path):
    write(tmp_path / "images" / "a.png", rgb())
    mask = square_mask(value=2)
    mask[6:, 6:] = 1
    write(tmp_path / "masks" / "a.png", mask)
    with pytest.raises(TunerError, match=r"a\.png holds 3 values \(0, 1, 2\).*foreground_values"):
        load_folder(tmp_path, 8)
    _, masks, _ = load_folder(tmp_path, 8, foreground_values="2")
    assert masks[0].sum() == 16
    _, masks, _ = load_folder(tmp_path, 8, foreground_values="1,2")
    assert masks[0].sum() == 20
    _, masks, _ = load_folder(tmp_path, 8, foreground_values=">0")
    assert masks[0].sum() == 20
    with pytest.raises(TunerError, match="foreground_values.*'x'"):
        load_folder(tmp_path, 8, foreground_values="x")


def test_different_value_pairs_across_files_is_an_error(tmp_path):
    for stem, high in (("a", 1), ("b", 255)):
        write(tmp_path / "images" / f"{stem}.png", rgb())
        write(tmp_path / "masks" / f"{stem}.png", square_mask(value=high))
    with pytest.raises(TunerError, match=r"3 values across files \(0 in a\.png, 1 in a\.png, "
                                         r"255 in b\.png\)"):
        load_folder(tmp_path, 8)


def test_missing_folders(tmp_path):
    with pytest.raises(TunerError, match=r"nowhere does not exist"):
        load_folder(tmp_path / "nowhere", 8)
    (tmp_path / "masks").mkdir()
    with pytest.raises(TunerError, match=r"has no images/ subfolder"):
        load_folder(tmp_path, 8)
    (tmp_path / "masks").rmdir()
    (tmp_path / "images").mkdir()
    with pytest.raises(TunerError, match=r"has no masks/ subfolder"):
        load_folder(tmp_path, 8)


def test_no_images(tmp_path):
    (tmp_path / "masks").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    with pytest.raises(TunerError, match=r"images holds no images; expected files ending in"):
        load_folder(tmp_path, 8)


def test_images_without_masks_named(dataset):
    for stem in "cdefgh":
        write(dataset / "images" / f"{stem}.jpg", rgb())
    with pytest.raises(TunerError, match=r"6 image\(s\) .* have no mask .*"
                                         r"\(c\.jpg, d\.jpg, e\.jpg, f\.jpg, g\.jpg, \.\.\. "
                                         r"\(1 more\)\); expected masks named <stem>"):
        load_folder(dataset, 8)


def test_masks_without_images_named(dataset):
    write(dataset / "masks" / "zz.png", square_mask())
    with pytest.raises(TunerError, match=r"1 mask\(s\) .* have no image .*\(zz\.png\)"):
        load_folder(dataset, 8)


def test_two_files_with_one_stem(dataset):
    write(dataset / "images" / "a.bmp", rgb())
    with pytest.raises(TunerError, match=r"two files with stem 'a' \(a\.bmp, a\.png\)"):
        load_folder(dataset, 8)


def test_unreadable_file(dataset):
    (dataset / "images" / "b.PNG").write_bytes(b"this is not a png")
    with pytest.raises(TunerError, match=r"cannot read .*b\.PNG"):
        load_folder(dataset, 8)
    truncated = (dataset / "masks" / "a.png").read_bytes()[:40]
    (dataset / "masks" / "a.png").write_bytes(truncated)
    write(dataset / "images" / "b.PNG", rgb())
    with pytest.raises(TunerError, match=r"cannot read .*masks.a\.png"):
        load_folder(dataset, 8)


def test_size_mismatch_before_resizing(dataset):
    write(dataset / "masks" / "a.png", square_mask(size=6))
    with pytest.raises(TunerError, match=r"mask .*a\.png is 6x6 px but image .*a\.png is 8x8"):
        load_folder(dataset, 8)


def test_errors_are_one_line(dataset):
    write(dataset / "masks" / "zz.png", square_mask())
    with pytest.raises(TunerError) as caught:
        load_folder(dataset, 8)
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(not ISBI.is_dir(), reason=f"ISBI 2012 membrane set not at {ISBI}")
def test_isbi_membrane_set():
    images, masks, names = load_folder(ISBI, 64)
    assert images.shape == (30, 64, 64, 3) and len(names) == 30
    assert np.array_equal(images[..., 0], images[..., 1])  # grayscale replicated
    assert 0.6 < masks.mean() < 0.9  # 255 = cell interior, about 78 % of the pixels


def test_progress_bar_on_large_sets(dataset, monkeypatch):
    import tuner.data.folder as folder

    shown = []
    monkeypatch.setattr(folder, "PROGRESS_ABOVE", 1)
    monkeypatch.setattr(folder, "track", lambda seq, **kw: shown.append(kw) or seq)
    load_folder(dataset, 8)
    assert shown and shown[0]["disable"] is False and "decoding" in shown[0]["description"]
    monkeypatch.setattr(folder, "PROGRESS_ABOVE", 100)
    shown.clear()
    load_folder(dataset, 8)
    assert shown[0]["disable"] is True
