"""tuner: hyperparameter search for binary image segmentation, built on Optuna.

A study file needs only ``from tuner import StudySpec, categorical, float_range, int_range``
(``best_of`` to fix the winner of an earlier study, ``setting`` to read a ``--set`` value of
the run); a campaign file ``Campaign`` and ``Stage``. Python code runs studies and
campaigns, exports and evaluations through :mod:`tuner.api`, as the command line does.

The package in layers, over a shared vocabulary (``config``, ``records``, ``storage``,
``errors``, ``registry``, ``optuna_internals``) and the data (``data/``): ``training/``
trains one model and knows nothing of Optuna; ``results/`` reads stored studies as
evidence (the one winner rule); ``inference/`` runs stored trials' models again;
``study/`` turns study files into Optuna studies and runs their trials; ``reports/`` turns
stored studies into tables, plots and pages; ``api`` is the typed Python surface and
``cli/`` the ``tuner`` command over it. The names below are imported on first use, so that
``import tuner.training`` does not pull in Optuna.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

# albumentations' update check waits on the network at import (2 s here, more offline).
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

#: public name -> the module that defines it
_PUBLIC = {
    "StudySpec": "tuner.study.spec",
    "categorical": "tuner.study.spec",
    "float_range": "tuner.study.spec",
    "int_range": "tuner.study.spec",
    "best_of": "tuner.study.campaign",
    "setting": "tuner.study.run_context",
    "Campaign": "tuner.study.campaign",
    "Stage": "tuner.study.campaign",
    "TrainConfig": "tuner.config",
    "TunerError": "tuner.errors",
}

if TYPE_CHECKING:  # pragma: no cover - for type checkers and editors
    from tuner.config import TrainConfig
    from tuner.errors import TunerError
    from tuner.study.campaign import Campaign, Stage, best_of
    from tuner.study.run_context import setting
    from tuner.study.spec import StudySpec, categorical, float_range, int_range

__all__ = ["Campaign", "Stage", "StudySpec", "TrainConfig", "TunerError", "best_of",
           "categorical", "float_range", "int_range", "setting"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'tuner' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value
