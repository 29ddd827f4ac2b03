"""The list-file adapter ``csv:FILE``: relative paths, merged masks and every bad line."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.test_folder import S, config, rgb, square_mask, write
from tuner.data.adapters import load as load_dataset
from tuner.errors import TunerError


def load(file, **fields):
    return load_dataset(config(f"csv:{file}", **fields))


@pytest.fixture
def listed(tmp_path):
    write(tmp_path / "data" / "scans" / "p1.png", rgb(level=30))
    write(tmp_path / "data" / "scans" / "p2.png", rgb(level=90))
    write(tmp_path / "data" / "labels" / "p1.png", square_mask())
    write(tmp_path / "data" / "labels" / "p2.png", np.zeros((S, S), np.uint8))
    return tmp_path


def test_paths_relative_to_the_file_in_file_order(listed):
    file = listed / "data" / "pairs.csv"
    file.write_text("image,mask,patient\nscans/p2.png,labels/p2.png,B\n"
                    "scans/p1.png, labels/p1.png,A\n")
    pool = load(file)
    assert pool.names == ["scans/p2.png", "scans/p1.png"]
    assert pool.images[0].max() == 90 and pool.masks[1].sum() == S * S // 4
    assert pool.masks[0].sum() == 0


def test_absolute_paths_and_merged_masks(listed):
    right = np.zeros((S, S), np.uint8)
    right[-2:] = 255
    write(listed / "data" / "labels" / "p1_right.png", right)
    scans, labels = listed / "data" / "scans", listed / "data" / "labels"
    file = listed / "list.csv"
    file.write_text(f"Image,Mask\n{scans / 'p1.png'},"
                    f"{labels / 'p1.png'};{labels / 'p1_right.png'}\n")
    pool = load(file)
    assert pool.masks[0].sum() == S * S // 4 + 2 * S


@pytest.mark.parametrize("text, message", [
    ("picture,mask\na.png,b.png\n", r"no column 'image' \(has picture, mask\)"),
    ("image,mask\n", r"lists no pairs"),
    ("image,mask\nscans/p1.png,labels/none.png\n", r"line 2: mask 'labels/none\.png' not found"),
    ("image,mask\nscans,labels/p1.png\n", r"line 2: image 'scans' is a folder, not a file "
                                         r"\(as .*scans\); expected an image file"),
    ("image,mask\nscans/p1.png,labels/p1.png\nscans/p1.png,labels/p1.png\n",
     r"line 3: image 'scans/p1\.png' is listed again \(first on line 2\)"),
    ("image,mask\nscans/p1.png,\n", r"line 2: empty mask cell"),
    ("", r"cannot be read as CSV"),
])
def test_bad_lists_name_file_and_line(listed, text, message):
    file = listed / "data" / "pairs.csv"
    file.write_text(text)
    with pytest.raises(TunerError, match=message) as caught:
        load(file)
    assert "\n" not in str(caught.value) and "pairs.csv" in str(caught.value)


def test_missing_list_file(tmp_path):
    with pytest.raises(TunerError, match=r"csv list .*none\.csv does not exist"):
        load(tmp_path / "none.csv")


def test_an_unreadable_listed_file_is_an_error(listed):
    (listed / "data" / "scans" / "p1.png").write_bytes(b"junk")
    file = listed / "data" / "pairs.csv"
    file.write_text("image,mask\nscans/p1.png,labels/p1.png\n")
    with pytest.raises(TunerError, match=r"cannot read .*p1\.png"):
        load(file)
