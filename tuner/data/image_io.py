"""Decoding one image or mask file into a square array: the only place that opens files.

Every dataset adapter reads its files here, so that each kind of input is handled once:

- regular files only: a FIFO, socket or device is never opened (:mod:`tuner.data.files`);
- size limit: PIL's decompression-bomb guard (``Image.MAX_IMAGE_PIXELS``) set to the
  config field ``max_image_pixels`` for each file, its warning and its error both turned
  into one line naming the file, its size and the field that raises the limit;
- EXIF orientation: a photo taken on its side is turned upright (masks too), and the
  image/mask size check compares the upright sizes;
- bit depth and channels: 16-bit, 32-bit and float images are min-max scaled to 8 bits
  per image (non-finite pixels are an error), grayscale is replicated to three channels,
  palette and alpha images are converted to RGB;
- large images are decoded at a reduced scale where the format allows it (JPEG's draft
  mode) and then resized once to ``image_size`` (:func:`fit`: ``squash`` or ``pad``).

An undecodable file raises :class:`UnreadableImage` (a :class:`~tuner.errors.TunerError`),
so that an adapter can skip it where its documentation says so; every other problem is a
plain one-line ``TunerError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from tuner.data.files import file_problem
from tuner.errors import TunerError

#: image file extensions that datasets list (case-insensitive)
EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
#: PIL modes of more than 8 bits per pixel, scaled to 8 bits per image
WIDE_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
#: EXIF orientations that swap width and height (rotations by 90 or 270 degrees)
_SWAPPING = (5, 6, 7, 8)
_ORIENTATION_TAG = 0x0112


class UnreadableImage(TunerError):
    """A file that PIL cannot decode (not an image, truncated, unknown format)."""

    def __init__(self, message: str, file: Path) -> None:
        super().__init__(message)
        self.file = file


@dataclass(frozen=True)
class Box:
    """Where the picture lies in a fitted square: rows ``top:top+height``, columns
    ``left:left+width`` (the whole square for ``squash``)."""

    top: int
    left: int
    height: int
    width: int


@contextmanager
def _pixel_limit(limit: int) -> Iterator[None]:
    """PIL's decompression-bomb guard at ``limit`` pixels, its warning raised as an error."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def read(file: Path, max_pixels: int, draft: int | None = None) -> tuple[Image.Image,
                                                                          tuple[int, int]]:
    """The decoded, upright image of ``file`` and its upright full size ``(width, height)``.

    ``draft`` lets formats that can (JPEG) decode at a reduced scale whose sides stay at
    least ``draft`` px; the returned size is always the file's full size. Only a regular
    file is opened (a FIFO would block for ever): anything else is :class:`UnreadableImage`.
    """
    problem = file_problem(file)
    if problem:
        problem = "does not exist" if problem == "not found" else problem
        raise UnreadableImage(f"cannot read {file}: it {problem}; expected an image file "
                              + "/".join(e.lstrip(".") for e in EXTENSIONS), file)
    try:
        with _pixel_limit(max_pixels):
            image = Image.open(file)
            orientation = image.getexif().get(_ORIENTATION_TAG, 1)
            width, height = image.size
            if draft is not None and image.format == "JPEG":
                image.draft(image.mode, (draft, draft))
            image.load()
            if orientation != 1:
                image = ImageOps.exif_transpose(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise TunerError(_too_large(file, max_pixels)) from None
    except Exception as error:  # corrupt files raise many kinds (struct.error, ...)
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise UnreadableImage(f"cannot read {file}: {reason}; expected an image file "
                              + "/".join(e.lstrip(".") for e in EXTENSIONS), file) from None
    if orientation in _SWAPPING:
        width, height = height, width
    return image, (width, height)


def _too_large(file: Path, limit: int) -> str:
    Image.MAX_IMAGE_PIXELS, old = None, Image.MAX_IMAGE_PIXELS  # header only: safe
    try:
        with Image.open(file) as image:
            width, height = image.size
    finally:
        Image.MAX_IMAGE_PIXELS = old
    return (f"image {file} is {width}x{height} px ({width * height:,} pixels), above the "
            f"limit of config field max_image_pixels={limit:,}; raise it "
            f"(--set max_image_pixels={width * height}) if the file is trusted")


def to_rgb(image: Image.Image, file: Path) -> Image.Image:
    """8-bit RGB: wide images min-max scaled per image, gray replicated, alpha dropped."""
    if image.mode in WIDE_MODES:
        values = np.asarray(image, np.float64)
        _check_finite(values, file)
        low, high = values.min(), values.max()
        scaled = (values - low) / (high - low) * 255 if high > low else values * 0
        image = Image.fromarray(np.round(scaled).astype(np.uint8))
    elif image.mode in ("P", "PA"):
        image = image.convert("RGBA")  # transparency by palette: no warning, same colours
    return image.convert("RGB")


def mask_values(image: Image.Image, file: Path) -> np.ndarray:
    """Gray levels of a mask (palette indices for palette images), 2-D integers.

    8-bit masks stay ``uint8`` and 16-bit ones ``uint16``, so a large pool's raw masks
    take little memory; RGB(A), 1-bit and LA masks are read as luminance.
    """
    if image.mode == "F":
        values = np.asarray(image, np.float64)
        _check_finite(values, file)
        return np.round(values).astype(np.int32)
    if image.mode not in ("L", "P", *WIDE_MODES):
        image = image.convert("L")
    values = np.asarray(image)
    if values.dtype.kind not in "iu":
        values = values.astype(np.int32)
    return values if values.dtype != np.int64 else values.astype(np.int32)


def _check_finite(values: np.ndarray, file: Path) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise TunerError(f"image {file} holds {int(bad.sum())} NaN or infinite pixel "
                         "value(s); expected finite numbers (fix or drop the file)")


def fit(image: Image.Image, size: int, how: str, resample: int,
        fill: int | tuple[int, ...] = 0) -> tuple[Image.Image, Box]:
    """``image`` resized to ``size x size`` px: ``squash`` stretches it, ``pad`` keeps its
    aspect and centres it on a ``fill`` canvas. Returns the square and where the picture is."""
    if how == "squash":
        return image.resize((size, size), resample), Box(0, 0, size, size)
    if how != "pad":
        raise ValueError(f"unknown resize {how!r}")
    width, height = image.size
    scale = size / max(width, height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    canvas = Image.new(image.mode, (size, size), fill)
    box = Box((size - new_h) // 2, (size - new_w) // 2, new_h, new_w)
    canvas.paste(image.resize((new_w, new_h), resample), (box.left, box.top))
    return canvas, box


def fit_mask(values: np.ndarray, size: int, how: str) -> tuple[np.ndarray, Box]:
    """Mask values resized nearest-neighbour (so no new values appear) to ``size x size``.

    Padding repeats a value the mask already holds (its top-left one): the mask rules see
    only the file's own values; :func:`clear_outside` blanks the padding after them.
    """
    fill = int(values[0, 0])
    square, box = fit(Image.fromarray(values), size, how, Image.NEAREST, fill)
    return np.asarray(square), box


def clear_outside(mask: np.ndarray, box: Box) -> None:
    """Set a binary mask (S, S) to background outside ``box``, in place."""
    if (box.height, box.width) == mask.shape:
        return
    inside = np.zeros(mask.shape, bool)
    inside[box.top:box.top + box.height, box.left:box.left + box.width] = True
    mask[~inside] = 0
