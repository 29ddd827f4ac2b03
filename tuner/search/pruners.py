"""Pruners by name: Optuna's own, and the few combinations a study file asks for by name.

Like samplers, pruners are not stored in the database: every worker rebuilds its pruner
from the study file with :func:`build_pruner`. Each registration declares the options a
study file may give it (``pruner_options``: kind, range, default, help; ``tuner fields``
lists them, and the pre-run checks build the pruner with them, so a mistake is one line
before anything is stored), the package it needs (``requires``), from which epoch it can
prune (``first_epoch``, so that a run whose trials are too short for it says so:
:func:`pruner_cannot_act`), the reason a pruned trial stores (``reason``, default: behind
the other trials) and whether it judges each trial by itself (``judges_alone``): a new
pruner is one registration here.

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
from tuner.registry import Option, Registry
from tuner.search import SearchSettings
from tuner.search.catch_up import CatchUpPruner
from tuner.search.floor import FloorPruner

PRUNERS: Registry = Registry("pruner")


def waits_for(option: str, plus: str | None = None):
    """A ``first_epoch(options, epochs, steps)`` rule: the pruner acts from epoch
    ``options[option]`` (plus ``options[plus]``), "auto" counting as 1."""

    def first_epoch(options: dict[str, Any], epochs: int, steps: int | None) -> int:
        first = options[option]
        first = first if isinstance(first, int) and not isinstance(first, bool) else 1
        return max(first, 1) + (options[plus] if plus else 0)

    return first_epoch


def behind_the_others(pruner: optuna.pruners.BasePruner, values: dict[int, float],
                      trivial: float | None, epochs: int) -> str:
    """The reason of a pruner that compares a trial with the others at the same epoch."""
    step = max(values) if values else 0
    last, best = values.get(step, math.nan), max(values.values(), default=math.nan)
    return (f"behind the other trials at epoch {step} of {epochs} (val Dice {last:.3f}, "
            f"best so far {best:.3f})")


def _int(name: str, default: Any, help: str, low: int = 0, **more: Any) -> Option:
    """An integer option, >= 0 unless ``low`` says otherwise."""
    return Option(name, "int", default, help, low=low, **more)


def median_options() -> tuple[Option, ...]:
    """The options of Optuna's median rule (median, percentile, patient)."""
    return (_int("n_startup_trials", 5, "trials that finish before any is pruned"),
            _int("n_warmup_steps", 0, "epochs a trial runs before it can be pruned"),
            _int("interval_steps", 1, "epochs between two judgements", low=1),
            _int("n_min_trials", 1, "trials that reached an epoch before it is judged",
                 low=1))


PRUNERS.add("median", optuna.pruners.MedianPruner, options=median_options(),
            help="Optuna's median rule: prune a trial below the median of the others at "
                 "the same epoch", first_epoch=waits_for("n_warmup_steps"))
PRUNERS.add("successive_halving", optuna.pruners.SuccessiveHalvingPruner, options=(
    _int("min_resource", "auto", "epochs of the first rung ('auto': from the first "
         "finished trial)", low=1, words=("auto",)),
    _int("reduction_factor", 4, "1 / the share of trials promoted at each rung", low=2),
    _int("min_early_stopping_rate", 0, "rungs skipped at the start"),
    _int("bootstrap_count", 0, "trials that must reach a rung before any is promoted "
         "(needs a min_resource)")),
    help="Optuna's asynchronous successive halving", first_epoch=waits_for("min_resource"))
PRUNERS.add("hyperband", optuna.pruners.HyperbandPruner, options=(
    _int("min_resource", 1, "epochs of the first rung of the most aggressive bracket",
         low=1),
    _int("max_resource", "auto", "epochs of a full run ('auto': the first finished "
         "trial's)", low=1, words=("auto",)),
    _int("reduction_factor", 3, "1 / the share of trials promoted at each rung", low=2),
    _int("bootstrap_count", 0, "trials that must reach a rung before any is promoted "
         "(needs a max_resource)")),
    help="Optuna's Hyperband: successive halving in brackets of several aggressiveness",
    first_epoch=waits_for("min_resource"))
PRUNERS.add("wilcoxon", optuna.pruners.WilcoxonPruner, requires="scipy", options=(
    Option("p_threshold", "float", 0.1, "p-value below which a trial worse than the best "
           "at the same epochs is pruned", low=0, high=1),
    _int("n_startup_steps", 2, "epochs a trial runs before it can be pruned")),
    help="Optuna's Wilcoxon signed-rank test against the best trial's curve",
    first_epoch=waits_for("n_startup_steps"))
PRUNERS.add("none", optuna.pruners.NopPruner, help="no pruning: every trial runs to the end",
            judges_alone=True)


@PRUNERS.register("percentile", first_epoch=waits_for("n_warmup_steps"), options=(
    Option("percentile", "float", 25.0, "the percentile of the other trials at the same "
           "epoch below which a trial is pruned", low=0, high=100), *median_options()))
def _percentile(percentile: float, **options: Any) -> optuna.pruners.BasePruner:
    """Prune a trial below the given percentile of the other trials at the same epoch."""
    return optuna.pruners.PercentilePruner(percentile, **options)


@PRUNERS.register("patient", first_epoch=waits_for("n_warmup_steps", "patience"), options=(
    _int("patience", 3, "epochs without progress before the median rule acts"),
    Option("min_delta", "float", 0.0, "the least gain that counts as progress", low=0),
    *median_options()))
def _patient(patience: int, min_delta: float, **median_options: Any):
    """Median pruning that waits ``patience`` epochs without progress before acting."""
    return optuna.pruners.PatientPruner(optuna.pruners.MedianPruner(**median_options),
                                        patience=patience, min_delta=min_delta)


def _caught_up(pruner: optuna.pruners.BasePruner, values: dict[int, float],
               trivial: float | None, epochs: int) -> str:
    step = max(values) if values else 0
    if isinstance(pruner, CatchUpPruner) and pruner.last_verdict:
        return f"at epoch {step} of {epochs}, {pruner.last_verdict}"
    return behind_the_others(pruner, values, trivial, epochs)


@PRUNERS.register("catch_up", first_epoch=waits_for("n_warmup_steps"), reason=_caught_up,
                  options=(
    _int("n_startup_trials", 5, "trials that finish before any is stopped"),
    _int("n_warmup_steps", 1, "epochs a trial runs before it can be stopped"),
    Option("margin", "float", 0.0, "Dice added to a trial's reach before it is judged "
           "(more: fewer stops)", low=0)))
def _catch_up(n_startup_trials: int, n_warmup_steps: int, margin: float):
    """Stop a run that cannot catch the best finished run, even if it gained as much from
    here as the finished runs gained at most (:mod:`tuner.search.catch_up`)."""
    return CatchUpPruner(n_startup_trials, n_warmup_steps, margin)


def _floor_first_epoch(judge: str):
    def first_epoch(options: dict[str, Any], epochs: int, steps: int | None) -> int:
        return FloorPruner(judge, **options).first_epoch(epochs, steps)

    return first_epoch


def _below_the_floor(pruner: FloorPruner, values: dict[int, float], trivial: float | None,
                     epochs: int) -> str:
    return pruner.reason(values, trivial, epochs)


FLOOR_OPTIONS = (
    Option("lower", "float", None, "a fixed floor (None: the floor follows the data: trivial "
           "Dice + margin x (1 - trivial))", low=0),
    Option("margin", "float", 0.1, "the floor's share of the way from the split's trivial "
           "Dice (every pixel foreground) to 1", low=0, high=1, high_open=True),
    Option("warmup", "float", 0.5, "the share of a run's epochs before it is judged",
           low=0, high=1),
    _int("min_steps", 50, "optimizer steps a run takes before it is judged"),
    _int("n_warmup_steps", None, "epochs before a run is judged (None: warmup and "
         "min_steps decide)"))


@PRUNERS.register("hopeless", options=FLOOR_OPTIONS, first_epoch=_floor_first_epoch("best"),
                  reason=_below_the_floor, judges_alone=True)
def _hopeless(**options: Any) -> FloorPruner:
    """The best validation Dice so far is still near the all-foreground baseline: the run
    never learned."""
    return FloorPruner("best", **options)


@PRUNERS.register("threshold", options=FLOOR_OPTIONS, first_epoch=_floor_first_epoch("last"),
                  reason=_below_the_floor, judges_alone=True)
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
    """In words, why pruner ``name`` stopped a trial with per-epoch ``values``: its
    registration's ``reason`` (default: behind the other trials at that epoch)."""
    inner = pruner.inner if isinstance(pruner, SameFoldPruner) else pruner
    extra = PRUNERS.component(name).extra if name in PRUNERS else {}
    return f"{name}: {extra.get('reason', behind_the_others)(inner, values, trivial, epochs)}"


def pruner_options(spec: SearchSettings) -> dict[str, Any]:
    """The study's pruner options, checked, with the defaults of those it does not give
    (one line naming the study file, the pruner and the option)."""
    return PRUNERS.component(spec.pruner).resolved(spec.pruner_options, _owner(spec))


def build_pruner(spec: SearchSettings) -> optuna.pruners.BasePruner:
    """The pruner the study file names, with its options (each checked: one line naming
    the study file, the pruner and the option; a combination Optuna refuses, too); one
    that compares trials is wrapped to compare each with its own fold's
    (:class:`SameFoldPruner`)."""
    pruner = PRUNERS.build(spec.pruner, spec.pruner_options, owner=_owner(spec),
                           refusals=(TypeError, ValueError))
    if PRUNERS.component(spec.pruner).extra.get("judges_alone"):
        return pruner  # judges each trial by itself
    return SameFoldPruner(pruner)


def _owner(spec: SearchSettings) -> str:
    return f"study file {spec.source!r}: pruner {spec.pruner!r}"


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
    first = rule(pruner_options(spec), epochs, steps_per_epoch)
    if first < epochs:
        return None
    return (f"pruner {spec.pruner!r} cannot act in this run: it waits until epoch "
            f"{first} (its warm-up) and a trial of {epochs} epoch(s) is never pruned at its "
            "last epoch; every trial runs to the end")
