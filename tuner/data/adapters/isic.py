"""ISIC skin-lesion segmentation sets (challenges 2016-2018) as published: ``isic:PATH``.

Images are named ``ISIC_<digits>.jpg`` and their masks ``ISIC_<digits>_Segmentation.png``
(2016) or ``ISIC_<digits>_segmentation.png`` (2017, 2018), 0 = skin, 255 = lesion. ``PATH``
is searched recursively, so images and masks may lie in one folder or in two (the
challenges ship ``..._Training_Data`` / ``..._Training_Input`` and
``..._Training_GroundTruth`` side by side: point at their parent). Files that are neither
(the 2017 superpixel maps, metadata CSVs, licence texts) and what is no regular file (a
FIFO, a broken or looping symlink: never opened) are counted as skipped; an image
without a mask, a mask without an image and an ID found twice are one-line errors naming
them. Masks follow :func:`tuner.data.masks.value_rule`.
"""

from __future__ import annotations

import re
from pathlib import Path

from tuner.config import TrainConfig
from tuner.data.adapters import DATASETS
from tuner.data.files import folder_problem, regular_files
from tuner.data.masks import FOREGROUND_VALUES, first_few, value_rule
from tuner.data.pairs import Found, Pair, decode
from tuner.data.pool import Pool
from tuner.errors import TunerError

IMAGE = re.compile(r"(ISIC_\d+)\.(jpe?g|png)", re.IGNORECASE)
MASK = re.compile(r"(ISIC_\d+)_segmentation\.png", re.IGNORECASE)
OTHER = "not an ISIC image or mask"


@DATASETS.register("isic", takes_path=True, pool_fields=("resize",),
                   mask_rule=lambda options: value_rule(options["foreground_values"]),
                   options=(FOREGROUND_VALUES,))
def load_isic(path: str | Path, cfg: TrainConfig, foreground_values: str = "") -> Pool:
    """ISIC 2016-2018 skin lesions as published (ISIC_<id>.jpg, ..._segmentation.png)."""
    return decode(find_pairs(Path(path).expanduser()), cfg, value_rule(foreground_values))


def find_pairs(root: Path) -> Found:
    """Every ISIC image under ``root`` with its segmentation mask, paired by ISIC ID."""
    problem = folder_problem(root)
    if problem:
        raise TunerError(f"isic dataset folder {root} {problem}; expected a folder "
                         "holding ISIC_<id>.jpg images and ISIC_<id>_segmentation.png masks")
    found = Found([])
    images: dict[str, Path] = {}
    masks: dict[str, Path] = {}
    visible = (file for file in sorted(root.rglob("*"))
               if not any(part.startswith(".") for part in file.relative_to(root).parts))
    for file in regular_files(visible, found):
        image, mask = IMAGE.fullmatch(file.name), MASK.fullmatch(file.name)
        if not (image or mask):
            found.skip(OTHER, file.name)
            continue
        key, into = (image.group(1), images) if image else (mask.group(1), masks)
        if key in into:
            raise TunerError(f"isic dataset {root}: {key} is there twice ({into[key]} and "
                             f"{file}); expected each ISIC ID once")
        into[key] = file
    if not images:
        raise TunerError(f"isic dataset {root}: no ISIC_<id>.jpg image found; expected "
                         "the images and ISIC_<id>_segmentation.png masks under it")
    orphans = sorted(images[k].name for k in images if k not in masks)
    if orphans:
        raise TunerError(f"isic dataset {root}: {len(orphans)} image(s) have no "
                         f"ISIC_<id>_segmentation.png mask ({first_few(orphans)}); expected "
                         "the ground-truth folder under the same parent")
    extra = sorted(masks[k].name for k in masks if k not in images)
    if extra:
        raise TunerError(f"isic dataset {root}: {len(extra)} mask(s) have no image "
                         f"({first_few(extra)}); expected ISIC_<id>.jpg beside them")
    found.pairs = [Pair(key, images[key], (masks[key],)) for key in sorted(images)]
    return found
