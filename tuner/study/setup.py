"""A study's setup: everything that decides what its trials train, fixed when it is created.

A study's table is only worth what its trials have in common, so the setup (the study
file's name and content, its base, space, sampler, pruner and repeats, the ``--set`` and
``--data`` overrides, the defaults of every other field, and a fingerprint of the dataset's
files: names, sizes and bytes, :mod:`tuner.data.fingerprint`) is stored with the study
when it is created and compared on every later ``tuner run``: a different setup is a new
study, and the first difference is named in one line.
The defaults are part of it because they change between tuner versions (``train_fraction``
went from 0.8 to 1.0): a study resumed by a newer tuner must not train its new trials on
other settings than its old ones. A setup stored before the defaults were part of it is
checked against its trials' own configs instead (:func:`defaults_difference`), and a
dataset fingerprint stored before the files' bytes were hashed by the names and sizes it
holds (:func:`data_difference`).

Fields that change how a run computes but not what it trains
(:data:`tuner.config.RUN_FIELDS`: threads, device, precision, memory format) are left out,
and so are the worker count, heartbeats and the dataset's path (another machine may mount
the same files elsewhere).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from pathlib import Path
from typing import Any

from optuna.distributions import BaseDistribution, distribution_to_json

from tuner.config import RUN_FIELDS, TrainConfig
from tuner.study.spec import StudySpec

#: the setup's parts in the order they are compared: the first difference is named, so
#: the file's content (which changes with any edit) comes after what an edit may change
PARTS = ("study_file", "sampler", "sampler_options", "pruner", "pruner_options", "repeats",
         "space", "fixed", "defaults", "data", "study_file_sha256")
#: a dataset fingerprint's keys in the order they are compared (names before bytes)
DATA_KEYS = ("kind", "argument", "list_sha256", "files", "sha256", "content")


def study_setup(spec: StudySpec, overrides: dict[str, Any],
                searched: set[str] | None = None) -> dict[str, Any]:
    """The JSON-safe setup of ``spec`` run with ``overrides`` (``--set`` and ``--data``);
    ``searched``: the fields its space sets (left out of the defaults)."""
    fixed = {k: v for k, v in {**spec.base, **overrides}.items() if k not in RUN_FIELDS}
    dataset = fixed.pop("dataset", "synthetic")
    return {
        "study_file": Path(spec.source).name,
        "study_file_sha256": _file_sha256(spec.source),
        "sampler": spec.sampler,
        "sampler_options": _plain(spec.sampler_options),
        "pruner": spec.pruner,
        "pruner_options": _plain(spec.pruner_options),
        "repeats": spec.repeats,
        "space": _space(spec),
        "fixed": _plain(fixed),
        "defaults": _plain(defaults_of(spec, overrides, searched or set())),
        "data": dataset_fingerprint(dataset),
    }


def defaults_of(spec: StudySpec, overrides: dict[str, Any], searched: set[str]
                ) -> dict[str, Any]:
    """The fields that neither the study (base, space) nor ``overrides`` set, at the
    defaults this tuner gives them (how a run computes left out)."""
    chosen = {*spec.base, *overrides, *searched, *RUN_FIELDS, "dataset"}
    return {k: v for k, v in TrainConfig().to_dict().items() if k not in chosen}


def defaults_difference(stored: dict[str, Any], current: dict[str, Any],
                        configs: list[dict[str, Any]]) -> str | None:
    """For a setup stored without its defaults: the first field whose default now differs
    from what the study's trials trained with (their stored configs), or None."""
    if "defaults" in stored:
        return None
    for config in configs:
        for key, value in current.get("defaults", {}).items():
            if key in config and _plain(config[key]) != value:
                return (f"default of field {key!r}: the study's trials trained with "
                        f"{_short(config[key])}, this tuner's default is {_short(value)}; "
                        f"fix it with --set {key}={config[key]} to go on")
    return None


def first_difference(stored: dict[str, Any], current: dict[str, Any]) -> str | None:
    """A short phrase naming the first part in which two setups differ, or None."""
    for part in PARTS:
        old, new = stored.get(part), current.get(part)
        if old == new:
            continue
        if part == "study_file_sha256":
            return "study file content: the file was edited after the study was created"
        if part == "data" and isinstance(old, dict) and isinstance(new, dict):
            difference = data_difference(old, new)
            if difference is None:  # a fingerprint of before the contents: same by its rule
                continue
            return difference
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted({*old, *new}):
                if old.get(key) != new.get(key):
                    return f"{_label(part)} {key!r}: stored {_short(old.get(key))}, " \
                           f"now {_short(new.get(key))}"
        return f"{_label(part)}: stored {_short(old)}, now {_short(new)}"
    return None


def dataset_fingerprint(dataset: str) -> dict[str, Any]:
    """What identifies a dataset's content: its kind, and for data on disk the relative
    names, sizes and bytes of its files (:func:`tuner.data.fingerprint.dataset_fingerprint`)."""
    from tuner.data.fingerprint import dataset_fingerprint as fingerprint

    return fingerprint(dataset)


def data_difference(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The first difference between two dataset fingerprints, or None. A fingerprint
    stored before the contents were hashed (no ``content``) is compared by what it holds:
    kind, path argument, list, file names and sizes."""
    hashed = "content" in old and "content" in new  # else the old form, by its old rule
    keys = [k for k in DATA_KEYS if (k in old or k in new) and (k != "content" or hashed)]
    keys += sorted(k for k in {*old, *new} if k not in DATA_KEYS)
    for key in keys:
        before, now = old.get(key), new.get(key)
        if before == now:
            continue
        if key == "files":
            return f"dataset file count: stored {_short(before)}, now {_short(now)}"
        if key == "sha256":
            return (f"dataset file names or sizes: the same {_short(new.get('files'))} "
                    "files, with other names or sizes than when the study was created")
        if key == "content" and isinstance(before, dict) and isinstance(now, dict):
            part = next(p for p in sorted({*before, *now}) if before.get(p) != now.get(p))
            where = (f"the list's {part} files" if "list_sha256" in new else
                     "the files at the top of the dataset folder" if part == "." else
                     f"{part}/")
            return (f"dataset content of {where}: the bytes changed since the study was "
                    "created (same names and sizes)")
        return f"dataset {key!r}: stored {_short(before)}, now {_short(now)}"
    return None


def _space(spec: StudySpec) -> Any:
    if isinstance(spec.space, dict):
        return {name: json.loads(distribution_to_json(dist))
                for name, dist in spec.space.items() if isinstance(dist, BaseDistribution)}
    try:  # a function space: its source is what decides the trials
        return {"function": inspect.getsource(spec.space)}
    except (OSError, TypeError):
        return {"function": getattr(spec.space, "__qualname__", repr(spec.space))}


def _file_sha256(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def _plain(value: Any) -> Any:
    """``value`` as JSON would store it (tuples become lists, odd objects their repr)."""
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def _label(part: str) -> str:
    return {"study_file": "study file", "study_file_sha256": "study file content",
            "sampler_options": "sampler options", "pruner_options": "pruner options",
            "fixed": "fixed field", "defaults": "default of field",
            "data": "dataset"}.get(part, part)


def _short(value: Any, limit: int = 80) -> str:
    if isinstance(value, dict) and "attributes" in value:  # a distribution: its values
        value = value["attributes"]
    text = "(none)" if value is None else json.dumps(value, sort_keys=True, default=repr)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text
