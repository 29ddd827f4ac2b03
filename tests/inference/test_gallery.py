"""Prediction galleries: epochs, image choice, the drawn grid, and reading them back."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from tests.reports.test_tables import build_study
from tuner.inference import gallery


@pytest.mark.parametrize(("epochs", "expected"), [
    (1, [1]), (2, [1, 2]), (4, [1, 2, 4]), (15, [1, 4, 8, 15]), (100, [1, 25, 50, 100]),
])  # fmt: skip
def test_gallery_epochs_first_quarter_half_last(epochs, expected):
    assert gallery.gallery_epochs(epochs) == expected


def test_gallery_epochs_rejects_zero():
    with pytest.raises(ValueError):
        gallery.gallery_epochs(0)


def test_gallery_choice_spreads_foreground_fractions_deterministically():
    fractions = [0.5, 0, 0.9, 0.1, 0.7, 0.3, 0.2, 0.8, 0.6, 0.4]  # of image i
    chosen = gallery.spread_indices(fractions, k=4)
    # ranks 0, 3, 6, 9 of the sorted fractions: 0, .3, .6, .9 -> images 1, 5, 8, 2
    assert chosen == [1, 5, 8, 2]
    assert gallery.spread_indices(list(fractions), k=4) == chosen
    assert gallery.spread_indices(fractions[:3], k=4) == [1, 0, 2]
    with pytest.raises(ValueError):
        gallery.spread_indices(fractions, k=0)


def _one_row(h: int = 8, w: int = 8):
    """An image whose truth is the left half and whose prediction is the top half:
    TP top-left, FP top-right, FN bottom-left, TN bottom-right."""
    images = torch.full((1, 3, h, w), 0.8)
    masks = torch.zeros(1, 1, h, w)
    masks[..., :, : w // 2] = 1
    probs = torch.full((1, 1, h, w), 0.1)
    probs[..., : h // 2, :] = 0.9
    return images, masks, probs


def test_render_gallery_size_and_panel_colours():
    images, masks, probs = _one_row(8, 8)
    images, masks, probs = (torch.cat([x, x]) for x in (images, masks, probs))  # k = 2
    picture = gallery.render_gallery(images, masks, probs, 0.5, "trial 3, epoch 2")
    scale = math.ceil(gallery.MIN_PANEL / 8)
    side = 8 * scale
    assert picture.mode == "RGB"
    assert picture.size == (3 * side + 4 * gallery.GAP,
                            gallery.HEADER + 2 * (side + gallery.GAP) + gallery.GAP)
    pixels = np.asarray(picture)
    top = gallery.HEADER + (side + gallery.GAP)  # second row
    quarter = side // 4

    def at(col: int, y: int, x: int) -> tuple:
        left = gallery.GAP + col * (side + gallery.GAP)
        return tuple(pixels[top + y, left + x])

    assert at(0, quarter, quarter) == (204, 204, 204)  # input 0.8 grey
    assert at(1, quarter, quarter) == gallery.MASK_COLOUR  # truth: left half
    assert at(1, quarter, 3 * quarter) == (0, 0, 0)
    assert at(2, quarter, quarter) == gallery.TP_COLOUR
    assert at(2, quarter, 3 * quarter) == gallery.FP_COLOUR
    assert at(2, 3 * quarter, quarter) == gallery.FN_COLOUR
    dim = int(0.8 * 255 * gallery.DIM)
    assert at(2, 3 * quarter, 3 * quarter) == pytest.approx((dim, dim, dim), abs=1)
    assert tuple(pixels[top - 1, gallery.GAP]) == gallery.BACKGROUND  # gap between rows
    header = pixels[: gallery.HEADER]
    for colour in (gallery.TP_COLOUR, gallery.FP_COLOUR, gallery.FN_COLOUR):
        assert (header == colour).all(axis=2).any(), f"legend lacks {colour}"


def test_render_gallery_accepts_grey_numpy_and_large_images():
    images, masks, probs = (x.numpy() for x in _one_row(160, 160))
    picture = gallery.render_gallery(images[:, :1], masks, probs, 0.5, "grey")
    assert picture.size == (3 * 160 + 4 * gallery.GAP, gallery.HEADER + 160 + 2 * gallery.GAP)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    assert Image.open(buffer).size == picture.size


def test_render_gallery_rejects_mismatched_shapes():
    images, masks, probs = _one_row()
    with pytest.raises(ValueError, match="masks"):
        gallery.render_gallery(images, masks[..., :4], probs, 0.5, "x")


def test_find_galleries_reads_back_uploaded_pngs(sqlite_url, study_name, tmp_path):
    study = build_study(sqlite_url, study_name, tmp_path, repeats=1)
    complete = study.trials[0]
    found = gallery.find_galleries(study, complete, sqlite_url)
    assert [epoch for epoch, _ in found] == gallery.gallery_epochs(4)
    first = Image.open(io.BytesIO(found[0][1]))
    assert first.size == (3 * 128 + 4 * gallery.GAP, gallery.HEADER + 2 * (128 + 4) + 4)
    pruned = next(t for t in study.trials if t.state.name == "PRUNED")
    assert [e for e, _ in gallery.find_galleries(study, pruned, sqlite_url)] == [1, 2]
    failed = next(t for t in study.trials if t.state.name == "FAIL")
    assert gallery.find_galleries(study, failed, sqlite_url) == []
    saved = gallery.save_galleries(found, tmp_path / "out", "best")
    assert [p.name for p in saved] == ["best_epoch001.png", "best_epoch002.png",
                                       "best_epoch004.png"]
