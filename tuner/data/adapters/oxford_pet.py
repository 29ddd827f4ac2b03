"""The Oxford-IIIT Pet dataset in its published layout: ``oxford-pet:PATH``.

``PATH`` is where ``images.tar.gz`` and ``annotations.tar.gz`` were unpacked:
``PATH/images/<stem>.jpg`` and ``PATH/annotations/trimaps/<stem>.png``, whose values are
1 = pet, 2 = background, 3 = border (the uncertain outline). The border counts as pet by
default (option ``trimap_border``: ``foreground`` | ``background``).

The published set has a few oddities, handled as documented in ``docs/datasets.md``: a few
``.mat`` files among the images ("not an image file"), images without a trimap ("no
trimap"), files that cannot be decoded ("unreadable") and image/trimap size mismatches
are skipped and counted in the load summary, and so is what is no regular file (a FIFO,
a broken or looping symlink: never opened); a file whose content is not what its
extension says (a GIF named ``.jpg``) is decoded by its content; hidden files (``._*``,
left by macOS archivers) are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuner.config import TrainConfig
from tuner.data.adapters import DATASETS
from tuner.data.files import FILE, folder_problem, is_skipped, kind_of, regular_files
from tuner.data.image_io import EXTENSIONS
from tuner.data.masks import MaskRule, each_mask
from tuner.data.pairs import SIZE_DIFFERS, UNREADABLE, Found, Pair, decode
from tuner.data.pool import Pool
from tuner.errors import TunerError
from tuner.registry import Option

PET, BACKGROUND, BORDER = 1, 2, 3
NOT_AN_IMAGE = "not an image file"
NO_TRIMAP = "no trimap"


@DATASETS.register("oxford-pet", takes_path=True, pool_fields=("resize",),
                   mask_rule=lambda options: trimap_rule(options["trimap_border"]), options=(
    Option("trimap_border", "str", "foreground", "the trimaps' border (value 3) counts as "
           "the pet or as background", choices=("foreground", "background")),))
def load_oxford_pet(path: str | Path, cfg: TrainConfig,
                    trimap_border: str = "foreground") -> Pool:
    """The Oxford-IIIT Pet set as published (images/, annotations/trimaps/)."""
    found = find_pairs(Path(path).expanduser())
    return decode(found, cfg, trimap_rule(trimap_border), skip=(UNREADABLE, SIZE_DIFFERS))


def find_pairs(root: Path) -> Found:
    """Each image of ``root/images`` with its trimap; non-images and missing trimaps skipped."""
    problem = folder_problem(root)
    if problem:
        raise TunerError(f"oxford-pet dataset folder {root} {problem}; expected the "
                         "published layout images/*.jpg and annotations/trimaps/*.png")
    images, trimaps = root / "images", root / "annotations" / "trimaps"
    for folder in (images, trimaps):
        if not folder.is_dir():
            raise TunerError(f"oxford-pet dataset {root}: no folder {folder}; expected the "
                             "published layout images/*.jpg and annotations/trimaps/*.png "
                             "(images.tar.gz and annotations.tar.gz unpacked in one folder)")
    found = Found([])
    visible = (file for file in sorted(images.iterdir()) if not file.name.startswith("."))
    for file in regular_files(visible, found):
        if file.suffix.lower() not in EXTENSIONS:
            found.skip(NOT_AN_IMAGE, file.name)
            continue
        trimap = trimaps / f"{file.stem}.png"
        kind = kind_of(trimap)
        if kind != FILE:  # a trimap that is a FIFO or a broken link: skipped, by name
            found.skip(*((kind, trimap.name) if is_skipped(kind) else (NO_TRIMAP, file.name)))
            continue
        found.pairs.append(Pair(file.stem, file, (trimap,)))
    if not found.pairs:
        raise TunerError(f"oxford-pet dataset {root}: no image in {images} has a trimap in "
                         f"{trimaps}; expected <stem>.jpg with <stem>.png")
    return found


def trimap_rule(border: str) -> MaskRule:
    """Pet (1), and the border (3) unless ``border == "background"``, are foreground."""
    foreground = [PET, BORDER] if border == "foreground" else [PET]

    def rule(raw: list[tuple[Path, np.ndarray]]) -> np.ndarray:
        for file, values in raw:
            if values.min() < PET or values.max() > BORDER:
                bad = sorted(set(np.unique(values).tolist()) - {PET, BACKGROUND, BORDER})
                raise TunerError(f"trimap {file} holds value(s) {bad[:5]}; expected 1 (pet), "
                                 "2 (background) and 3 (border) only")
        return each_mask(raw, lambda values: np.isin(values, foreground))

    return rule
