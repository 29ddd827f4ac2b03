"""Markdown notes that optuna-dashboard shows beside a study and each of its trials.

The study note says the question in words, what is searched and what is fixed, and the
best configuration so far by its mean over repeats (the dashboard's own "Best Trial" is
the single luckiest run); a trial's note says its parameters, repeat and seed, and every
config field that differs from the defaults, a few per line so that the dashboard's narrow
note panel shows all of it, so a person reading the dashboard need not decode JSON.
Notes are shared (anyone with the dashboard reads them): the study file and a dataset are
named by paths relative to the working folder, never absolute ones
(:func:`tuner.results.formatting.shared_path`).
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna_dashboard import save_note

from tuner import records
from tuner.config import TrainConfig
from tuner.records import CURVES_ARTIFACT
from tuner.results import formatting as fmt
from tuner.results.runs import configurations, searched_of
from tuner.results.winner import rank
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


def best_lines(study: optuna.Study) -> list[str]:
    """The study note's section on the winning configuration so far, by the one rule of
    :mod:`tuner.results.winner` (the campaign's, the tables' and the report's)."""
    ranking = rank(configurations(study, searched_of(study)))
    if ranking is None:
        return ["### Best configuration", "", "No completed trial yet."]
    winner = ranking.winner
    runs = "1 run" if winner.n == 1 else f"mean ± sd of {winner.n} repeats"
    return ["### Best configuration so far (mean over repeats)", "",
            *wrapped_pairs(winner.values),
            f"- {records.METRIC_NAME} {fmt.mean_sd(winner.mean, winner.sd)} ({runs})",
            f"- trials {', '.join(str(n) for n in winner.trials)}",
            f"- why: {fmt.shared_text(ranking.rule)}", "",
            "The dashboard's *Best Trial* is the single best run; with repeats, a lucky "
            "seed can put a weaker configuration there."]


def study_note(spec: StudySpec, overrides: dict[str, Any],
               study: optuna.Study | None = None) -> str:
    """The study's note; with ``study``, also its best configuration so far."""
    searched = spec.searched_names() or ["(a conditional space: see the study file)"]
    lines = [f"## {spec.question or spec.name}", "",
             f"- study file: `{fmt.shared_path(spec.source)}`",
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
    """Write (or rewrite) the study's note, with its best configuration so far: the
    runner writes it when the study is created and again after a run that trained."""
    save_note(study, study_note(spec, overrides, study))


def save_trial_note(trial: optuna.Trial, cfg: TrainConfig, repeat: int) -> None:
    save_note(trial, trial_note(trial, cfg, repeat))
