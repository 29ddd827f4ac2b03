"""Datasets by spec: the ``DATASETS`` registry, and the decoded pool cached per process.

``cfg.dataset`` is ``synthetic`` or ``KIND:PATH``; each kind is a :class:`Dataset`: how to
load it, and which config fields (besides ``image_size``) decide what its pool holds. That
list is the one source of :func:`pool_key`, so a trial reuses a decoded pool exactly when
nothing that shapes it differs. The kinds that take a path are
:data:`tuner.config.DATASET_KINDS` (checked by a test). See ``docs/datasets.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tuner.config import TrainConfig
from tuner.data.csv_list import load_csv
from tuner.data.folder import load_folder
from tuner.data.isic import load_isic
from tuner.data.oxford_pet import load_oxford_pet
from tuner.data.pool import Pool
from tuner.data.synthetic import make_synthetic
from tuner.errors import TunerError
from tuner.registry import Registry


@dataclass(frozen=True)
class Dataset:
    """One kind of dataset: ``load(argument, cfg) -> Pool`` and the fields of its pool."""

    load: Callable[[str, TrainConfig], Pool]
    fields: tuple[str, ...]
    takes_path: bool = True


def _synthetic(argument: str, cfg: TrainConfig) -> Pool:
    return Pool(*make_synthetic(cfg.synthetic_images, cfg.image_size), source=cfg.dataset)


#: fields that shape the pool of every dataset decoded from files
_DECODED = ("resize",)
_VALUES = (*_DECODED, "foreground_values")  # datasets whose masks follow value_rule

DATASETS: Registry[Dataset] = Registry("dataset")
DATASETS.add("synthetic", Dataset(_synthetic, ("synthetic_images",), takes_path=False))
DATASETS.add("folder", Dataset(load_folder, (*_VALUES, "images_dir", "masks_dir",
                                             "mask_pattern")))
DATASETS.add("oxford-pet", Dataset(load_oxford_pet, (*_DECODED, "trimap_border")))
DATASETS.add("isic", Dataset(load_isic, _VALUES))
DATASETS.add("csv", Dataset(load_csv, _VALUES))

_POOLS: dict[tuple, Pool] = {}
#: pools kept per process; a worker's trials share one dataset, a second covers a switch
POOLS_KEPT = 2


def pool_key(cfg: TrainConfig) -> tuple:
    """The fields that decide which pool ``cfg`` trains on (a path made absolute): trials
    with equal keys share one decoded pool."""
    kind, _, argument = cfg.dataset.partition(":")
    dataset = DATASETS.get(kind)
    if dataset.takes_path:
        if not argument:
            raise TunerError(f"config field 'dataset': got {cfg.dataset!r}, expected "
                             f"{kind}:PATH")
        argument = str(Path(argument).expanduser().resolve())
    return (kind, argument, cfg.image_size,
            *((name, getattr(cfg, name)) for name in dataset.fields))


def load_pool(cfg: TrainConfig) -> Pool:
    """The decoded pool of ``cfg.dataset`` at ``cfg.image_size``, cached per process by
    :func:`pool_key`, so every trial of a study shares one pool."""
    key = pool_key(cfg)
    if key not in _POOLS:
        loader = DATASETS.get(key[0]).load
        while len(_POOLS) >= POOLS_KEPT:
            _POOLS.pop(next(iter(_POOLS)))  # the oldest
        _POOLS[key] = loader(key[1], cfg)
    return _POOLS[key]


def clear_pool_cache() -> None:
    """Forget cached pools (tests, or a long-lived process whose folder changed)."""
    _POOLS.clear()
