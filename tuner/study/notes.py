"""Markdown notes that optuna-dashboard shows beside a study and each of its trials.

The study note says the question in words, what is searched and what is fixed, and the
best configuration so far by its mean over repeats (the dashboard's own "Best Trial" is
the single luckiest run); a trial's note says its parameters, repeat and seed, and every
config field that differs from the defaults, a few per line so that the dashboard's narrow
note panel shows all of it, so a person reading the dashboard need not decode JSON.
"""

from __future__ import annotations

from statistics import mean, stdev
from typing import Any

import optuna
from optuna.trial import TrialState
from optuna_dashboard import save_note

from tuner import records
from tuner.config import TrainConfig
from tuner.records import CURVES_ARTIFACT, trial_params
from tuner.reports import formatting as fmt
from tuner.study.spec import StudySpec

DEFAULTS = TrainConfig().to_dict()
WIDTH = 60  # characters per line of a note: the dashboard's note panel is narrow


def _changed(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if DEFAULTS.get(k) != v}


def wrapped_pairs(values: dict[str, Any], width: int = WIDTH) -> list[str]:
    """``k=v`` pairs as Markdown list items, as many per item as fit in ``width``
    characters (one line each in the dashboard, never running off its side)."""
    lines: list[str] = []
    for key, value in values.items():
        item = f"`{key}={fmt.param(value, key)}`"
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += ", " + item
        else:
            lines.append(item)
    return [f"- {line}" for line in lines] or ["- (defaults)"]


def best_configuration(study: optuna.Study) -> tuple[dict[str, Any], list[float],
                                                     list[int]] | None:
    """(parameters, values, trial numbers) of the configuration with the highest mean
    value over its completed repeats (more repeats win a tie); None before any completes."""
    groups: dict[tuple, tuple[dict[str, Any], list[float], list[int]]] = {}
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        params = trial_params(trial)
        key = tuple(sorted((k, repr(v)) for k, v in params.items()))
        group = groups.setdefault(key, (params, [], []))
        group[1].append(float(trial.value))
        group[2].append(trial.number)
    if not groups:
        return None
    return max(groups.values(), key=lambda g: (mean(g[1]), len(g[1])))


def best_lines(study: optuna.Study) -> list[str]:
    """The study note's section on the best configuration so far."""
    best = best_configuration(study)
    if best is None:
        return ["### Best configuration", "", "No completed trial yet."]
    params, values, numbers = best
    score = fmt.mean_sd(mean(values), stdev(values) if len(values) > 1 else None)
    runs = "1 run" if len(values) == 1 else f"mean ± sd of {len(values)} repeats"
    return ["### Best configuration (mean over repeats)", "", *wrapped_pairs(params),
            f"- {records.METRIC_NAME} {score} ({runs})",
            f"- trials {', '.join(str(n) for n in numbers)}", "",
            "The dashboard's *Best Trial* is the single best run; with repeats, a lucky "
            "seed can put a weaker configuration there."]


def study_note(spec: StudySpec, overrides: dict[str, Any],
               study: optuna.Study | None = None) -> str:
    """The study's note; with ``study``, also its best configuration so far."""
    searched = spec.searched_names() or ["(a conditional space: see the study file)"]
    lines = [f"## {spec.question or spec.name}", "",
             f"- study file: `{spec.source}`",
             f"- searched: {', '.join(f'`{n}`' for n in searched)}",
             f"- sampler `{spec.sampler}`, pruner `{spec.pruner}`, repeats {spec.repeats}",
             f"- value ({records.METRIC_NAME}): best validation Dice of the run",
             "- intermediate values: validation Dice per epoch",
             "- galleries: input | truth | prediction (green TP, red FP, blue FN)",
             f"- `{CURVES_ARTIFACT}`: every metric per epoch, as a table", "",
             "Fixed (study base and `--set`):", "", *wrapped_pairs({**spec.base, **overrides})]
    if study is not None:
        lines += ["", *best_lines(study)]
    return "\n".join(lines)


def trial_note(trial: optuna.Trial, cfg: TrainConfig, repeat: int) -> str:
    """The trial's note: parameters, repeat and seed, and its config beyond the defaults."""
    return "\n".join([f"## Trial {trial.number}", "",
                      *wrapped_pairs(dict(trial.params)),
                      f"- repeat {repeat}, seed {cfg.seed}", "",
                      "Config (fields that differ from the defaults):", "",
                      *wrapped_pairs(_changed(cfg.to_dict()))])


def save_study_note(study: optuna.Study, spec: StudySpec, overrides: dict[str, Any]) -> None:
    """Write (or rewrite) the study's note, with its best configuration so far: call it
    when the study is prepared and again whenever a trial finishes."""
    save_note(study, study_note(spec, overrides, study))


def save_trial_note(trial: optuna.Trial, cfg: TrainConfig, repeat: int) -> None:
    save_note(trial, trial_note(trial, cfg, repeat))
