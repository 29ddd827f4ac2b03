"""Folder datasets: ``PATH/<images_dir>/*`` and ``PATH/<masks_dir>/*``, paired by file stem.

The options ``images_dir`` (default ``images``), ``masks_dir`` (default ``masks``; several
folders separated by commas are merged, e.g. the left and right lung masks of
Montgomery-style sets) and ``mask_pattern`` (default ``{stem}|{stem}_mask``: a mask is
named like its image, or ``<stem>_mask``) say where the files are. Images and masks may
share one folder (``masks_dir`` equal to ``images_dir``): then a file named as another
file's mask is that file's mask, not an image. Masks follow
:func:`tuner.data.masks.value_rule`. Other files (not images) and what is no regular file
(a FIFO, a socket, a device, a broken or looping symlink: never opened) are counted as
skipped; every other problem (an unpaired image or mask, an unreadable file) is a one-line
:class:`~tuner.errors.TunerError` naming it. See ``docs/datasets.md``.
"""

from __future__ import annotations

from pathlib import Path

from tuner.config import TrainConfig
from tuner.data.adapters import DATASETS
from tuner.data.files import folder_problem, regular_files
from tuner.data.image_io import EXTENSIONS
from tuner.data.masks import FOREGROUND_VALUES, first_few, value_rule
from tuner.data.pairs import Found, Pair, decode
from tuner.data.pool import Pool
from tuner.errors import TunerError
from tuner.registry import Option

NOT_AN_IMAGE = "not an image file"


@DATASETS.register("folder", takes_path=True, pool_fields=("resize",),
                   mask_rule=lambda options: value_rule(options["foreground_values"]), options=(
    Option("images_dir", "str", "images", "the subfolder of PATH with the images"),
    Option("masks_dir", "str", "masks", "the subfolder of PATH with the masks; several "
           "separated by commas are merged (left,right lung masks)"),
    Option("mask_pattern", "str", "{stem}|{stem}_mask", "a mask's file name for an image's "
           "{stem}, any image extension; alternatives separated by '|', the first found "
           "wins"),
    FOREGROUND_VALUES))
def load_folder(path: str | Path, cfg: TrainConfig, images_dir: str = "images",
                masks_dir: str = "masks", mask_pattern: str = "{stem}|{stem}_mask",
                foreground_values: str = "") -> Pool:
    """``PATH/images/*`` and ``PATH/masks/*`` paired by file stem (png, jpg, tif, bmp)."""
    rule = value_rule(foreground_values)
    found = find_pairs(Path(path).expanduser(), images_dir, masks_dir, mask_pattern)
    return decode(found, cfg, rule)


def find_pairs(root: Path, images_dir: str = "images", masks_dir: str = "masks",
               mask_pattern: str = "{stem}|{stem}_mask") -> Found:
    """The (image, masks) pairs under ``root`` sorted by stem; errors for what is unpaired."""
    problem = folder_problem(root)
    if problem:
        raise TunerError(f"dataset folder {root} {problem}; expected a folder with "
                         f"{images_dir}/ and {masks_dir}/ inside")
    found = Found([])
    mask_dirs = [d.strip() for d in masks_dir.split(",") if d.strip()]
    if not mask_dirs:
        raise TunerError(f"config field 'masks_dir': got {masks_dir!r}, expected a "
                         "subfolder name, or several separated by commas")
    templates = mask_templates(mask_pattern)
    images = listing(root / images_dir, found)
    masks = {d: listing(root / d, found if d != images_dir else None) for d in mask_dirs}
    shared = [d for d in mask_dirs if d == images_dir]
    if shared:  # one folder for both: a file named as another's mask is a mask
        own = [t for t in templates if t != "{stem}"]
        taken = {t.replace("{stem}", s) for s in images for t in own} & set(images)
        images = {s: f for s, f in images.items() if s not in taken}
        templates = own
    if not images:
        raise TunerError(f"{root / images_dir} holds no images; expected files ending "
                         "in " + ", ".join(EXTENSIONS))
    chosen = {d: _match(images, masks[d], templates, root / images_dir, root / d)
              for d in mask_dirs}
    pairs = [Pair(s, images[s], tuple(chosen[d][s] for d in mask_dirs)) for s in sorted(images)]
    found.pairs = pairs
    return found


def mask_templates(pattern: str) -> list[str]:
    """``"{stem}|{stem}_mask.png"`` -> ``["{stem}", "{stem}_mask"]`` (file stems to look for)."""
    templates = []
    for part in pattern.split("|"):
        part = part.strip()
        if Path(part).suffix.lower() in EXTENSIONS:
            part = part[: -len(Path(part).suffix)]
        if "{stem}" not in part:
            raise TunerError(f"config field 'mask_pattern': got {pattern!r}, expected mask "
                             "names built from {stem}, such as '{stem}_mask' or "
                             "'{stem}|{stem}_mask'")
        templates.append(part)
    return templates


def _match(images: dict[str, Path], masks: dict[str, Path], templates: list[str],
           image_dir: Path, mask_dir: Path) -> dict[str, Path]:
    """Image stem -> its mask in one mask folder (the first template that exists wins)."""
    chosen = {}
    for stem in images:
        for template in templates:
            mask = masks.get(template.replace("{stem}", stem))
            if mask is not None:
                chosen[stem] = mask
                break
    orphans = sorted(images[s].name for s in images if s not in chosen)
    if orphans:
        names = " or ".join(f"{t.replace('{stem}', '<stem>')}.*" for t in templates)
        raise TunerError(f"{len(orphans)} image(s) in {image_dir} have no mask in {mask_dir} "
                         f"({first_few(orphans)}); expected masks named {names}")
    used = set(chosen.values())
    images_files = set(images.values())
    extra = sorted(m.name for m in masks.values() if m not in used and m not in images_files)
    if extra:
        raise TunerError(f"{len(extra)} mask(s) in {mask_dir} have no image in {image_dir} "
                         f"({first_few(extra)}); expected an image with the same stem "
                         "(or config field mask_pattern)")
    return chosen


def listing(folder: Path, found: Found | None) -> dict[str, Path]:
    """Image files of ``folder`` by stem (extensions case-insensitive). Hidden files and
    subfolders are ignored; other files, and what is no regular file (never opened), are
    counted in ``found`` as skipped (when given)."""
    problem = folder_problem(folder)
    if problem:
        what = "" if problem == "does not exist" else f" ({folder} {problem})"
        raise TunerError(f"dataset folder {folder.parent} has no {folder.name}/ subfolder"
                         f"{what}; expected images and masks in subfolders (config fields "
                         "images_dir, masks_dir)")
    files: dict[str, Path] = {}
    visible = (file for file in sorted(folder.iterdir()) if not file.name.startswith("."))
    for file in regular_files(visible, found):
        if file.suffix.lower() not in EXTENSIONS:
            if found is not None:
                found.skip(NOT_AN_IMAGE, file.name)
            continue
        if file.stem in files:
            raise TunerError(f"{folder} holds two files with stem {file.stem!r} "
                             f"({files[file.stem].name}, {file.name}); expected one per stem")
        files[file.stem] = file
    return files
