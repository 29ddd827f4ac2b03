"""``tuner predict``: masks for a folder of new images (no masks needed), each at its
image's own size.

Every image is decoded like the training data (:mod:`tuner.data.image_io`: EXIF
orientation, 16-bit and grayscale, the size limit), fitted to the trial's ``image_size``
with its ``resize`` mode and normalised as in training; the model's foreground
probabilities are then mapped back (:func:`tuner.inference.native.restore`, which
``tuner evaluate`` uses too): the padding of ``pad`` is cut off, and the picture resized
(bilinear) to the upright size of the file. The mask is that probability above
the threshold, written as an 8-bit PNG with 0 (background) and 255 (foreground); with
``probabilities`` the probability itself as 0-255 goes to ``probabilities/``. A file that
cannot be decoded is named in one line and skipped. Every argument, the study, the trial
and its weights are checked before ``out`` is made; each PNG is written beside its place
and moved there, so no half-written mask is ever seen.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from rich.console import Console
from rich.progress import track

from tuner.data.image_io import EXTENSIONS, Box, fit, read, to_rgb
from tuner.errors import TunerError
from tuner.inference.evaluation import TrialModel, pick_trial, trial_model
from tuner.inference.native import restore
from tuner.storage import load_existing_study, storage_url
from tuner.training import predict_probabilities

#: subfolder of ``--out`` for the probability maps (``--probabilities``)
PROBABILITIES = "probabilities"
FOREGROUND = 255  # mask value of a foreground pixel (background: 0)


@dataclass
class Prediction:
    """What a run of ``tuner predict`` did: the masks written, the files skipped (each
    with its one-line reason), the trial and the threshold it used."""

    trial: int
    chosen: str
    threshold: float
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _Decoded:
    file: Path
    square: np.ndarray  # (S, S, 3) uint8, what the model sees
    box: Box  # where the picture lies in the square
    size: tuple[int, int]  # the file's upright (width, height)


def image_files(folder: Path) -> list[Path]:
    """The image files of ``folder`` (by extension, not recursive, hidden files left
    out), sorted by name; a TunerError when there is no such folder or no image in it."""
    if not folder.is_dir():
        raise TunerError(f"--images: {str(folder)!r} is not a folder; expected a folder of "
                         "images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in EXTENSIONS)
    if not files:
        raise TunerError(f"--images: no image files in {str(folder)!r}; expected files "
                         "ending in " + ", ".join(EXTENSIONS))
    return files


def output_names(files: list[Path]) -> dict[Path, str]:
    """Each file -> the PNG name of its mask: ``<stem>.png``, or ``<stem>_<ext>.png`` for
    files whose stems collide (``a.jpg`` and ``a.png``)."""
    stems: dict[str, int] = {}
    for file in files:
        stems[file.stem] = stems.get(file.stem, 0) + 1
    return {file: (f"{file.stem}.png" if stems[file.stem] == 1
                   else f"{file.stem}_{file.suffix.lstrip('.').lower()}.png")
            for file in files}


def check_out(out: Path, images: Path) -> None:
    """``out`` is not a file and not the images' folder (nothing is made here: whether it
    can be written is :func:`tuner.reports.export.check_output`'s)."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise TunerError(f"--out: {str(out)!r} exists and is not a folder; expected a "
                         "folder for the masks")
    if out.resolve() == images.resolve():
        raise TunerError(f"--out: {str(out)!r} is the --images folder; expected another "
                         "folder (masks would overwrite images)")


def check_threshold(threshold: float | None) -> None:
    if threshold is not None and not 0 < threshold < 1:
        raise TunerError(f"--threshold: got {threshold}, expected a probability between 0 "
                         "and 1 (both excluded)")


def check_max_pixels(max_pixels: int | None) -> None:
    if max_pixels is not None and max_pixels < 1:
        raise TunerError(f"--max-image-pixels: got {max_pixels}, expected a number of "
                         "pixels >= 1")


def make_out(out: Path, probabilities: bool) -> None:
    """``out`` (and ``probabilities/`` in it), once the work starts."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if probabilities:
            (out / PROBABILITIES).mkdir(exist_ok=True)
    except OSError as exc:
        raise TunerError(f"--out: cannot write to {str(out)!r} ({exc.strerror or exc})"
                         ) from None


def save_png(pixels: np.ndarray, path: Path) -> None:
    """``pixels`` (uint8) as a PNG at ``path``: written beside it, then moved into place."""
    temp = path.with_name(f".{path.name[:max(8, len(path.name) - 9)]}.partial")  # no longer
    try:
        Image.fromarray(pixels).save(temp, format="PNG")
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise TunerError(f"--out: cannot write {str(path)!r} ({exc.strerror or exc})"
                         ) from None


def for_predict(message: str) -> str:
    """A decoding error in predict's words: the size limit is raised with
    ``--max-image-pixels`` (predict has no ``--set``)."""
    return message.replace("config field max_image_pixels", "max_image_pixels").replace(
        "--set max_image_pixels=", "tuner predict --max-image-pixels ")


def predict_images(url: str | None, study_name: str, images: Path, out: Path,
                   trial_number: int | None = None, best: bool = False,
                   threshold: float | None = None, probabilities: bool = False,
                   console: Console | None = None,
                   max_pixels: int | None = None) -> Prediction:
    """Write a mask (and with ``probabilities`` a probability map) for every image file
    of ``images`` into ``out``, with the model of ``trial_number`` (else the winning
    configuration's best trial) at ``threshold`` (default: the trial's); images above
    ``max_pixels`` (default: the trial's ``max_image_pixels``) are skipped."""
    check_threshold(threshold)
    check_max_pixels(max_pixels)
    files = image_files(images)
    check_out(out, images)
    url = storage_url(url)
    study = load_existing_study(url, study_name)
    trial, chosen = pick_trial(study, trial_number, best)
    loaded = trial_model(study, trial, url, retrain=False)
    if max_pixels is not None:
        loaded.cfg = loaded.cfg.replace("--max-image-pixels", max_image_pixels=max_pixels)
    used = loaded.cfg.threshold if threshold is None else threshold
    result = Prediction(trial.number, chosen, used)
    make_out(out, probabilities)
    names = output_names(files)

    def write(decoded: _Decoded, square_probs: np.ndarray) -> None:
        probs = restore(square_probs, decoded.box, decoded.size)
        path = out / names[decoded.file]
        save_png(np.where(probs > used, FOREGROUND, 0).astype(np.uint8), path)
        if probabilities:
            save_png(np.round(probs * 255).astype(np.uint8), out / PROBABILITIES / path.name)
        result.written.append(path)

    def skip(file: Path, reason: str) -> None:
        reason = for_predict(reason)
        result.skipped.append((file, reason))
        if console is not None:
            console.print(f"skipped: {reason}", markup=False, highlight=False)

    steps = track(files, description="predicting", transient=True, console=console,
                  disable=console is None)
    predict_files(loaded, steps, write, skip)
    return result


def predict_files(loaded: TrialModel, files, write: Callable[[_Decoded, np.ndarray], None],
                  skip: Callable[[Path, str], None]) -> None:
    """Decode ``files`` in batches of the trial's ``batch_size``, predict each batch and
    hand every image's square probabilities (S, S) to ``write``; undecodable ones to
    ``skip`` with the reason."""
    batch: list[_Decoded] = []

    def flush() -> None:
        squares = np.stack([d.square for d in batch])
        x = torch.from_numpy(squares).permute(0, 3, 1, 2).float() / 255
        probs = predict_probabilities(loaded.model, x, loaded.runtime, loaded.normalize)
        for decoded, prob in zip(batch, probs[:, 0].numpy(), strict=True):
            write(decoded, prob)
        batch.clear()

    for file in files:
        try:
            batch.append(decode(file, loaded.cfg.image_size, loaded.cfg.resize,
                                loaded.cfg.max_image_pixels))
        except TunerError as error:  # undecodable, too large, non-finite pixels
            skip(file, str(error))
            continue
        if len(batch) == loaded.cfg.batch_size:
            flush()
    if batch:
        flush()


def decode(file: Path, size: int, how: str, max_pixels: int) -> _Decoded:
    """``file`` as the model sees it: upright RGB fitted to ``size`` by ``how``."""
    image, full = read(file, max_pixels, draft=size)
    square, box = fit(to_rgb(image, file), size, how, Image.BILINEAR)
    return _Decoded(file, np.asarray(square), box, full)
