"""tuner: hyperparameter search for binary image segmentation, built on Optuna.

A study file needs only ``from tuner import StudySpec, categorical, float_range, int_range``
(and ``best_of`` to fix the winner of an earlier study).
"""

from __future__ import annotations

import os

# albumentations' update check waits on the network at import (2 s here, more offline).
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from tuner.campaign import best_of  # noqa: E402
from tuner.config import TrainConfig  # noqa: E402
from tuner.errors import TunerError  # noqa: E402
from tuner.spec import StudySpec, categorical, float_range, int_range  # noqa: E402

__all__ = ["StudySpec", "TrainConfig", "TunerError", "best_of", "categorical", "float_range",
           "int_range"]
__version__ = "0.1.0"
