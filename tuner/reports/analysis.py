"""Everything computed about one study for its export and its report, computed once.

:func:`analyse` reads the study's trials and builds every frame of
:mod:`tuner.reports.tables` and :mod:`tuner.reports.cost` that applies, so ``tuner export``
and ``tuner report`` show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import pandas as pd

from tuner.errors import TunerError
from tuner.reports import cost as cost_tables
from tuner.reports import tables
from tuner.results.winner import Ranking

BEST_VALUE = "lr"  # the value chosen per combination of the other parameters (best_lr.*)


@dataclass
class Analysis:
    """The frames of one study. ``metric`` (a :data:`tables.METRICS` name) fills the pivot;
    ``target`` is the validation Dice of the cost table (None: nothing completed);
    ``best_values`` is :func:`tables.best_value_frame` of :data:`BEST_VALUE` or None."""

    study: optuna.Study
    trials: pd.DataFrame
    params: list[str]
    comparison: pd.DataFrame
    curves: pd.DataFrame
    metric: str
    target: float | None
    cost: pd.DataFrame | None
    best_values: pd.DataFrame | None
    ranking: Ranking | None = None  # the winner rule's, by validation Dice


def analyse(study: optuna.Study, metric: str = "val_dice",
            target: float | None = None) -> Analysis:
    """All frames of ``study``; ``target`` defaults to :func:`cost.default_target`.

    TunerError for an unknown ``metric``, or one the study did not record (test Dice of a
    study without a test split).
    """
    chosen = tables.metric(metric)
    trials = tables.trials_frame(study)
    params = tables.searched_columns(study)
    comparison = tables.comparison_frame(trials, params)
    if f"{chosen.column}_mean" not in comparison:
        raise TunerError(f"--metric: {metric!r} is not recorded by study "
                         f"{study.study_name!r} (no {chosen.column}); try val_dice")
    target = cost_tables.default_target(comparison) if target is None else target
    cost = (None if target is None else
            cost_tables.cost_frame(study, trials, comparison, params, target))
    return Analysis(study, trials, params, comparison, tables.curves_frame(study), metric,
                    target, cost, tables.best_value_frame(comparison, params, BEST_VALUE),
                    tables.ranking(trials, params))
