"""Folder datasets: pairing, decoding, mask rules, folder fields and every bad input.

The small file writers here (``write``, ``square_mask``, ``rgb``, ``load``) serve the other
adapter tests in tests/data/ too.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuner.config import TrainConfig
from tuner.data.adapters import load as load_dataset
from tuner.data.pool import Pool
from tuner.errors import TunerError

REPO = Path(__file__).resolve().parents[2]
ISBI = Path(os.environ.get("TUNER_ISBI_DIR", REPO / ".." / "shared" / "data" /
                           "isbi2012_membrane"))
S = 16  # side of the test images; the smallest image_size the config allows


def write(path: Path, array: np.ndarray, **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **save)
    return path


def square_mask(size: int = S, value: int = 255, background: int = 0) -> np.ndarray:
    """A mask whose top-left quarter is ``value``."""
    mask = np.full((size, size), background, np.uint8)
    mask[: size // 2, : size // 2] = value
    return mask


def rgb(size: int = S, level: int = 100) -> np.ndarray:
    return np.full((size, size, 3), level, np.uint8)


def config(dataset: str, size: int = S, **fields) -> TrainConfig:
    return TrainConfig.from_dict({"dataset": dataset, "image_size": size, **fields})


def load(path: Path, size: int = S, **fields) -> Pool:
    """The folder dataset at ``path`` decoded at ``size`` px with config ``fields``."""
    return load_dataset(config(f"folder:{path}", size, **fields))


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Two RGB pairs (a, b) with {0, 255} masks, one using the <stem>_mask convention."""
    write(tmp_path / "images" / "a.png", rgb(level=10))
    write(tmp_path / "images" / "b.PNG", rgb(level=200))
    write(tmp_path / "masks" / "a.png", square_mask())
    write(tmp_path / "masks" / "b_mask.png", square_mask())
    return tmp_path


def test_pairs_decoded_sorted_and_binary(dataset):
    pool = load(dataset)
    assert pool.names == ["a", "b"] and pool.skipped == {}
    assert pool.images.shape == (2, S, S, 3) and pool.images.dtype == np.uint8
    assert pool.images[0].max() == 10 and pool.images[1].min() == 200
    expected = (square_mask() == 255).astype(np.uint8)
    assert np.array_equal(pool.masks[0], expected) and np.array_equal(pool.masks[1], expected)


def test_resizes_images_bilinear_and_masks_nearest(tmp_path):
    ramp = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))  # 0, 8, ... 248
    write(tmp_path / "images" / "a.png", np.stack([ramp] * 3, -1))
    write(tmp_path / "masks" / "a.png", square_mask(32))
    pool = load(tmp_path, 16)
    assert np.array_equal(pool.masks[0], (square_mask(16) == 255).astype(np.uint8))
    # PIL's bilinear widens its triangle to 2 px when shrinking by 2: pixel j (centre 2j+1)
    # weighs columns 2j-1..2j+2 by 1/4, 3/4, 3/4, 1/4 (sum 2): 8 * (4j + 1) / 2 = 16j + 4;
    # at the borders three columns: (6 + 4) / 1.75 = 5.7 and (58 + 180 + 186) / 1.75 = 242.3
    assert np.array_equal(pool.images[0, 0, :, 0], [6, *(16 * j + 4 for j in range(1, 15)),
                                                    242])


def test_pad_keeps_the_aspect_with_black_borders_and_background(tmp_path):
    write(tmp_path / "images" / "wide.png", rgb(level=90)[:8])  # 16 wide, 8 tall
    mask = np.full((8, 16), 255, np.uint8)
    write(tmp_path / "masks" / "wide.png", mask)
    pool = load(tmp_path, resize="pad")
    assert pool.images[0, :4].max() == 0 and pool.images[0, 12:].max() == 0
    assert (pool.images[0, 4:12] == 90).all()
    assert pool.masks[0, :4].sum() == 0 and pool.masks[0, 4:12].all()
    squashed = load(tmp_path, resize="squash")
    assert squashed.masks[0].all()  # the same mask stretched over the whole square


def test_grayscale_replicated_and_sixteen_bit_scaled(tmp_path):
    write(tmp_path / "images" / "g.png", np.arange(S * S, dtype=np.uint8).reshape(S, S))
    deep = (np.arange(S * S, dtype=np.uint16) * 200).reshape(S, S)
    Image.fromarray(deep).save(tmp_path / "images" / "h.tif")
    write(tmp_path / "masks" / "g.png", square_mask())
    write(tmp_path / "masks" / "h.png", square_mask())
    pool = load(tmp_path)
    assert np.array_equal(pool.images[0, ..., 0], pool.images[0, ..., 2])
    assert pool.images[0, 3, 5, 1] == 3 * S + 5
    assert pool.images[1].min() == 0 and pool.images[1].max() == 255  # min-max scaled


@pytest.mark.parametrize("values", [(0, 1), (0, 255), (3, 7)])
def test_any_two_values_larger_is_foreground(tmp_path, values):
    low, high = values
    write(tmp_path / "images" / "a.png", rgb())
    write(tmp_path / "masks" / "a.png", square_mask(value=high, background=low))
    pool = load(tmp_path)
    assert pool.masks[0].sum() == S * S // 4 and pool.masks[0, 0, 0] == 1


def test_empty_mask_is_background_and_single_value_follows_the_set(tmp_path):
    write(tmp_path / "images" / "a.png", rgb())
    write(tmp_path / "images" / "b.png", rgb())
    write(tmp_path / "masks" / "a.png", np.zeros((S, S), np.uint8))
    write(tmp_path / "masks" / "b.png", np.zeros((S, S), np.uint8))
    assert load(tmp_path).masks.sum() == 0
    write(tmp_path / "masks" / "b.png", square_mask())
    pool = load(tmp_path)
    assert pool.masks[0].sum() == 0 and pool.masks[1].sum() == S * S // 4


def test_palette_and_rgb_masks(tmp_path):
    write(tmp_path / "images" / "a.png", rgb())
    write(tmp_path / "images" / "b.png", rgb())
    palette = Image.fromarray(square_mask(value=1)).convert("P")
    (tmp_path / "masks").mkdir()
    palette.save(tmp_path / "masks" / "a.png")
    write(tmp_path / "masks" / "b.png", np.stack([square_mask(value=1)] * 3, -1))
    pool = load(tmp_path)
    assert pool.masks[0].sum() == S * S // 4 and pool.masks[1].sum() == S * S // 4


def test_more_than_two_values_needs_foreground_values(tmp_path):
    write(tmp_path / "images" / "a.png", rgb())
    mask = square_mask(value=2)
    mask[12:, 12:] = 1
    write(tmp_path / "masks" / "a.png", mask)
    with pytest.raises(TunerError, match=r"a\.png holds 3 values \(0, 1, 2\).*foreground_values"):
        load(tmp_path)
    assert load(tmp_path, foreground_values="2").masks[0].sum() == 64
    assert load(tmp_path, foreground_values="1,2").masks[0].sum() == 80
    assert load(tmp_path, foreground_values=">0").masks[0].sum() == 80
    with pytest.raises(TunerError, match="foreground_values.*'x'"):
        load(tmp_path, foreground_values="x")


@pytest.mark.parametrize("values, words", [
    ("999", r"got '999', but no mask under .*masks holds value 999 \(8-bit masks hold "
            r"0-255\); the masks hold 0, 255: expected"),
    (">255", r"got '>255', but no mask .* holds a value above 255; the masks hold 0, 255"),
    ("1,2", r"got '1,2', but no mask .* holds any of the values 1, 2; the masks hold 0, 255"),
])
def test_foreground_values_that_no_mask_holds_are_refused(values, words, dataset):
    with pytest.raises(TunerError, match=r"^config field 'foreground_values': " + words) as caught:
        load(dataset, foreground_values=values)
    assert "\n" not in str(caught.value)
    assert load(dataset, foreground_values="255,999").masks.sum() == 2 * S * S // 4


def test_different_value_pairs_across_files_is_an_error(tmp_path):
    for stem, high in (("a", 1), ("b", 255)):
        write(tmp_path / "images" / f"{stem}.png", rgb())
        write(tmp_path / "masks" / f"{stem}.png", square_mask(value=high))
    with pytest.raises(TunerError, match=r"3 values across files \(0 in a\.png, 1 in a\.png, "
                                         r"255 in b\.png\)"):
        load(tmp_path)


# -- the folder fields ------------------------------------------------------------------------


def test_other_folder_names_and_a_mask_pattern_with_extension(tmp_path):
    write(tmp_path / "img" / "x.jpg", rgb())
    write(tmp_path / "gt" / "x_seg.png", square_mask())
    write(tmp_path / "gt" / "x.png", np.zeros((S, S), np.uint8))  # not the pattern: extra
    with pytest.raises(TunerError, match=r"1 mask\(s\) in .*gt have no image .*\(x\.png\)"):
        load(tmp_path, images_dir="img", masks_dir="gt", mask_pattern="{stem}_seg.png")
    (tmp_path / "gt" / "x.png").unlink()
    pool = load(tmp_path, images_dir="img", masks_dir="gt", mask_pattern="{stem}_seg.png")
    assert pool.names == ["x"] and pool.masks[0].sum() == S * S // 4
    with pytest.raises(TunerError, match=r"x\.jpg\); expected masks named <stem>_mask\.\*"):
        load(tmp_path, images_dir="img", masks_dir="gt", mask_pattern="{stem}_mask")
    with pytest.raises(TunerError, match=r"'mask_pattern': got 'mask_\*'.*\{stem\}"):
        load(tmp_path, images_dir="img", masks_dir="gt", mask_pattern="mask_*")


def test_masks_named_stem_mask_png(tmp_path):
    write(tmp_path / "images" / "p1.png", rgb())
    write(tmp_path / "masks" / "p1_mask.png", square_mask())
    pool = load(tmp_path, mask_pattern="{stem}_mask.png")
    assert pool.names == ["p1"] and pool.masks[0].sum() == S * S // 4


def test_two_mask_folders_are_merged(tmp_path):
    """Montgomery-style: left and right lung masks in two folders, one image."""
    left, right = np.zeros((S, S), np.uint8), np.zeros((S, S), np.uint8)
    left[4:12, 2:6] = 255
    right[4:12, 10:14] = 255
    write(tmp_path / "CXR_png" / "MCUCXR_0001_0.png", rgb())
    write(tmp_path / "ManualMask" / "leftMask" / "MCUCXR_0001_0.png", left)
    write(tmp_path / "ManualMask" / "rightMask" / "MCUCXR_0001_0.png", right)
    pool = load(tmp_path, images_dir="CXR_png",
                masks_dir="ManualMask/leftMask, ManualMask/rightMask")
    assert np.array_equal(pool.masks[0], ((left | right) > 0).astype(np.uint8))
    (tmp_path / "ManualMask" / "rightMask" / "MCUCXR_0001_0.png").unlink()
    with pytest.raises(TunerError, match=r"1 image\(s\) in .*CXR_png have no mask in "
                                         r".*rightMask \(MCUCXR_0001_0\.png\)"):
        load(tmp_path, images_dir="CXR_png", masks_dir="ManualMask/leftMask,ManualMask/rightMask")


def test_images_and_masks_in_one_folder(tmp_path):
    write(tmp_path / "TCGA_1.tif", rgb())
    write(tmp_path / "TCGA_1_mask.tif", square_mask())
    write(tmp_path / "TCGA_2.tif", rgb())
    write(tmp_path / "TCGA_2_mask.tif", np.zeros((S, S), np.uint8))
    pool = load(tmp_path, images_dir=".", masks_dir=".")
    assert pool.names == ["TCGA_1", "TCGA_2"]
    assert pool.masks[0].sum() == S * S // 4 and pool.masks[1].sum() == 0


def test_non_image_files_are_skipped_and_counted(dataset):
    (dataset / "images" / "notes.txt").write_text("not an image")
    (dataset / "images" / ".DS_Store").write_bytes(b"hidden")
    pool = load(dataset)
    assert pool.names == ["a", "b"] and pool.skipped == {"not an image file": ["notes.txt"]}


# -- errors -----------------------------------------------------------------------------------


def test_missing_folders(tmp_path):
    with pytest.raises(TunerError, match=r"nowhere does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "a.png").write_bytes(b"x")
    with pytest.raises(TunerError, match=r"a\.png is a file, not a folder; expected a folder "
                                         r"with images/ and masks/ inside"):
        load(tmp_path / "a.png")
    (tmp_path / "a.png").unlink()
    (tmp_path / "masks").mkdir()
    with pytest.raises(TunerError, match=r"has no images/ subfolder"):
        load(tmp_path)
    (tmp_path / "masks").rmdir()
    (tmp_path / "images").mkdir()
    with pytest.raises(TunerError, match=r"has no masks/ subfolder"):
        load(tmp_path)


def test_no_images(tmp_path):
    (tmp_path / "masks").mkdir()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "notes.txt").write_text("not an image")
    with pytest.raises(TunerError, match=r"images holds no images; expected files ending in"):
        load(tmp_path)


def test_images_without_masks_named(dataset):
    for stem in "cdefgh":
        write(dataset / "images" / f"{stem}.jpg", rgb())
    with pytest.raises(TunerError, match=r"6 image\(s\) .* have no mask .*"
                                         r"\(c\.jpg, d\.jpg, e\.jpg, f\.jpg, g\.jpg, \.\.\. "
                                         r"\(1 more\)\); expected masks named <stem>"):
        load(dataset)


def test_masks_without_images_named(dataset):
    write(dataset / "masks" / "zz.png", square_mask())
    with pytest.raises(TunerError, match=r"1 mask\(s\) .* have no image .*\(zz\.png\)"):
        load(dataset)


def test_two_files_with_one_stem(dataset):
    write(dataset / "images" / "a.bmp", rgb())
    with pytest.raises(TunerError, match=r"two files with stem 'a' \(a\.bmp, a\.png\)"):
        load(dataset)


def test_unreadable_file_is_an_error_naming_it(dataset):
    (dataset / "images" / "b.PNG").write_bytes(b"this is not a png")
    with pytest.raises(TunerError, match=r"^cannot read .*b\.PNG: .*expected an image file"):
        load(dataset)
    truncated = (dataset / "masks" / "a.png").read_bytes()[:40]
    (dataset / "masks" / "a.png").write_bytes(truncated)
    write(dataset / "images" / "b.PNG", rgb())
    with pytest.raises(TunerError, match=r"cannot read .*masks.a\.png"):
        load(dataset)


def test_size_mismatch_before_resizing(dataset):
    write(dataset / "masks" / "a.png", square_mask(size=12))
    with pytest.raises(TunerError, match=r"mask .*a\.png is 12x12 px but image .*a\.png is "
                                         r"16x16"):
        load(dataset)


def test_errors_are_one_line(dataset):
    write(dataset / "masks" / "zz.png", square_mask())
    with pytest.raises(TunerError) as caught:
        load(dataset)
    assert "\n" not in str(caught.value)


@pytest.mark.skipif(not ISBI.is_dir(), reason=f"ISBI 2012 membrane set not at {ISBI}")
def test_isbi_membrane_set():
    pool = load(ISBI, 64)
    assert pool.images.shape == (30, 64, 64, 3) and len(pool.names) == 30
    assert np.array_equal(pool.images[..., 0], pool.images[..., 1])  # grayscale replicated
    assert 0.6 < pool.masks.mean() < 0.9  # 255 = cell interior, about 78 % of the pixels
    assert pool.skipped == {}


def test_progress_bar_on_large_sets(dataset, monkeypatch):
    import tuner.data.pairs as pairs

    shown = []
    monkeypatch.setattr(pairs, "PROGRESS_ABOVE", 1)
    monkeypatch.setattr(pairs, "track", lambda seq, **kw: shown.append(kw) or seq)
    load(dataset)
    assert shown and shown[0]["disable"] is False and "decoding" in shown[0]["description"]
    monkeypatch.setattr(pairs, "PROGRESS_ABOVE", 100)
    shown.clear()
    load(dataset)
    assert shown[0]["disable"] is True
