"""Markdown notes that optuna-dashboard shows beside a study and each of its trials.

The study note says the question in words, what is searched and what is fixed; a trial's
note says its parameters, repeat and seed, and every config field that differs from the
defaults, so a person reading the dashboard need not decode JSON attributes.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna_dashboard import save_note

from tuner.config import TrainConfig
from tuner.study.spec import StudySpec

DEFAULTS = TrainConfig().to_dict()


def _changed(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if DEFAULTS.get(k) != v}


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"`{k}={v}`" for k, v in values.items()) or "(defaults)"


def study_note(spec: StudySpec, overrides: dict[str, Any]) -> str:
    searched = spec.searched_names() or ["(a conditional space: see the study file)"]
    lines = [f"## {spec.question or spec.name}", "",
             f"- study file: `{spec.source}`",
             f"- searched: {', '.join(f'`{n}`' for n in searched)}",
             f"- fixed: {_pairs({**spec.base, **overrides})}",
             f"- sampler `{spec.sampler}`, pruner `{spec.pruner}`, repeats {spec.repeats}",
             "- value: best validation Dice of the run; intermediate values: validation Dice "
             "per epoch; galleries: input | truth | prediction (green TP, red FP, blue FN)"]
    return "\n".join(lines)


def trial_note(trial: optuna.Trial, cfg: TrainConfig, repeat: int) -> str:
    params = {k: v for k, v in trial.params.items()}
    return "\n".join([f"## Trial {trial.number}", "",
                      f"- parameters: {_pairs(params)}",
                      f"- repeat {repeat}, seed {cfg.seed}",
                      f"- config (fields that differ from the defaults): "
                      f"{_pairs(_changed(cfg.to_dict()))}"])


def save_study_note(study: optuna.Study, spec: StudySpec, overrides: dict[str, Any]) -> None:
    save_note(study, study_note(spec, overrides))


def save_trial_note(trial: optuna.Trial, cfg: TrainConfig, repeat: int) -> None:
    save_note(trial, trial_note(trial, cfg, repeat))
