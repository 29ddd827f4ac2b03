"""A dataset on disk: ``PATH/images/*`` and ``PATH/masks/*`` paired by file stem.

A mask belongs to the image of the same stem, or is named ``<stem>_mask.*`` (a common
convention). Images are decoded with PIL, converted to RGB (grayscale is replicated to three
channels: smp encoders and ImageNet normalisation expect three) and resized bilinearly to
``size x size``; masks are binarised, then resized with nearest-neighbour interpolation so
that they stay binary. See ``docs/datasets.md`` for the mask rules.

Every problem is a one-line :class:`~tuner.errors.TunerError` naming the file or folder
and what was expected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from rich.progress import track

from tuner.errors import TunerError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
MASK_SUFFIX = "_mask"
#: decode with a progress bar above this many pairs (about 200 files)
PROGRESS_ABOVE = 100


def load_folder(path: str | Path, size: int,
                foreground_values: str = "") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Decode the pairs under ``path``, sorted by stem.

    Returns images ``uint8 (N, size, size, 3)``, masks ``uint8 (N, size, size)`` in {0, 1}
    and the stems. ``foreground_values`` is the config field of that name.
    """
    root = Path(path).expanduser()
    pairs = pair_files(root)
    foreground = parse_foreground_values(foreground_values)
    images = np.empty((len(pairs), size, size, 3), np.uint8)
    raw_masks = []
    steps = track(pairs, description=f"decoding {root}", transient=True,
                  disable=len(pairs) <= PROGRESS_ABOVE)
    for i, (image_file, mask_file) in enumerate(steps):
        image, mask = _open(image_file), _open(mask_file)
        if image.size != mask.size:
            raise TunerError(
                f"mask {mask_file} is {mask.size[0]}x{mask.size[1]} px but image "
                f"{image_file} is {image.size[0]}x{image.size[1]}; expected the same size"
            )
        images[i] = np.asarray(_to_rgb(image).resize((size, size), Image.BILINEAR))
        raw_masks.append((mask_file, _mask_values(mask, size)))
    masks = binarise(raw_masks, foreground)
    return images, masks, [image.stem for image, _ in pairs]


def pair_files(root: Path) -> list[tuple[Path, Path]]:
    """(image, mask) paths under ``root`` paired by stem, sorted; errors for what is unpaired."""
    if not root.is_dir():
        raise TunerError(f"dataset folder {root} does not exist; expected a folder with "
                         "images/ and masks/ inside")
    images = _listing(root / "images")
    masks = _listing(root / "masks")
    if not images:
        raise TunerError(f"{root / 'images'} holds no images; expected files ending in "
                         + ", ".join(EXTENSIONS))
    by_stem = {}  # image stem -> its mask; <stem>.* wins over <stem>_mask.*
    for stem in images:
        mask = masks.get(stem) or masks.get(stem + MASK_SUFFIX)
        if mask is not None:
            by_stem[stem] = mask
    orphans = sorted(stem for stem in images if stem not in by_stem)
    if orphans:
        raise TunerError(
            f"{len(orphans)} image(s) in {root / 'images'} have no mask in {root / 'masks'} "
            f"({_first_few(images[s].name for s in orphans)}); expected masks named "
            "<stem>.* or <stem>_mask.*"
        )
    used = set(by_stem.values())
    extra = sorted(m.name for m in masks.values() if m not in used)
    if extra:
        raise TunerError(
            f"{len(extra)} mask(s) in {root / 'masks'} have no image in {root / 'images'} "
            f"({_first_few(extra)}); expected an image with the same stem"
        )
    return [(images[stem], by_stem[stem]) for stem in sorted(images)]


def _listing(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` by stem (extensions case-insensitive, hidden files skipped)."""
    if not folder.is_dir():
        raise TunerError(f"dataset folder {folder.parent} has no {folder.name}/ subfolder; "
                         f"expected {folder.parent}/images/* and {folder.parent}/masks/*")
    found: dict[str, Path] = {}
    for file in sorted(folder.iterdir()):
        if file.name.startswith(".") or file.suffix.lower() not in EXTENSIONS:
            continue
        if file.stem in found:
            raise TunerError(f"{folder} holds two files with stem {file.stem!r} "
                             f"({found[file.stem].name}, {file.name}); expected one per stem")
        found[file.stem] = file
    return found


def _first_few(names, limit: int = 5) -> str:
    names = list(names)
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _open(file: Path) -> Image.Image:
    """The decoded image (pixels loaded now, so a truncated file fails here)."""
    try:
        image = Image.open(file)
        image.load()
    except (OSError, UnidentifiedImageError, ValueError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TunerError(f"cannot read {file}: {reason}; expected an image file "
                         + "/".join(e.lstrip(".") for e in EXTENSIONS)) from None
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB; images of more than 8 bits (16-bit TIFF, float) are min-max scaled first."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        values = np.asarray(image, np.float64)
        low, high = values.min(), values.max()
        scaled = (values - low) / (high - low) * 255 if high > low else values * 0
        image = Image.fromarray(np.round(scaled).astype(np.uint8))
    return image.convert("RGB")


def _mask_values(mask: Image.Image, size: int) -> np.ndarray:
    """Mask values (palette indices for palette images, else gray levels), resized nearest.

    Returns an integer array ``(size, size)``; nearest-neighbour resizing adds no values.
    """
    if mask.mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L", "I;16N"):
        mask = mask.convert("L")  # RGB(A), 1-bit, LA: gray levels
    values = np.asarray(mask)
    if values.ndim != 2:
        values = np.asarray(mask.convert("L"))
    resized = Image.fromarray(values.astype(np.int32)).resize((size, size), Image.NEAREST)
    return np.asarray(resized)


def parse_foreground_values(text: str) -> tuple[str, list[int]] | None:
    """``"255"`` / ``"1,2"`` -> ("in", values); ``">127"`` -> ("gt", [127]); ``""`` -> None."""
    text = text.strip()
    if not text:
        return None
    kind, body = ("gt", text[1:]) if text.startswith(">") else ("in", text)
    try:
        values = [int(v) for v in body.split(",")]
    except ValueError:
        raise TunerError(f"config field 'foreground_values': got {text!r}, expected "
                         "comma-separated integers such as '255' or '1,2', or '>N'") from None
    if kind == "gt" and len(values) != 1:
        raise TunerError(f"config field 'foreground_values': got {text!r}, expected one "
                         "number after '>'")
    return kind, values


def binarise(raw: list[tuple[Path, np.ndarray]],
             foreground: tuple[str, list[int]] | None) -> np.ndarray:
    """Masks uint8 (N, H, W) in {0, 1} from the raw values of each file.

    With ``foreground`` given, those values (or values above the threshold) are foreground.
    Otherwise each mask may hold at most two values and the whole set at most two; the
    larger is foreground (a set whose masks all hold one value: 0 is background, anything
    else foreground).
    """
    if foreground is not None:
        kind, values = foreground
        test = (lambda m: m > values[0]) if kind == "gt" else (lambda m: np.isin(m, values))
        return np.stack([test(m) for _, m in raw]).astype(np.uint8)
    seen: dict[int, Path] = {}  # value -> first file holding it
    for file, mask in raw:
        values = np.unique(mask)
        if len(values) > 2:
            raise TunerError(
                f"mask {file} holds {len(values)} values ({_first_few(map(str, values), 8)}); "
                "expected two (background, foreground) or config field foreground_values "
                "such as '255', '1,2' or '>127'"
            )
        for v in values:
            seen.setdefault(int(v), file)
    if len(seen) > 2:
        examples = ", ".join(f"{v} in {f.name}" for v, f in sorted(seen.items())[:4])
        raise TunerError(
            f"masks under {raw[0][0].parent} hold {len(seen)} values across files "
            f"({examples}); expected the same two values in every mask, or config field "
            "foreground_values"
        )
    top = max(seen)
    if len(seen) == 1 and top == 0:
        return np.zeros((len(raw), *raw[0][1].shape), np.uint8)
    return np.stack([m == top for _, m in raw]).astype(np.uint8)
