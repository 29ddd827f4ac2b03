"""The ISIC adapter: 2016-2018 file naming, in one folder or in two, and what it skips."""

from __future__ import annotations

import numpy as np
import pytest

from tests.data.test_folder import S, config, rgb, square_mask, write
from tuner.data.adapters import load as load_dataset
from tuner.errors import TunerError


def load(path, **fields):
    return load_dataset(config(f"isic:{path}", **fields))


def test_one_folder_2016_naming(tmp_path):
    for i, level in ((0, 50), (1, 150)):
        write(tmp_path / f"ISIC_000000{i}.jpg", rgb(level=level), quality=95)
        write(tmp_path / f"ISIC_000000{i}_Segmentation.png", square_mask())
    pool = load(tmp_path)
    assert pool.names == ["ISIC_0000000", "ISIC_0000001"] and pool.skipped == {}
    assert abs(int(pool.images[1].mean()) - 150) <= 2
    assert (pool.masks.sum(axis=(1, 2)) == S * S // 4).all()


def test_two_folders_2018_naming_with_other_files_skipped(tmp_path):
    inputs = tmp_path / "ISIC2018_Task1-2_Training_Input"
    truth = tmp_path / "ISIC2018_Task1_Training_GroundTruth"
    for i in (12, 34):
        write(inputs / f"ISIC_00000{i}.jpg", rgb())
        write(truth / f"ISIC_00000{i}_segmentation.png", square_mask())
    write(inputs / "ISIC_0000012_superpixels.png", np.zeros((S, S), np.uint8))
    (inputs / "ATTRIBUTION.txt").write_text("CC-BY-NC")
    (truth / "LICENSE.txt").write_text("CC-BY-NC")
    (tmp_path / "__MACOSX").mkdir()
    (tmp_path / "__MACOSX" / "._ISIC_0000012.jpg").write_bytes(b"resource fork")
    pool = load(tmp_path)
    assert pool.names == ["ISIC_0000012", "ISIC_0000034"]
    assert pool.skipped == {"not an ISIC image or mask": ["ATTRIBUTION.txt",
                                                          "ISIC_0000012_superpixels.png",
                                                          "LICENSE.txt"]}


def test_unpaired_and_duplicated_ids_are_errors(tmp_path):
    write(tmp_path / "a" / "ISIC_0000001.jpg", rgb())
    write(tmp_path / "a" / "ISIC_0000002.jpg", rgb())
    write(tmp_path / "b" / "ISIC_0000001_segmentation.png", square_mask())
    with pytest.raises(TunerError, match=r"1 image\(s\) have no ISIC_<id>_segmentation\.png "
                                         r"mask \(ISIC_0000002\.jpg\)"):
        load(tmp_path)
    write(tmp_path / "b" / "ISIC_0000002_segmentation.png", square_mask())
    write(tmp_path / "b" / "ISIC_0000003_segmentation.png", square_mask())
    with pytest.raises(TunerError, match=r"1 mask\(s\) have no image "
                                         r"\(ISIC_0000003_segmentation\.png\)"):
        load(tmp_path)
    (tmp_path / "b" / "ISIC_0000003_segmentation.png").unlink()
    write(tmp_path / "c" / "ISIC_0000001.png", rgb())
    with pytest.raises(TunerError, match=r"ISIC_0000001 is there twice"):
        load(tmp_path)


def test_missing_or_empty_folder(tmp_path):
    with pytest.raises(TunerError, match=r"isic dataset folder .*nowhere does not exist"):
        load(tmp_path / "nowhere")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(TunerError, match=r"no ISIC_<id>\.jpg image found"):
        load(tmp_path)
