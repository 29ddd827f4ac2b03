"""Study files: what a study searches, how, and how many times.

A study file is a short Python module that defines ``study = StudySpec(...)``; it is loaded
with importlib (never ``exec`` into our globals). The search space is a dict of Optuna
distributions (``categorical``, ``float_range``, ``int_range``), or a function of the trial
for conditional spaces; either way it yields :class:`~tuner.config.TrainConfig` field names.

A configuration trains once per **paired unit**: ``repeats`` seeds times ``folds`` folds
(the config field; 1 without cross-validation). A trial stores its unit where it always
stored its repeat (:data:`tuner.records.REPEAT`), and :func:`unit_parts` alone maps a unit
to its fold and its seed repeat, so that every counter of repeats (the queue, the winner
rule's pairing, duplicates) counts units; without folds a unit is the repeat, as before.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from tuner.config import FIELDS, TrainConfig
from tuner.errors import TunerError
from tuner.study import run_context
from tuner.study.function_grid import function_grid

Space = dict[str, BaseDistribution] | Callable[[optuna.Trial], dict[str, Any]]


def unit_parts(unit: int, folds: int) -> tuple[int, int]:
    """(fold, seed repeat) of paired unit ``unit`` in a study of ``folds`` folds: units
    0 .. folds-1 are every fold of seed repeat 0, the next ``folds`` those of repeat 1..."""
    return unit % folds, unit // folds


def categorical(values: Sequence[Any]) -> CategoricalDistribution:
    """A choice among ``values`` (what grid studies search)."""
    return CategoricalDistribution(list(values))


def float_range(low: float, high: float, *, log: bool = False,
                step: float | None = None) -> FloatDistribution:
    """A float between ``low`` and ``high`` (``log=True`` for learning rates)."""
    return FloatDistribution(low, high, log=log, step=step)


def int_range(low: int, high: int, *, step: int = 1, log: bool = False) -> IntDistribution:
    return IntDistribution(low, high, step=step, log=log)


@dataclass
class StudySpec:
    """One hyperparameter question as a study.

    ``base`` fixes TrainConfig fields for every trial; ``space`` searches others.
    ``repeats`` trains each configuration again with other seeds (repeat k uses seed
    ``base seed + k`` in every configuration, so comparisons are paired), and the config
    field ``folds`` once per fold (fold j: the same images in every configuration).
    ``n_trials`` defaults to the grid size x units (repeats x folds) for grid studies and
    to 20 x units otherwise. ``sampler_options`` and ``pruner_options`` are dicts of the
    options their sampler and pruner declare (``tuner fields`` lists them; checked with the
    study, before anything is stored); None is refused rather than read as "none": leave
    them out, or give ``dict()``.
    """

    name: str
    space: Space = field(default_factory=dict)
    base: dict[str, Any] = field(default_factory=dict)
    question: str = ""
    sampler: str = "tpe"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    pruner: str = "median"
    pruner_options: dict[str, Any] = field(default_factory=dict)
    n_trials: int | None = None
    repeats: int = 1
    source: str = "<study>"  # the file it came from, for messages
    #: the ``--set`` / ``--data`` fields of the run that loaded it (load_spec), for folds
    run_overrides: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        where = "StudySpec"  # load_spec() prefixes the file's path
        if not isinstance(self.name, str) or not self.name.strip():
            raise TunerError(f"{where} 'name' must be a non-empty string")
        if not isinstance(self.repeats, int) or self.repeats < 1:
            raise TunerError(f"{where} 'repeats': got {self.repeats!r}, "
                             "expected an integer >= 1")
        if self.n_trials is not None and (not isinstance(self.n_trials, int)
                                          or self.n_trials < 1):
            raise TunerError(f"{where} 'n_trials': got {self.n_trials!r}, "
                             "expected an integer >= 1 or None")
        for name in ("sampler_options", "pruner_options"):  # None is a mistake, not {}
            options = getattr(self, name)
            if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
                raise TunerError(f"{where} {name!r}: got {options!r}, expected a dict of "
                                 "options (dict() for none; 'tuner fields' lists them)")
        if not isinstance(self.base, dict):
            raise TunerError(f"{where} 'base' must be a dict of config fields")
        TrainConfig.from_dict(self.base, f"{where} base")
        if "fold" in self.base:
            raise TunerError(f"{where} base: config field 'fold' is set per trial from its "
                             "paired unit; set folds instead")
        if isinstance(self.space, dict):
            for key, dist in self.space.items():
                if key in ("folds", "fold"):
                    raise TunerError(f"{where}: space[{key!r}]: folds decide how each "
                                     "configuration is scored, not what it is; set folds "
                                     "in base or with --set")
                if key not in FIELDS:
                    TrainConfig.from_dict({key: None}, f"{where} space")  # raises, with a hint
                if not isinstance(dist, BaseDistribution):
                    raise TunerError(
                        f"{where}: space[{key!r}]: got {dist!r}, expected categorical(...), "
                        "float_range(...) or int_range(...)")
        elif not callable(self.space):
            raise TunerError(f"{where} 'space' must be a dict of distributions "
                             "or a function of the trial")
        if self.sampler == "grid" and not self.grid_points():
            raise TunerError(f"{where}: sampler 'grid' needs a dict space of categorical(...) "
                             "values, or a space function that only calls "
                             "trial.suggest_categorical")

    # -- the grid -----------------------------------------------------------------------
    @property
    def is_grid(self) -> bool:
        return self.sampler == "grid"

    def grid_points(self) -> list[dict[str, Any]]:
        """Every combination of a categorical dict space, in file order, or every path
        through a grid study's space function (else empty): Optuna parameters."""
        if callable(self.space) and not isinstance(self.space, dict):
            return function_grid(self.space) if self.is_grid else []
        if not self.space:
            return []
        if not all(isinstance(d, CategoricalDistribution) for d in self.space.values()):
            return []
        names = list(self.space)
        values = [self.space[n].choices for n in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)]

    def folds_of(self, overrides: dict[str, Any] | None = None) -> int:
        """The folds each configuration trains on: the config field ``folds`` of the base,
        the run that loaded the file (:attr:`run_overrides`) or ``overrides``."""
        values = {**self.base, **self.run_overrides, **(overrides or {})}
        return int(values.get("folds", FIELDS["folds"].default))

    def units(self, overrides: dict[str, Any] | None = None) -> int:
        """Paired units per configuration: repeats x folds."""
        return self.repeats * self.folds_of(overrides)

    def default_n_trials(self, overrides: dict[str, Any] | None = None) -> int:
        if self.n_trials is not None:
            return self.n_trials
        if self.is_grid:
            return len(self.grid_points()) * self.units(overrides)
        return 20 * self.units(overrides)

    def searched_names(self) -> list[str]:
        return list(self.space) if isinstance(self.space, dict) else []

    # -- a trial's configuration ----------------------------------------------------------
    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """The searched fields of ``trial`` (suggested through Optuna, so it records them)."""
        if callable(self.space) and not isinstance(self.space, dict):
            params = self.space(trial)
            if not isinstance(params, dict):
                raise TunerError(f"{self.source}: space(trial) returned {type(params).__name__},"
                                 " expected a dict of config fields")
            return params
        return {name: _suggest(trial, name, dist) for name, dist in self.space.items()}

    def config(self, params: dict[str, Any], overrides: dict[str, Any] | None = None,
               repeat: int = 0) -> TrainConfig:
        """``defaults <- base <- params <- overrides`` of paired unit ``repeat``: its fold
        (:func:`unit_parts`) and the seed shifted by its seed repeat; validated."""
        values = {**self.base, **params, **(overrides or {})}
        if "fold" in values:
            raise TunerError(f"{self.source}: config field 'fold' is set per trial from its "
                             "paired unit; set folds instead")
        cfg = TrainConfig.from_dict(values, self.source)
        fold, seed_repeat = unit_parts(repeat, cfg.folds)
        changes = {**({"fold": fold} if fold else {}),
                   **({"seed": cfg.seed + seed_repeat} if seed_repeat else {})}
        return cfg.replace(**changes) if changes else cfg


def _suggest(trial: optuna.Trial, name: str, dist: BaseDistribution) -> Any:
    """Ask ``trial`` for ``name`` through the public suggest API of ``dist``'s kind."""
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    raise TypeError(f"unsupported distribution {dist!r}")


def load_spec(path: str | Path, storage: str | None = None,
              overrides: dict[str, Any] | None = None) -> StudySpec:
    """Import the study file at ``path`` and return its ``study``; one-line errors.
    ``storage`` and ``overrides`` are the run's, as the file may read them
    (:mod:`tuner.study.run_context`)."""
    with run_context.loading(storage, overrides or {}):
        study = load_definition(path, "study file", "study", StudySpec)
    study.source = str(path)
    study.run_overrides = dict(overrides or {})
    return study


def load_definition(path: str | Path, kind: str, attribute: str, expected: type) -> Any:
    """Import the Python file at ``path`` (never ``exec`` into our globals) and return its
    ``attribute``, an instance of ``expected``; every mistake is one line naming the
    file. ``kind`` ("study file", "campaign file") names it in messages."""
    path = Path(path)
    wanted = f"{attribute} = {expected.__name__}(...)"
    if path.is_dir():
        raise TunerError(f"{kind} {str(path)!r} is a folder; expected a .py file that "
                         f"defines {wanted}")
    if not path.is_file():
        raise TunerError(f"{kind} {str(path)!r} not found; expected a .py file that defines "
                         f"{wanted}")
    module_name = f"tuner_{attribute}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TunerError(f"{kind} {str(path)!r}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        raise TunerError(f"{kind} {str(path)!r}: syntax error at line {exc.lineno}: "
                         f"{exc.msg}") from None
    except TunerError as exc:
        raise TunerError(f"{kind} {str(path)!r}{_own_line(exc, path)}: {exc}") from None
    except Exception as exc:
        raise TunerError(f"{kind} {str(path)!r}{_own_line(exc, path)}: "
                         f"{type(exc).__name__}: {exc}") from None
    found = getattr(module, attribute, None)
    if not isinstance(found, expected):
        raise TunerError(f"{kind} {str(path)!r}: defines no {attribute}; expected {wanted}")
    return found


def _own_line(exc: BaseException, path: Path) -> str:
    """`` at line N (`source`)``: the last line of the file at ``path`` that the error
    passed through (the user's own mistake, not tuner's or a library's frames); empty
    when the file is not in the traceback."""
    own = [frame for frame in traceback.extract_tb(exc.__traceback__)
           if Path(frame.filename).resolve() == path.resolve()]
    if not own:
        return ""
    source = f" (`{own[-1].line.strip()}`)" if own[-1].line else ""
    return f" at line {own[-1].lineno}{source}"
