"""How a study searches: Optuna samplers and pruners by name, with their options, and the
pruning rules no Optuna pruner has (:mod:`catch_up`, the floor of :mod:`pruners`).

Modules are imported by name; this package's import is free. A study's search settings
reach them as :class:`SearchSettings` (a ``StudySpec`` is one), so that this package sits
below the study files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class SearchSettings(Protocol):
    """What samplers and pruners read of a study: their names, options and the file."""

    sampler: str
    sampler_options: Mapping[str, Any]
    pruner: str
    pruner_options: Mapping[str, Any]
    source: str
