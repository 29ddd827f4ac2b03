"""Scores at each image's own size: predictions mapped back as ``tuner predict`` maps them,
counts against the mask files, HD95 and ASD, the empty-mask conventions, the summary."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage
from typer.testing import CliRunner

from tests.tiny import TINY_SETS
from tuner.cli import app
from tuner.config import TrainConfig
from tuner.data import Pool
from tuner.data.image_io import Box
from tuner.data.masks import value_rule
from tuner.inference.distances import edges, hd95_and_asd, surface_distances
from tuner.inference.evaluation import evaluate_trial
from tuner.inference.native import (
    NativeScorer,
    NativeTruth,
    _apply_rule,
    listed_pairs,
    native_truth,
    overall,
    picture_box,
)
from tuner.inference.per_image import summary_frame

runner = CliRunner()


def square(shape, top, left, side) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[top:top + side, left:left + side] = True
    return mask


def test_a_squashed_image_is_scored_at_its_own_48x32_pixels():
    # 48 px wide, 32 high, squashed to 32x32: the left half of the square is foreground
    box = picture_box((48, 32), 32, "squash")
    assert box == Box(0, 0, 32, 32)
    probabilities = np.full((1, 32, 32), 0.1, np.float32)
    probabilities[:, :, :16] = 0.9
    truth = np.zeros((32, 48), bool)
    truth[:16, :30] = True  # the top half of the first 30 columns
    scorer = NativeScorer(NativeTruth([truth], [box]), ["wide"], threshold=0.5)
    scorer.add(0, probabilities)
    row = scorer.frame().iloc[0]
    # bilinear 32 -> 48 columns: 0.9 - 0.8 (u - 15) at source column u = (x + 0.5) / 1.5
    # - 0.5 is above 0.5 for x <= 23: the prediction is columns 0-23, every row
    assert (row["width"], row["height"]) == (48, 32)
    tp, fp, fn = 24 * 16, 24 * 16, 6 * 16
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (tp, fp, fn, 48 * 32 - tp - fp - fn)
    assert row["dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert row["precision"] == 0.5 and row["recall"] == pytest.approx(24 / 30)
    assert row["true_fraction"] == pytest.approx(16 * 30 / (48 * 32))
    assert row["hd95_px"] == pytest.approx(16.0)  # the false-positive half is 16 rows deep
    assert overall(scorer.frame())["dice"] == pytest.approx(row["dice"])


def test_a_padded_image_has_its_padding_cut_off():
    box = picture_box((48, 32), 32, "pad")  # 32x21 centred: rows 5-25
    assert box == Box(5, 0, 21, 32)
    probabilities = np.zeros((1, 32, 32), np.float32)
    probabilities[:, 5:26] = 0.9  # the picture only: padding would have added rows
    truth = np.ones((32, 48), bool)
    scorer = NativeScorer(NativeTruth([truth], [box]), ["wide"], threshold=0.5)
    scorer.add(0, probabilities)
    row = scorer.frame().iloc[0]
    assert (row["tp"], row["fp"], row["fn"]) == (48 * 32, 0, 0) and row["hd95_px"] == 0


@pytest.mark.parametrize("k", [1, 3, 5])
def test_hd95_of_two_squares_offset_by_k_pixels_is_k(k):
    truth = square((40, 40), 10, 10, 16)
    predicted = square((40, 40), 10, 10 + k, 16)
    hd95, asd = hd95_and_asd(predicted, truth)
    assert hd95 == pytest.approx(k)
    # ASD by brute force: every edge pixel to the nearest edge pixel of the other mask
    a, b = np.argwhere(edges(predicted)), np.argwhere(edges(truth))
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))
    assert asd == pytest.approx(np.concatenate([d.min(1), d.min(0)]).mean())
    assert 0 < asd < k
    assert hd95_and_asd(truth, truth) == (0.0, 0.0)


def test_distances_near_the_border_and_after_cropping_are_those_of_the_whole_image():
    truth = square((30, 30), 0, 0, 10)  # touches the border: its edge runs along it
    predicted = square((30, 30), 0, 0, 12)
    to_truth, to_predicted = surface_distances(predicted, truth)
    assert to_truth.max() == pytest.approx(np.sqrt(8)) and to_predicted.max() == 2
    assert np.count_nonzero(edges(truth)) == 36  # the border rows and columns count
    # the cut to the masks' bounding box changes nothing: the same on the whole image
    whole = ndimage.distance_transform_edt(~edges(truth))[edges(predicted)]
    assert sorted(to_truth) == pytest.approx(sorted(whole))


def test_distances_are_nan_when_the_prediction_or_the_truth_is_empty():
    empty, full = np.zeros((8, 8), bool), square((8, 8), 2, 2, 3)
    for predicted, truth in ((empty, full), (full, empty), (empty, empty)):
        assert all(math.isnan(v) for v in hd95_and_asd(predicted, truth))


def test_the_same_distances_as_monai():
    monai = pytest.importorskip("monai.metrics")
    import torch

    rng = np.random.default_rng(0)
    for _ in range(20):
        truth = rng.random((24, 31)) > 0.6
        predicted = truth ^ (rng.random((24, 31)) > 0.9)
        pair = [torch.from_numpy(np.stack([~m, m])[None].astype(np.float32))
                for m in (predicted, truth)]
        hd95, asd = hd95_and_asd(predicted, truth)
        assert hd95 == pytest.approx(float(monai.compute_hausdorff_distance(
            *pair, percentile=95)[0, 0]), abs=1e-5)
        assert asd == pytest.approx(float(monai.compute_average_surface_distance(
            *pair, symmetric=True)[0, 0]), abs=1e-5)


def test_empty_masks_follow_the_documented_conventions():
    nothing, something = np.zeros((10, 10), bool), square((10, 10), 2, 2, 4)
    box = Box(0, 0, 10, 10)
    truth = NativeTruth([nothing, nothing, something], [box] * 3)
    scorer = NativeScorer(truth, ["none-none", "none-some", "some-none"], threshold=0.5)
    scorer.add(0, np.stack([nothing, something, nothing]).astype(np.float32))
    frame = scorer.frame().set_index("image")
    # nothing to find, nothing found: 1.0, as in training; no distance to measure: NaN
    assert frame.loc["none-none", ["dice", "iou", "precision", "recall"]].tolist() == [1] * 4
    assert frame.loc["none-some", ["dice", "precision", "recall"]].tolist() == [0, 0, 1]
    assert frame.loc["some-none", ["dice", "precision", "recall"]].tolist() == [0, 1, 0]
    assert frame["hd95_px"].isna().all() and frame["asd_px"].isna().all()
    summary = summary_frame(scorer.frame(), scorer.frame()).set_index(["metric", "size"])
    assert summary.loc[("hd95_px", "own"), "undefined"] == 3
    assert summary.loc[("hd95_px", "own"), "images"] == 0
    assert summary.loc[("hd95_px", "own"), "median_iqr"] == ""


def test_the_summary_is_mean_sd_and_median_iqr_with_the_undefined_counted():
    own = pd.DataFrame({"dice": [0.1, 0.2, 0.3, 0.4], "iou": [0.1] * 4,
                        "precision": [1.0] * 4, "recall": [1.0] * 4,
                        "hd95_px": [2.0, 4.0, float("nan"), 6.0], "asd_px": [1.0] * 4})
    summary = summary_frame(own, own[["dice", "iou"]]).set_index(["metric", "size"])
    dice = summary.loc[("dice", "own")]
    assert (dice["median"], dice["q1"], dice["q3"]) == pytest.approx((0.25, 0.175, 0.325))
    assert dice["median_iqr"] == "0.250 [0.175, 0.325]"
    assert dice["mean_sd"] == f"0.250 ± {np.std([0.1, 0.2, 0.3, 0.4], ddof=1):.3f}"
    hd95 = summary.loc[("hd95_px", "own")]
    assert hd95["images"] == 3 and hd95["undefined"] == 1 and hd95["mean"] == 4.0
    assert hd95["median_iqr"] == "4.00 [3.00, 5.00]"
    assert ("dice", "training") in summary.index and ("hd95_px", "training") not in summary.index
    assert summary_frame(None, own)["size"].tolist() == ["training", "training"]


def test_the_mask_rule_decides_over_masks_of_different_sizes_at_once(tmp_path):
    small, large = np.array([[0, 255]]), np.full((3, 4), 255)
    large[0, 0] = 0
    binary = _apply_rule(value_rule(""), [tmp_path / "a.png", tmp_path / "b.png"],
                         [small, large])
    assert [b.shape for b in binary] == [(1, 2), (3, 4)]
    assert binary[0].tolist() == [[False, True]] and binary[1].sum() == 11


def folder_dataset(root, count: int, size=(48, 32)) -> str:
    """``count`` images of ``size`` (width, height) whose masks are bright rectangles."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    width, height = size
    for k in range(count):
        mask = np.zeros((height, width), np.uint8)
        top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
        mask[top:top + height // 3, left:left + width // 3] = 255
        pixels = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
        pixels[mask > 0] += 150
        Image.fromarray(pixels).save(root / "images" / f"p{k:02d}.png")
        Image.fromarray(mask).save(root / "masks" / f"p{k:02d}.png")
    return f"folder:{root}"


def test_the_pairs_of_a_folder_dataset_and_none_for_synthetic(tmp_path):
    spec = folder_dataset(tmp_path / "d", 3)
    pairs, rule = listed_pairs(TrainConfig.from_dict({"dataset": spec}))
    assert sorted(pairs) == ["p00", "p01", "p02"] and callable(rule)
    assert pairs["p01"].masks == (tmp_path / "d" / "masks" / "p01.png",)
    cfg = TrainConfig.from_dict({"image_size": 16})
    assert listed_pairs(cfg) is None
    split = Pool(np.zeros((2, 16, 16, 3), np.uint8), np.ones((2, 16, 16), np.uint8),
                 ["a", "b"]).everything()
    truth = native_truth(cfg, split)
    assert "generated at the training size (16x16 px), which is their own size" in truth.note
    assert truth.masks[0].shape == (16, 16) and truth.masks[0].all()


STUDY = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="nat", sampler="grid", pruner="none",
                      space=dict(lr=categorical([3e-3])))
"""


def test_evaluate_scores_each_image_as_predict_masks_it(tmp_path, sqlite_url):
    spec = folder_dataset(tmp_path / "d", 12)
    study = tmp_path / "study.py"
    study.write_text(textwrap.dedent(STUDY))
    ran = runner.invoke(app, ["run", str(study), "--storage", sqlite_url, "--no-galleries",
                              "--save-weights", "--data", spec, *TINY_SETS])
    assert ran.exit_code == 0, ran.output
    evaluation = evaluate_trial(sqlite_url, "nat", split="all")
    own = evaluation.native.set_index("image")
    assert len(own) == 12 and (own["width"] == 48).all() and (own["height"] == 32).all()
    assert evaluation.native_note == "" and evaluation.training_size == 32
    out = tmp_path / "masks"
    predicted = runner.invoke(app, ["predict", "nat", "--storage", sqlite_url, "--images",
                                    str(tmp_path / "d" / "images"), "--out", str(out)])
    assert predicted.exit_code == 0, predicted.output
    for name, row in own.iterrows():  # the counts of predict's masks against the files
        mask = np.asarray(Image.open(out / f"{name}.png")) > 0
        truth = np.asarray(Image.open(tmp_path / "d" / "masks" / f"{name}.png")) > 0
        tp = int((mask & truth).sum())
        assert (row["tp"], row["fp"], row["fn"]) == (
            tp, int(mask.sum()) - tp, int(truth.sum()) - tp), name
    plain = evaluate_trial(sqlite_url, "nat", split="all", native=False)
    assert plain.native is None and "training size only" in plain.native_note
    assert plain.metrics == evaluation.metrics
