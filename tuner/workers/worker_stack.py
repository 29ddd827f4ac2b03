"""The training stack a local worker needs, imported once in the fork server with the
collector paused (:func:`tuner.startup.heavy_imports`), so that every worker forked from
it starts with torch, smp, albumentations, Optuna and tuner's worker loop loaded and their
objects frozen."""

from __future__ import annotations

from tuner.startup import heavy_imports

with heavy_imports():
    import tuner.data.augment  # noqa: F401  (albumentations)
    import tuner.workers.local_workers  # noqa: F401  (Optuna, torch, smp, the worker loop)
