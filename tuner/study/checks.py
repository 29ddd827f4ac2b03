"""Checks before a study is stored: every configuration it can produce, its data, its models.

Everything a user can get wrong in a study (its file, its space, ``--set`` values, the
dataset, the encoder) fails here with one line, before the study is created or touched.
"""

from __future__ import annotations

from typing import Any

import optuna

from tuner.data import build_splits, split_key
from tuner.study.pruners import build_pruner
from tuner.study.samplers import build_sampler
from tuner.study.spec import StudySpec
from tuner.training.models import build_model, model_check_key

FUNCTION_SPACE_PROBES = 16  # random draws that check a conditional space before the study


def check_spec(spec: StudySpec, overrides: dict[str, Any]) -> None:
    """Validate every configuration the study can produce, its data and its models."""
    build_sampler(spec)
    build_pruner(spec)
    configs = [spec.config({}, overrides)]
    if spec.is_grid:
        configs += [spec.config(point, overrides) for point in spec.grid_points()]
    elif isinstance(spec.space, dict):
        configs += [spec.config(params, overrides) for params in _space_corners(spec)]
    else:
        probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(FUNCTION_SPACE_PROBES):
            trial = probe.ask()
            configs.append(spec.config(spec.suggest(trial), overrides))
            probe.tell(trial, 0.0)
    seen_models, seen_data = set(), set()
    for cfg in configs:  # each distinct dataset/split and model once
        data_key = split_key(cfg)
        if data_key not in seen_data:  # missing folder, bad masks, empty split: fail now
            seen_data.add(data_key)
            build_splits(cfg)
        model_key = model_check_key(cfg)
        if model_key not in seen_models:  # unknown encoder, bad weights file, bad size
            seen_models.add(model_key)
            build_model(cfg)


def _space_corners(spec: StudySpec) -> list[dict[str, Any]]:
    """Each categorical choice and each range's ends, one parameter at a time."""
    out = []
    for name, dist in spec.space.items():
        values = getattr(dist, "choices", None) or (dist.low, dist.high)
        out += [{name: v} for v in values]
    return out
