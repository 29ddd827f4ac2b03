"""Dataset adapters: one file each, registered in :data:`DATASETS` with its options.

An adapter is a function ``load(argument, cfg, **options) -> Pool`` registered under the
``KIND`` of ``dataset=KIND:PATH`` (``synthetic`` takes no path), with the options it
declares (``data_options.<kind>.<option>``; folder names, mask values, trimap borders...)
and the config fields that shape its pool (``pool_fields``). Every module of this package
is imported when the registry is first used, so adding a dataset adapter is one file
here (plus its test); the config's ``dataset`` field, ``tuner fields`` and the pool cache
read the kinds and options from the registry.
"""

from __future__ import annotations

import importlib
import pkgutil

from tuner.registry import Registry

DATASETS: Registry = Registry("dataset")


def load(cfg, argument: str | None = None):
    """The pool of ``cfg.dataset`` decoded by its adapter with its ``data_options``, not
    cached (``argument``: its path, default the one in ``cfg.dataset``; the pool cache is
    :func:`tuner.data.datasets.load_pool`)."""
    kind, _, given = cfg.dataset.partition(":")
    return DATASETS.build(kind, cfg.data_options.get(kind),
                          args=(given if argument is None else argument, cfg))


for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
