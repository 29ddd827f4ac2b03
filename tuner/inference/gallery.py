"""Prediction galleries: which validation images, at which epochs, drawn how, read back how.

The objective calls :func:`gallery_epochs` and :func:`spread_indices` once per trial and
:func:`render_gallery` at the chosen epochs, then uploads the PNG as
``gallery_epoch{k:03d}.png`` (:data:`tuner.records.GALLERY_PREFIX`) to the Optuna artifact
store, where optuna-dashboard shows it. Exports and reports read it back with
:func:`find_galleries`.

A gallery is a grid with one row per image and three panels per row:
``input | ground truth | prediction``. The prediction panel shows the input dimmed to grey
where both agree on background and paints the other pixels in opaque colours:

- true positive (predicted and true foreground): green :data:`TP_COLOUR`;
- false positive (predicted, not true): red :data:`FP_COLOUR`;
- false negative (true, missed): blue :data:`FN_COLOUR`.

A strip above the grid holds the title, the column names and this legend. Drawn with
numpy and Pillow only (no matplotlib): it runs inside training, a few milliseconds a call.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from PIL import Image, ImageDraw, ImageFont

from tuner import records
from tuner.optuna_internals import storage_of
from tuner.storage import artifact_store

TP_COLOUR = (0, 200, 0)
FP_COLOUR = (230, 0, 0)
FN_COLOUR = (0, 90, 255)
MASK_COLOUR = (255, 255, 255)  # ground-truth foreground; background is black
BACKGROUND = (32, 32, 32)  # gaps and the title strip
DIM = 0.35  # brightness of the input shown under true-negative pixels

MIN_PANEL = 128  # small images are enlarged (nearest neighbour, whole factor) to this size
GAP = 4  # pixels between panels, rows and around the grid
HEADER = 44  # height of the title strip (title line + legend/column-name line)
COLUMNS = ("input", "ground truth", "prediction")

_NAME = re.compile(re.escape(records.GALLERY_PREFIX) + r"(\d+)\.png$")


def gallery_epochs(total_epochs: int) -> list[int]:
    """Epochs (1-based) that get a gallery: first, ~25 %, ~50 % and last, without repeats.

    ``15 -> [1, 4, 8, 15]``; ``2 -> [1, 2]``. Rounded up so that 25 % of 2 epochs is epoch 1.
    """
    if total_epochs < 1:
        raise ValueError(f"total_epochs must be >= 1, got {total_epochs}")
    chosen = [1, math.ceil(0.25 * total_epochs), math.ceil(0.5 * total_epochs), total_epochs]
    return sorted(set(chosen))


def spread_indices(fractions: Any, k: int = 4) -> list[int]:
    """``k`` images picked by their foreground ``fractions`` (N,): ranked by fraction (ties
    by index) and picked at evenly spaced ranks, from the sparsest to the densest, so the
    gallery shows both small and large objects. The result depends only on the masks,
    hence is the same in every trial of a study (same split). Returned in that order
    (ascending foreground fraction)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    fractions = np.asarray(fractions, dtype=np.float64)
    n = len(fractions)
    ranked = np.argsort(fractions, kind="stable")
    if n <= k:
        return [int(i) for i in ranked]
    positions = np.round(np.linspace(0, n - 1, k)).astype(int)
    return [int(ranked[p]) for p in positions]


def render_gallery(images: Any, masks: Any, probs: Any, threshold: float,
                   title: str) -> Image.Image:
    """The gallery grid as an RGB image.

    ``images``: (k, 3, H, W) or (k, 1, H, W) in [0, 1] (un-normalised inputs);
    ``masks``: (k, 1, H, W) in {0, 1}; ``probs``: (k, 1, H, W) foreground probabilities,
    predicted foreground where ``probs > threshold``. Panels are enlarged by the whole factor
    ``ceil(MIN_PANEL / H)`` (at least 1); the image is
    ``(3 * W' + 4 * GAP) x (HEADER + k * (H' + GAP) + GAP)`` pixels.
    """
    imgs, gts, prs = _numpy(images), _numpy(masks), _numpy(probs)
    if imgs.ndim != 4 or imgs.shape[1] not in (1, 3):
        raise ValueError(f"images must be (k, 3, H, W) or (k, 1, H, W), got {imgs.shape}")
    if gts.shape != (imgs.shape[0], 1, *imgs.shape[2:]) or prs.shape != gts.shape:
        raise ValueError(
            f"masks {gts.shape} and probs {prs.shape} must be (k, 1, H, W) matching images "
            f"{imgs.shape}"
        )
    k, _, h, w = imgs.shape
    scale = max(1, math.ceil(MIN_PANEL / h))
    ph, pw = h * scale, w * scale
    canvas = np.empty((HEADER + k * (ph + GAP) + GAP, 3 * pw + 4 * GAP, 3), np.uint8)
    canvas[:] = BACKGROUND
    for row in range(k):
        rgb = np.clip(imgs[row], 0, 1)
        rgb = np.repeat(rgb, 3, axis=0) if rgb.shape[0] == 1 else rgb
        rgb = (rgb.transpose(1, 2, 0) * 255).round().astype(np.uint8)
        truth = gts[row, 0] > 0.5
        pred = prs[row, 0] > threshold
        panels = (rgb, _mask_panel(truth), _overlap_panel(rgb, truth, pred))
        top = HEADER + row * (ph + GAP)
        for col, panel in enumerate(panels):
            left = GAP + col * (pw + GAP)
            big = panel.repeat(scale, axis=0).repeat(scale, axis=1)
            canvas[top:top + ph, left:left + pw] = big
    picture = Image.fromarray(canvas, "RGB")
    _draw_header(picture, title, pw)
    return picture


def find_galleries(study: optuna.Study, trial: optuna.trial.FrozenTrial,
                   storage_url: str | None) -> list[tuple[int, bytes]]:
    """The gallery PNGs of ``trial`` as ``(epoch, png bytes)``, sorted by epoch.

    Reads the artifact metadata from the study's storage and the files from the artifact
    store beside it (:func:`tuner.storage.artifact_store`). Galleries whose file is missing
    (an artifact folder not shared with this machine) are left out; a re-upload of the same
    epoch keeps the last one.
    """
    metas = optuna.artifacts.get_all_artifact_meta(trial, storage=storage_of(study))
    store = artifact_store(storage_url)
    found: dict[int, bytes] = {}
    for meta in metas:
        match = _NAME.match(meta.filename)
        if not match:
            continue
        try:
            with store.open_reader(meta.artifact_id) as reader:
                found[int(match.group(1))] = reader.read()
        except optuna.artifacts.exceptions.ArtifactNotFound:
            continue
    return sorted(found.items())


def save_galleries(galleries: list[tuple[int, bytes]], folder: Path, stem: str) -> list[Path]:
    """Write ``(epoch, png)`` pairs as ``folder/{stem}_epoch{k:03d}.png``; the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for epoch, data in galleries:
        path = folder / f"{stem}_epoch{epoch:03d}.png"
        path.write_bytes(data)
        paths.append(path)
    return paths


# -- drawing helpers ---------------------------------------------------------------------


def _numpy(x: Any) -> np.ndarray:
    """A float32 numpy copy of a tensor (any device/dtype) or array."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


def _mask_panel(truth: np.ndarray) -> np.ndarray:
    panel = np.zeros((*truth.shape, 3), np.uint8)
    panel[truth] = MASK_COLOUR
    return panel


def _overlap_panel(rgb: np.ndarray, truth: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Dimmed grey input where both say background; TP, FP, FN in their colours."""
    grey = (rgb.mean(axis=2) * DIM).astype(np.uint8)
    panel = np.repeat(grey[..., None], 3, axis=2)
    panel[truth & pred] = TP_COLOUR
    panel[~truth & pred] = FP_COLOUR
    panel[truth & ~pred] = FN_COLOUR
    return panel


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: only the fixed bitmap font
        return ImageFont.load_default()


def _draw_header(picture: Image.Image, title: str, panel_width: int) -> None:
    """Title on the first line; column names and the TP/FP/FN legend on the second."""
    draw = ImageDraw.Draw(picture)
    draw.text((GAP, 4), title, fill=(255, 255, 255), font=_font(14))
    small = _font(11)
    y = 26
    for col, name in enumerate(COLUMNS[:2]):
        draw.text((GAP + col * (panel_width + GAP), y), name, fill=(200, 200, 200), font=small)
    x = GAP + 2 * (panel_width + GAP)
    for label, colour in (("TP", TP_COLOUR), ("FP", FP_COLOUR), ("FN", FN_COLOUR)):
        draw.rectangle((x, y + 2, x + 9, y + 11), fill=colour)
        draw.text((x + 12, y), label, fill=(200, 200, 200), font=small)
        x += 36
