"""Pruners by name: Optuna's own, and the few combinations a study file asks for by name.

Like samplers, pruners are not stored in the database: every worker rebuilds its pruner
from the study file with :func:`build_pruner`. Each entry also says from which epoch it
can prune (``first_epoch``), so that a run whose trials are too short for it says so
(:func:`pruner_cannot_act`): a new pruner is one registration here.

With folds (k-fold cross-validation) a trial validates on one fold, and folds differ in
how hard they are, so Optuna's pruners, which compare a trial with the others, judge it
among the trials of its own fold only (:class:`SameFoldPruner`, around every pruner that
compares); the floor pruners judge each trial by itself anyway.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tuner import records
from tuner.optuna_internals import storage_of
from tuner.registry import Registry
from tuner.search import SearchSettings
from tuner.search.catch_up import CatchUpPruner

PRUNERS: Registry = Registry("pruner")
REQUIRES = {"wilcoxon": "scipy"}  # packages Optuna imports only when the pruner first acts



def waits_for(option: str, default: int, plus: str | None = None, plus_default: int = 0):
    """A ``first_epoch(options, epochs, steps)`` rule: the pruner acts from epoch
    ``options[option]`` (plus ``options[plus]``), "auto" counting as 1."""

    def first_epoch(options: dict[str, Any], epochs: int, steps: int | None) -> int:
        first = options.get(option, default)
        first = first if isinstance(first, int) and not isinstance(first, bool) else 1
        return max(first, 1) + (options.get(plus, plus_default) if plus else 0)

    return first_epoch


PRUNERS.add("median", optuna.pruners.MedianPruner, first_epoch=waits_for("n_warmup_steps", 0))
PRUNERS.add("successive_halving", optuna.pruners.SuccessiveHalvingPruner,
            first_epoch=waits_for("min_resource", 1))
PRUNERS.add("hyperband", optuna.pruners.HyperbandPruner,
            first_epoch=waits_for("min_resource", 1))
PRUNERS.add("wilcoxon", optuna.pruners.WilcoxonPruner,
            first_epoch=waits_for("n_startup_steps", 2))
PRUNERS.add("none", optuna.pruners.NopPruner)


@PRUNERS.register("percentile", options=None, first_epoch=waits_for("n_warmup_steps", 0))
def _percentile(percentile: float = 25.0, **options: Any) -> optuna.pruners.BasePruner:
    """Prune a trial below the given percentile of the other trials at the same epoch."""
    return optuna.pruners.PercentilePruner(percentile, **options)


@PRUNERS.register("patient", options=None,
                  first_epoch=waits_for("n_warmup_steps", 0, "patience", 3))
def _patient(patience: int = 3, min_delta: float = 0.0, **median_options: Any):
    """Median pruning that waits ``patience`` epochs without progress before acting."""
    return optuna.pruners.PatientPruner(optuna.pruners.MedianPruner(**median_options),
                                        patience=patience, min_delta=min_delta)


@PRUNERS.register("catch_up", options=None, first_epoch=waits_for("n_warmup_steps", 1))
def _catch_up(n_startup_trials: int = 5, n_warmup_steps: int = 1, margin: float = 0.0):
    """Stop a run that cannot catch the best finished run, even if it gained as much from
    here as the finished runs gained at most (:mod:`tuner.search.catch_up`)."""
    return CatchUpPruner(n_startup_trials, n_warmup_steps, margin)


class FloorPruner(optuna.pruners.BasePruner):
    """Prune a trial whose validation Dice is still below a floor after its warm-up: the
    best so far (``judge="best"``: ``hopeless``) or the latest (``judge="last"``:
    ``threshold``).

    The floor follows the data unless ``lower`` fixes it: the split's trivial Dice (that of
    predicting every pixel foreground, which the objective records per trial:
    :data:`tuner.records.TRIVIAL_DICE`) plus ``margin`` of the way from it to 1. A fixed
    floor decided a study's answer on thin structures: 0.2 after 8 epochs pruned 5 of 6
    loss configurations on retinal vessels (foreground 9 %, trivial Dice 0.17) that
    reached 0.6 after 60 epochs. The warm-up follows the run: ``warmup`` of its epochs
    (rounded up), and at least ``min_steps`` optimizer steps (a run on 31 images took 16
    steps to epoch 8 and was still at Dice 0, then reached 0.61: too few steps to tell
    "not yet" from "never"; the objective records each trial's steps per epoch,
    :data:`tuner.records.STEPS_PER_EPOCH`), unless ``n_warmup_steps`` fixes it in epochs.

    Written by hand because no Optuna pruner compares with a floor that depends on the
    trial's data, nor with the best value so far: Optuna's ThresholdPruner judges the
    latest value only, and a run that learned and then dipped for an epoch (0.51, then
    0.23 five epochs later) would be pruned as if it had never learned.
    """

    def __init__(self, judge: str = "best", *, lower: float | None = None,
                 margin: float = 0.1, warmup: float = 0.5, min_steps: int = 50,
                 n_warmup_steps: int | None = None) -> None:
        if judge not in ("best", "last"):
            raise ValueError(f"judge must be 'best' or 'last', got {judge!r}")
        if lower is not None and not (_is_number(lower) and lower >= 0):
            raise ValueError(f"lower must be a Dice >= 0 (or None: relative), got {lower!r}")
        if not (_is_number(margin) and 0 <= margin < 1):
            raise ValueError(f"margin must be in [0, 1), got {margin!r}")
        if not (_is_number(warmup) and 0 <= warmup <= 1):
            raise ValueError(f"warmup must be a share of the epochs in [0, 1], got {warmup!r}")
        for name, value in (("n_warmup_steps", n_warmup_steps), ("min_steps", min_steps)):
            if value is not None and not (isinstance(value, int) and not isinstance(value, bool)
                                          and value >= 0):
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        self.judge, self.lower, self.margin = judge, lower, float(margin)
        self.warmup, self.min_steps, self.n_warmup_steps = float(warmup), min_steps, \
            n_warmup_steps

    def floor(self, trivial: float | None) -> float:
        """The Dice a trial must reach: ``lower``, else trivial + margin x (1 - trivial)
        (trivial 0 where it is not recorded: a trial run outside tuner)."""
        if self.lower is not None:
            return float(self.lower)
        trivial = trivial or 0.0
        return trivial + self.margin * (1.0 - trivial)

    def first_epoch(self, epochs: int, steps_per_epoch: int | None = None) -> int:
        """The first epoch at which a run of ``epochs`` epochs (of ``steps_per_epoch``
        optimizer steps each, where known) is judged."""
        if self.n_warmup_steps is not None:
            return max(self.n_warmup_steps, 1)
        first = math.ceil(self.warmup * epochs)
        if steps_per_epoch:
            first = max(first, math.ceil(self.min_steps / steps_per_epoch))
        return max(first, 1)

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        epochs = (trial.user_attrs.get(records.CONFIG) or {}).get("epochs", step or 0)
        steps = trial.user_attrs.get(records.STEPS_PER_EPOCH)
        if step is None or step < self.first_epoch(epochs, steps):
            return False
        value = self._judged(trial.intermediate_values)
        return value is None or value < self.floor(trial.user_attrs.get(records.TRIVIAL_DICE))

    def _judged(self, values: dict[int, float]) -> float | None:
        known = {k: v for k, v in values.items() if not math.isnan(v)}
        if not known:
            return None
        return max(known.values()) if self.judge == "best" else known[max(known)]

    def reason(self, values: dict[int, float], trivial: float | None, epochs: int) -> str:
        """Why a trial with these per-epoch values was pruned, with the numbers."""
        value = self._judged(values)
        what = "best val Dice so far" if self.judge == "best" else "val Dice"
        shown = "none" if value is None else f"{value:.3f}"
        rule = (f"floor {self.floor(trivial):.3f} (lower)" if self.lower is not None else
                f"floor {self.floor(trivial):.3f} = trivial {trivial or 0.0:.3f} + "
                f"{self.margin:g} x (1 - trivial)")
        step = max(values) if values else 0
        share = f" ({step / epochs:.0%})" if epochs else ""
        return f"{what} {shown} < {rule} after {step} of {epochs} epochs{share}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def _floor_first_epoch(judge: str):
    def first_epoch(options: dict[str, Any], epochs: int, steps: int | None) -> int:
        return FloorPruner(judge, **options).first_epoch(epochs, steps)

    return first_epoch


@PRUNERS.register("hopeless", options=None, first_epoch=_floor_first_epoch("best"))
def _hopeless(**options: Any) -> FloorPruner:
    """The best validation Dice so far is still near the all-foreground baseline: the run
    never learned."""
    return FloorPruner("best", **options)


@PRUNERS.register("threshold", options=None, first_epoch=_floor_first_epoch("last"))
def _threshold(**options: Any) -> FloorPruner:
    """The latest validation Dice is below the floor."""
    return FloorPruner("last", **options)


class SameFoldPruner(optuna.pruners.BasePruner):
    """``inner`` (an Optuna pruner that compares trials) judging a trial of a study with
    folds among the trials of its fold alone: it is handed a view of the study whose
    storage lists only the trials of that fold (:class:`_FoldStorage`: medians,
    percentiles, rungs, brackets and the best trial all come from it). A trial of a study
    without folds is handed the study itself, as before."""

    def __init__(self, inner: optuna.pruners.BasePruner) -> None:
        self.inner = inner
        self._views: dict[tuple[str, int, int], optuna.Study] = {}

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        folds = (trial.user_attrs.get(records.CONFIG) or {}).get("folds", 1)
        if not isinstance(folds, int) or folds <= 1:
            return self.inner.prune(study, trial)
        return self.inner.prune(self.view(study, records.fold_of(trial)), trial)

    def view(self, study: optuna.Study, fold: int) -> optuna.Study:
        """``study`` as the trials of ``fold`` see it (made once per study and fold)."""
        storage = storage_of(study)
        key = (study.study_name, id(storage), fold)
        if key not in self._views:
            self._views[key] = optuna.study.Study(
                study_name=study.study_name, storage=_FoldStorage(storage, fold),
                sampler=study.sampler, pruner=self.inner)
        return self._views[key]


class _FoldStorage:
    """A study's storage that lists the trials of one fold only (everything else is the
    storage's own: a pruner's writes, such as successive halving's rungs, go through)."""

    def __init__(self, storage: Any, fold: int) -> None:
        self._inner, self._fold = storage, fold

    def __getattr__(self, name: str) -> Any:
        if name == "_inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self._inner, name)

    def get_all_trials(self, study_id: int, deepcopy: bool = True,
                       states: Any = None) -> list[FrozenTrial]:
        trials = self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        return [t for t in trials if records.fold_of(t) == self._fold]

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        done = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.COMPLETE,))
        if not done:
            raise ValueError("No trials are completed yet.")
        maximize = self._inner.get_study_directions(study_id)[0] == StudyDirection.MAXIMIZE
        return copy.deepcopy((max if maximize else min)(done, key=lambda t: t.value))


def prune_reason(name: str, pruner: optuna.pruners.BasePruner, values: dict[int, float],
                 trivial: float | None, epochs: int) -> str:
    """In words, why pruner ``name`` stopped a trial with per-epoch ``values``."""
    if isinstance(pruner, FloorPruner):
        return f"{name}: {pruner.reason(values, trivial, epochs)}"
    step = max(values) if values else 0
    inner = pruner.inner if isinstance(pruner, SameFoldPruner) else pruner
    if isinstance(inner, CatchUpPruner) and inner.last_verdict:
        return f"{name}: at epoch {step} of {epochs}, {inner.last_verdict}"
    last, best = values.get(step, math.nan), max(values.values(), default=math.nan)
    return (f"{name}: behind the other trials at epoch {step} of {epochs} (val Dice "
            f"{last:.3f}, best so far {best:.3f})")


def build_pruner(spec: SearchSettings) -> optuna.pruners.BasePruner:
    """The pruner the study file names, with its options; one that compares trials is
    wrapped to compare each with its own fold's (:class:`SameFoldPruner`)."""
    pruner = PRUNERS.build(spec.pruner, dict(spec.pruner_options), requires=REQUIRES)
    if isinstance(pruner, FloorPruner | optuna.pruners.NopPruner):
        return pruner  # judges each trial by itself
    return SameFoldPruner(pruner)


def pruner_cannot_act(spec: SearchSettings, epochs: int, steps_per_epoch: int | None = None
                      ) -> str | None:
    """Why the study's pruner can prune no trial of ``epochs`` epochs (of
    ``steps_per_epoch`` optimizer steps), or None.

    Trials are never pruned at their last epoch (that run is finished), so a pruner whose
    warm-up or minimum resource reaches the last epoch, as in a tiny ``--set epochs=2``
    run, cannot act; the run goes on without pruning and says so.
    """
    rule = PRUNERS.component(spec.pruner).extra.get("first_epoch")
    if rule is None:
        return None
    first = rule(dict(spec.pruner_options), epochs, steps_per_epoch)
    if first < epochs:
        return None
    return (f"pruner {spec.pruner!r} cannot act in this run: it waits until epoch "
            f"{first} (its warm-up) and a trial of {epochs} epoch(s) is never pruned at its "
            "last epoch; every trial runs to the end")
