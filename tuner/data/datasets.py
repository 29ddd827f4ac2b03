"""The decoded pool of a dataset spec: from the decoded-data cache, kept per process.

``cfg.dataset`` is ``synthetic`` or ``KIND:PATH``; each kind is an adapter of
:data:`tuner.data.adapters.DATASETS`, which says how to load it, its options
(``data_options``) and which config fields (besides ``image_size``) shape its pool. Those
are the one source of :func:`pool_key`, so a trial reuses a decoded pool exactly when
nothing that shapes it differs. See ``docs/datasets.md``.

Where a pool's pixels live is decided by its size and origin:

- a dataset read from files goes through the decoded-data cache on disk
  (:mod:`tuner.data.cache`): decoded once per machine, then memory-mapped by every
  process (decoding is what costs; the page cache shares the pixels);
- the generated synthetic pool is made in memory when it takes at most
  :data:`IN_MEMORY_BYTES` (the default 256 images at 64 px take 4 MB and render in a
  fraction of a second: a file would save nothing) and goes through the cache above it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuner.config import TrainConfig
from tuner.data import cache
from tuner.data.adapters import DATASETS, load
from tuner.data.pool import Pool
from tuner.errors import TunerError

_POOLS: dict[tuple, Pool] = {}
#: pools kept per process; a worker's trials share one dataset, a second covers a switch
POOLS_KEPT = 2
#: a generated pool up to this many bytes (images and masks) is made in memory
IN_MEMORY_BYTES = 256 * 2**20


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


def load_pool(cfg: TrainConfig, say: Callable[[str], None] | None = None) -> Pool:
    """The decoded pool of ``cfg.dataset`` at ``cfg.image_size``, kept per process by
    :func:`pool_key`, so every trial of a study shares one pool. ``say`` (default: a line
    on stderr) is told when this process waits for another that builds the cache entry."""
    say = say or (lambda line: print(line, file=sys.stderr, flush=True))
    key = pool_key(cfg)
    if key not in _POOLS:
        pool = _decoded(cfg, key, say)
        while len(_POOLS) >= POOLS_KEPT:
            _POOLS.pop(next(iter(_POOLS)))  # the oldest
        _POOLS[key] = pool
    return _POOLS[key]


def _decoded(cfg: TrainConfig, key: tuple, say) -> Pool:
    kind = key[0]
    adapter = DATASETS.component(kind)
    if not adapter.extra.get("takes_path"):
        bytes_needed = _generated_bytes(cfg, adapter)
        if bytes_needed <= IN_MEMORY_BYTES:
            pool = load(cfg, key[1])
            return cache.noted(pool, f"generated in memory ({bytes_needed / 2**20:,.0f} "
                                      "MB, below the cache's threshold)")
    options = adapter.resolved(cfg.data_options.get(kind), f"dataset {kind!r}")
    make_rule = adapter.extra.get("mask_rule")

    def fingerprint() -> dict[str, Any]:
        from tuner.data.fingerprint import dataset_fingerprint

        return {"content": dataset_fingerprint(cfg.dataset),
                "max_image_pixels": cfg.max_image_pixels}

    return cache.cached_pool(key, fingerprint, lambda: load(cfg, key[1]),
                             lambda: make_rule(options) if make_rule else None, say)


def _generated_bytes(cfg: TrainConfig, adapter) -> int:
    """The bytes of a generated pool (images and masks), from its declared image count."""
    options = adapter.resolved(cfg.data_options.get(adapter.name), f"dataset {adapter.name!r}")
    return int(options.get("images", 0)) * cfg.image_size ** 2 * 4


def clear_pool_cache() -> None:
    """Forget the pools kept in this process (tests, or a long-lived process whose folder
    changed); the decoded-data cache on disk stays (it is keyed by content)."""
    _POOLS.clear()
