"""The decoded pool of a dataset spec, cached per process.

``cfg.dataset`` is ``synthetic`` or ``KIND:PATH``; each kind is an adapter of
:data:`tuner.data.adapters.DATASETS`, which says how to load it, its options
(``data_options``) and which config fields (besides ``image_size``) shape its pool. Those
are the one source of :func:`pool_key`, so a trial reuses a decoded pool exactly when
nothing that shapes it differs. See ``docs/datasets.md``.
"""

from __future__ import annotations

from pathlib import Path

from tuner.config import TrainConfig
from tuner.data.adapters import DATASETS, load
from tuner.data.pool import Pool
from tuner.errors import TunerError

_POOLS: dict[tuple, Pool] = {}
#: pools kept per process; a worker's trials share one dataset, a second covers a switch
POOLS_KEPT = 2


def pool_key(cfg: TrainConfig) -> tuple:
    """The fields that decide which pool ``cfg`` trains on (a path made absolute): trials
    with equal keys share one decoded pool."""
    kind, _, argument = cfg.dataset.partition(":")
    adapter = DATASETS.component(kind)
    if adapter.extra.get("takes_path"):
        if not argument:
            raise TunerError(f"config field 'dataset': got {cfg.dataset!r}, expected "
                             f"{kind}:PATH")
        argument = str(Path(argument).expanduser().resolve())
    options = adapter.resolved(cfg.data_options.get(kind), f"dataset {kind!r}")
    return (kind, argument, cfg.image_size,
            *((name, getattr(cfg, name)) for name in adapter.extra.get("pool_fields", ())),
            *sorted(options.items()))


def load_pool(cfg: TrainConfig) -> Pool:
    """The decoded pool of ``cfg.dataset`` at ``cfg.image_size``, cached per process by
    :func:`pool_key`, so every trial of a study shares one pool."""
    key = pool_key(cfg)
    if key not in _POOLS:
        pool = load(cfg, key[1])
        while len(_POOLS) >= POOLS_KEPT:
            _POOLS.pop(next(iter(_POOLS)))  # the oldest
        _POOLS[key] = pool
    return _POOLS[key]


def clear_pool_cache() -> None:
    """Forget cached pools (tests, or a long-lived process whose folder changed)."""
    _POOLS.clear()
