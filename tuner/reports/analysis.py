"""Everything computed about one study for its export and its report, computed once.

:func:`analyse` reads the study's trials and builds every frame of
:mod:`tuner.reports.tables` and :mod:`tuner.reports.cost` that applies, so ``tuner export``
and ``tuner report`` show the same numbers. What it computes is written for sharing: a
parameter's text (a searched dataset's spec) reads as
:func:`tuner.results.formatting.shared_text` writes it, with no absolute path
(:func:`shared_frame`). :func:`coverage` says how much of the study ran: the report's
conclusion says so when only part of it did.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass

import optuna
import pandas as pd

from tuner import records
from tuner.errors import TunerError
from tuner.reports import cost as cost_tables
from tuner.reports import tables
from tuner.results.formatting import missing, param, shared_text
from tuner.results.winner import Ranking, configuration_key

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
    coverage: Coverage | None = None


@dataclass(frozen=True)
class Coverage:
    """How much of a study ran: of its ``total`` configurations (those its trials hold,
    or its grid's when more), ``completed`` have a completed run, ``pruned`` only pruned
    ones; ``active`` trials are waiting or running; each configuration is to run
    ``units`` times (repeats x folds: the most any configuration holds) and ``short`` of
    the completed ones finished fewer."""

    completed: int
    total: int
    pruned: int
    active: int
    units: int
    short: int

    @property
    def not_run(self) -> int:
        """Configurations without a finished trial: waiting, running, failed, or never
        queued."""
        return self.total - self.completed - self.pruned

    @property
    def partial(self) -> bool:
        return self.not_run > 0 or self.active > 0 or self.short > 0

    def sentence(self) -> str:
        """``8 of 27 configurations have a completed run (19 not run yet or failed)...``"""
        parts = [f"{self.pruned} pruned at every run"] if self.pruned else []
        if self.not_run:
            parts.append(f"{self.not_run} not run yet or failed")
        if self.active:
            parts.append(f"{self.active} trial{'s' * (self.active > 1)} still waiting or "
                         "running")
        if self.short:
            parts.append(f"{self.short} of the completed with fewer than {self.units} "
                         "finished runs")
        more = f" ({'; '.join(parts)})" if parts else ""
        return f"{self.completed} of {self.total} configurations have a completed run{more}"


def analyse(study: optuna.Study, metric: str = "val_dice",
            target: float | None = None) -> Analysis:
    """All frames of ``study``; ``target`` defaults to :func:`cost.default_target`.

    TunerError for an unknown ``metric``, or one the study did not record (test Dice of a
    study without a test split).
    """
    chosen = tables.metric(metric)
    params = tables.searched_columns(study)
    trials = shared_frame(tables.trials_frame(study), params)
    comparison = tables.comparison_frame(trials, params)
    if f"{chosen.column}_mean" not in comparison:
        raise TunerError(f"--metric: {metric!r} is not recorded by study "
                         f"{study.study_name!r} (no {chosen.column}); try val_dice")
    target = cost_tables.default_target(comparison) if target is None else target
    cost = (None if target is None else
            cost_tables.cost_frame(study, trials, comparison, params, target))
    return Analysis(study, trials, params, comparison, tables.curves_frame(study), metric,
                    target, cost, tables.best_value_frame(comparison, params, BEST_VALUE),
                    tables.ranking(trials, params), coverage(study, trials, comparison, params))


def shared_frame(trials: pd.DataFrame, params: list[str]) -> pd.DataFrame:
    """``trials`` with the text values of its parameter columns as shared
    (:func:`~tuner.results.formatting.shared_text`: ``folder:/home/me/a`` ->
    ``folder:a``); two values that would then read alike keep a short hash apart."""
    for column in params:
        texts = {v for v in trials[column].dropna().unique() if isinstance(v, str)}
        shared = {v: shared_text(v) for v in texts}
        if all(k == v for k, v in shared.items()):
            continue
        clashes = Counter(shared.values())
        shared = {k: v if clashes[v] == 1 else
                  f"{v}-{hashlib.sha256(k.encode()).hexdigest()[:6]}" for k, v in shared.items()}
        trials = trials.assign(**{column: trials[column].map(
            lambda v, shared=shared: shared.get(v, v) if isinstance(v, str) else v)})
    return trials


def coverage(study: optuna.Study, trials: pd.DataFrame, comparison: pd.DataFrame,
             params: list[str]) -> Coverage:
    """How much of ``study`` ran (:class:`Coverage`), from its trials of every state."""
    rows = trials[trials["duplicate_of"].isna()]
    def key(row) -> str:
        return configuration_key({p: row[p] for p in params})
    keys = [key(row) for row in rows.to_dict("records")]
    units: dict[str, set] = {k: set() for k in keys}  # a failed trial may have no repeat
    finished: dict[str, set] = {k: set() for k in keys}
    for k, state, repeat in zip(keys, rows["state"], rows["repeat"], strict=True):
        if not missing(repeat):
            units[k].add(int(repeat))
            if state in tables.FINISHED:
                finished[k].add(int(repeat))
    done = {key(row) for row in comparison[comparison["n"] > 0].to_dict("records")}
    pruned = {key(row) for row in comparison[comparison["n"] == 0].to_dict("records")}
    stored = study.user_attrs.get(records.REPEATS)
    most = max([len(u) for u in units.values()] + [stored if isinstance(stored, int) else 1])
    short = sum(1 for k in done if len(finished.get(k, ())) < most)  # a unit never finished
    total = max(len(units), _grid_size(study))
    active = int(rows["state"].isin(("WAITING", "RUNNING")).sum())
    return Coverage(len(done), total, len(pruned - done), active, most, short)


def _grid_size(study: optuna.Study) -> int:
    """The points of a grid study's stored space (0: not a grid of listed values)."""
    setup = study.user_attrs.get(records.SETUP)
    if not isinstance(setup, dict) or setup.get("sampler") != "grid":
        return 0
    space = declared_space(study)
    if not space or any(d.choices is None for d in space.values()):
        return 0
    return math.prod(len(d.choices) for d in space.values())


@dataclass(frozen=True)
class Declared:
    """One searched parameter as its study file declared it: every value of a grid or
    categorical (``choices``), or a range ``low``..``high`` with its ``log`` flag and
    ``step``."""

    name: str
    choices: list | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None

    def text(self) -> str:
        """``0.1, 0.01, 0.001 (3 values)`` or ``1.0e-05 to 1.0e-01, log scale``."""
        if self.choices is not None:
            return (", ".join(param(v, self.name) for v in self.choices)
                    + f" ({len(self.choices)} value{'s' * (len(self.choices) != 1)})")
        scale = ", log scale" if self.log else ""
        step = f", step {param(self.step, self.name)}" if self.step not in (None, 1) else ""
        return f"{param(self.low, self.name)} to {param(self.high, self.name)}{scale}{step}"


#: the stored setup's key of the declared space (:func:`tuner.study.setup.study_setup`)
SPACE_KEY = "space"
FUNCTION_KEY = "function"  # a function space: its source instead of distributions


def declared_space(study: optuna.Study) -> dict[str, Declared] | None:
    """The space ``study``'s file declared, as its setup stored it at creation: one
    :class:`Declared` per parameter; {} for a function space (conditional: no fixed list of
    parameters); None without a stored setup (a study made by another tool)."""
    setup = study.user_attrs.get(records.SETUP)
    space = setup.get(SPACE_KEY) if isinstance(setup, dict) else None
    if not isinstance(space, dict):
        return None
    if FUNCTION_KEY in space:
        return {}
    found = {}
    for name, stored in space.items():
        try:
            dist = optuna.distributions.json_to_distribution(json.dumps(stored))
        except (ValueError, KeyError, TypeError):  # a setup written by another version
            return None
        found[name] = _declared(name, dist)
    return found


def _declared(name: str, dist: optuna.distributions.BaseDistribution) -> Declared:
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return Declared(name, list(dist.choices))
    return Declared(name, low=dist.low, high=dist.high, log=bool(getattr(dist, "log", False)),
                    step=getattr(dist, "step", None))


def ran_values(study: optuna.Study, name: str) -> list:
    """The distinct values of parameter ``name`` in the trials that finished (completed
    or pruned), in order of first appearance."""
    done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                    optuna.trial.TrialState.PRUNED))
    values = (records.trial_params(t).get(name) for t in done)
    return list(dict.fromkeys(v for v in values if v is not None))
