"""A list file of pairs: ``csv:FILE`` with ``image`` and ``mask`` columns.

Each row names an image and its mask (several masks in one cell, separated by ``;``, are
merged), as paths relative to the CSV file's folder or absolute. Other columns are
ignored. A pair is named by its ``image`` cell. A missing column, an empty list, a file
that does not exist (or is a folder, a FIFO, a broken symlink), a row given twice and an
unreadable file are one-line errors naming the CSV line; nothing is skipped. Masks follow
:func:`tuner.data.masks.value_rule`.
"""

from __future__ import annotations

from pathlib import Path

from tuner.config import TrainConfig
from tuner.data.adapters import DATASETS
from tuner.data.files import file_problem
from tuner.data.masks import FOREGROUND_VALUES, value_rule
from tuner.data.pairs import Found, Pair, decode
from tuner.data.pool import Pool
from tuner.errors import TunerError

COLUMNS = ("image", "mask")


@DATASETS.register("csv", takes_path=True, pool_fields=("resize",),
                   mask_rule=lambda options: value_rule(options["foreground_values"]),
                   options=(FOREGROUND_VALUES,))
def load_csv(path: str | Path, cfg: TrainConfig, foreground_values: str = "") -> Pool:
    """A CSV list of pairs: 'image' and 'mask' columns, paths relative to the file."""
    return decode(find_pairs(Path(path).expanduser()), cfg, value_rule(foreground_values))


def find_pairs(file: Path) -> Found:
    """The pairs of ``file``, paths resolved against its folder; every file must exist."""
    import pandas as pd

    problem = file_problem(file)
    if problem:
        problem = "does not exist" if problem == "not found" else problem
        raise TunerError(f"csv list {file} {problem}; expected a CSV file with "
                         "columns image,mask")
    try:
        table = pd.read_csv(file, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "empty"
        raise TunerError(f"csv list {file}: cannot be read as CSV ({reason}); expected "
                         "a header line image,mask and one pair per line") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise TunerError(f"csv list {file}: no column {missing[0]!r} (has "
                         f"{', '.join(table.columns)}); expected columns image,mask")
    if table.empty:
        raise TunerError(f"csv list {file} lists no pairs; expected one image,mask per line")
    pairs, lines = [], {}
    for line, image, masks in zip(range(2, len(table) + 2), table["image"], table["mask"],
                                  strict=True):
        name = image.strip()
        if name in lines:
            raise TunerError(f"csv list {file} line {line}: image {name!r} is listed again "
                             f"(first on line {lines[name]}); expected each image once")
        lines[name] = line
        mask_files = [m.strip() for m in masks.split(";") if m.strip()]
        paths = [_existing(file, line, "image", name),
                 *(_existing(file, line, "mask", m) for m in mask_files)]
        if len(paths) == 1:
            raise TunerError(f"csv list {file} line {line}: empty mask cell; expected the "
                             "mask file of the image")
        pairs.append(Pair(name, paths[0], tuple(paths[1:])))
    return Found(pairs)


def _existing(file: Path, line: int, column: str, text: str) -> Path:
    path = Path(text).expanduser()
    path = path if path.is_absolute() else file.parent / path
    problem = file_problem(path) if text else "not found"
    if problem:
        raise TunerError(f"csv list {file} line {line}: {column} {text!r} {problem} (as "
                         f"{path}); expected an image file, relative to the CSV's folder or "
                         "absolute")
    return path
