"""Checks before a study is stored: every configuration it can produce, its data, its models.

Everything a user can get wrong in a study (its file, its space, ``--set`` values, the
dataset, the encoder, the device) fails here with one line, before the study is created or
touched. The sampler and the pruner are built with their options (each checked against
what the component declares) and run a few trials in memory first
(:func:`rehearse_search`), so an option Optuna would fail on in every trial is refused.
A grid is checked point by point. A sampled space is checked as a whole: every
combination of its extremes (so that cross-field rules such as val_fraction +
test_fraction < 1 meet their worst case) and a few hundred random draws (so that a float
range on an integer field is caught however its ends look). The draws' models are checked
too, cheaply: per architecture (every model field but the image size), the smallest drawn
image size and the one with the fewest factors of two, since a model takes a size that is
a multiple of its stride (a power of two) and not too small; ``int_range(32, 96)`` with an
FPN gives 81, which no FPN takes, though both ends do.
"""

from __future__ import annotations

import copy
import itertools
import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution

from tuner.config import FIELDS, TrainConfig
from tuner.data import build_splits, split_key
from tuner.errors import TunerError
from tuner.search.pruners import build_pruner
from tuner.search.samplers import build_sampler
from tuner.study.spec import StudySpec
from tuner.training.device import check_runtime
from tuner.training.losses import build_loss
from tuner.training.models import build_model, model_check_key

RANDOM_DRAWS = 300  # random draws of a sampled space, validated as configs
MAX_CORNERS = 4096  # combinations of extremes checked in full; beyond, a seeded sample
REHEARSED_TRIALS = 3  # in-memory trials that a study's sampler and pruner run first


def check_spec(spec: StudySpec, overrides: dict[str, Any]) -> None:
    """Validate the study's sampler and pruner with their options, and every
    configuration the study can produce, its data and its models."""
    rehearse_search(spec)
    if isinstance(spec.space, dict):
        _check_distribution_types(spec)
    checked, drawn = field_sets(spec)
    _check_overrides_not_searched(spec, overrides, _searched(spec, [*checked, *drawn]))
    configs = [_config(spec, fields, overrides) for fields in [{}, *checked]]
    draws = [(fields, _config(spec, fields, overrides)) for fields in drawn]
    _check_data_models_and_runtime(configs)
    _check_drawn_models(spec, draws, {model_check_key(cfg) for cfg in configs})


def rehearse_search(spec: StudySpec) -> None:
    """Build the study's sampler and pruner with their options (each option checked
    against its declaration: one line naming the study file, the component and the
    option), then let them run :data:`REHEARSED_TRIALS` trials of a small space in
    memory, so that what Optuna refuses only when it first draws or judges (a value it
    compares, a rung it divides by) is one line here, not a traceback in every trial."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # independent sampling, ...
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # experimental samplers and options
            _rehearse(spec, build_sampler(spec), build_pruner(spec))
    finally:
        optuna.logging.set_verbosity(verbosity)


def _rehearse(spec: StudySpec, sampler: optuna.samplers.BaseSampler,
              pruner: optuna.pruners.BasePruner) -> None:
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
    for number in range(REHEARSED_TRIALS):
        with _failing(spec, "sampler"):
            trial = study.ask()
            x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        dice = (x + y + number) / (2 + REHEARSED_TRIALS)  # a Dice in [0, 1)
        with _failing(spec, "pruner"):
            for epoch in range(1, 4):
                trial.report(dice * epoch / 3, epoch)
                trial.should_prune()
        with _failing(spec, "sampler"):
            study.tell(trial, dice)


@contextmanager
def _failing(spec: StudySpec, kind: str) -> Iterator[None]:
    """An exception inside as one line naming the study file, the ``kind`` of component
    (``sampler`` or ``pruner``) and the options it was given."""
    try:
        yield
    except TunerError:
        raise
    except Exception as exc:
        name, options = getattr(spec, kind), getattr(spec, f"{kind}_options")
        given = ", ".join(f"{k}={v!r}" for k, v in options.items()) or "its defaults"
        raise TunerError(f"study file {spec.source!r}: {kind} {name!r} with {given} fails "
                         f"in Optuna's first trials: {type(exc).__name__}: "
                         f"{' '.join(str(exc).split())}") from None


def searched_fields(spec: StudySpec) -> set[str]:
    """The config fields a study searches: its dict space's keys, or every field that its
    space function returns (at every grid point, or in a few hundred random draws)."""
    checked, drawn = field_sets(spec)
    return _searched(spec, [*checked, *drawn])


def field_sets(spec: StudySpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The config fields a study's trials can get: those whose data and models are checked
    too (every grid point; a sampled dict space's corners; a space function's first
    draws), and further random draws whose config alone is checked."""
    if spec.is_grid:
        points = spec.grid_points()
        if isinstance(spec.space, dict):
            return points, []
        return [_suggest(spec, optuna.trial.FixedTrial(point)) for point in points], []
    drawn = _random_draws(spec)
    if isinstance(spec.space, dict):
        return _corners(spec), drawn
    return drawn[:16], drawn[16:]


def _searched(spec: StudySpec, field_sets: list[dict[str, Any]]) -> set[str]:
    return set(spec.searched_names()) or {name for fields in field_sets for name in fields}


def _check_data_models_and_runtime(configs: list[TrainConfig]) -> None:
    """Each distinct dataset/split, model, loss and device/precision pair once."""
    seen: set[tuple] = set()
    for cfg in configs:
        loss_key = ("loss", cfg.loss, repr(sorted((cfg.loss_options.get(cfg.loss) or {}).items())))
        for key, check in ((("data", split_key(cfg)), build_splits),  # missing folder,
                           (("model", model_check_key(cfg)), build_model),  # bad encoder,
                           (loss_key, build_loss),  # an option the loss does not have,
                           (("runtime", cfg.device, cfg.precision), check_runtime)):  # no GPU
            if key not in seen:
                seen.add(key)
                check(cfg)


def _check_drawn_models(spec: StudySpec, draws: list[tuple[dict[str, Any], TrainConfig]],
                        checked: set[tuple]) -> None:
    """The models of random draws, two per architecture: the smallest image size, and the
    one with the fewest factors of two (if that one is a multiple of the stride, all are);
    ``checked``: the model keys built already."""
    by_arch: dict[tuple, list[tuple[dict[str, Any], TrainConfig]]] = {}
    for fields, cfg in draws:  # the model's key without a size: its architecture
        sizeless = copy.copy(cfg)
        object.__setattr__(sizeless, "image_size", None)  # a key, never a config to train
        by_arch.setdefault(model_check_key(sizeless), []).append((fields, cfg))
    for group in by_arch.values():
        smallest = min(group, key=lambda draw: draw[1].image_size)
        oddest = min(group, key=lambda draw: (_twos(draw[1].image_size), draw[1].image_size))
        for fields, cfg in (smallest, oddest):
            if model_check_key(cfg) in checked:
                continue
            checked.add(model_check_key(cfg))
            try:
                build_model(cfg)
            except TunerError as exc:
                shown = ", ".join(f"{k}={v!r}" for k, v in fields.items())
                raise TunerError(f"study file {spec.source!r}: the space can give {shown}: "
                                 f"{exc}") from None


def _twos(n: int) -> int:
    """How many times 2 divides ``n`` (an image size; 0 has as many as any)."""
    return (n & -n).bit_length() - 1 if n else 64


def _config(spec: StudySpec, params: dict[str, Any], overrides: dict[str, Any]) -> TrainConfig:
    try:
        return spec.config(params, overrides)
    except TunerError as exc:
        if not params:
            raise
        shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
        raise TunerError(f"study file {spec.source!r}: the space can give {shown}: "
                         f"{exc}") from None


def _check_distribution_types(spec: StudySpec) -> None:
    """A float range on an integer or text field can only give invalid values."""
    for name, dist in spec.space.items():
        kind = FIELDS[name].type
        if isinstance(dist, FloatDistribution) and kind != "float":
            hint = "int_range(...)" if kind == "int" else "categorical([...])"
            raise TunerError(f"study file {spec.source!r}: space[{name!r}] is a float_range, "
                             f"but config field {name!r} takes {_kind_words(kind)}; "
                             f"expected {hint}")
        if not isinstance(dist, CategoricalDistribution) and kind in ("str", "bool"):
            raise TunerError(f"study file {spec.source!r}: space[{name!r}] is a range, but "
                             f"config field {name!r} takes {_kind_words(kind)}; expected "
                             "categorical([...])")


def _kind_words(kind: str) -> str:
    return {"int": "an integer", "str": "a name", "bool": "true or false"}.get(kind, kind)


def _check_overrides_not_searched(spec: StudySpec, overrides: dict[str, Any],
                                  searched: set[str]) -> None:
    for name in overrides:
        if name in searched:
            raise TunerError(f"--set {name}: field {name!r} is searched by this study "
                             f"({spec.source}); fix it in the study's base instead, or "
                             "remove it from the space")


def _corners(spec: StudySpec) -> list[dict[str, Any]]:
    """Every combination of each parameter's extremes: categorical choices, range ends."""
    names = list(spec.space)
    values = [list(getattr(d, "choices", None) or (d.low, d.high)) for d in spec.space.values()]
    total = 1
    for options in values:
        total *= len(options)
    combos = itertools.product(*values)
    if total > MAX_CORNERS:
        rng = random.Random(0)
        combos = ([rng.choice(options) for options in values] for _ in range(MAX_CORNERS))
    return [dict(zip(names, combo, strict=True)) for combo in combos]


def _random_draws(spec: StudySpec) -> list[dict[str, Any]]:
    """Config fields drawn at random from a sampled space (through Optuna, as trials draw)."""
    if isinstance(spec.space, dict) and not spec.space:
        return []
    probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(RANDOM_DRAWS if isinstance(spec.space, dict) else RANDOM_DRAWS // 4):
        trial = probe.ask()
        drawn.append(_suggest(spec, trial))
        probe.tell(trial, 0.0)
    return drawn


def _suggest(spec: StudySpec, trial: optuna.Trial | optuna.trial.FixedTrial) -> dict[str, Any]:
    """``spec.suggest(trial)``; a space function that raises is the study file's mistake."""
    try:
        return spec.suggest(trial)
    except TunerError:
        raise
    except Exception as exc:
        raise TunerError(f"study file {spec.source!r}: space(trial) raised "
                         f"{type(exc).__name__}: {exc}") from None
