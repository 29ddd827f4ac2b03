"""Evaluate a stored trial later: its saved best weights on a split of any dataset.

``tuner run --save-weights`` uploads each finished trial's best weights as an Optuna
artifact (``tuner.records.WEIGHTS_ARTIFACT``). :func:`evaluate_trial` rebuilds the model
from the trial's resolved config, loads those weights and scores them on the test split
(or another split, or another dataset with ``dataset=``), with the metrics of training.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.trial import FrozenTrial

from tuner import records
from tuner.config import TrainConfig
from tuner.data import build_splits, make_normalizer
from tuner.errors import TunerError
from tuner.reports.gallery import gallery_indices, render_gallery
from tuner.storage import artifact_store, load_existing_study, storage_url
from tuner.training import predict_probabilities, score
from tuner.training.device import resolve_runtime
from tuner.training.models import build_model

#: the splits a stored trial can be scored on (``--split``)
SCORED_SPLITS = ("test", "val", "train")


@dataclass
class Evaluation:
    trial: int
    split: str
    images: int
    metrics: dict[str, float]


#: file types a gallery can be written as (PIL picks the format from the suffix)
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def check_picture_path(path: Path, option: str) -> None:
    """A path a picture can be written to, checked before any work is done."""
    if path.is_dir():
        raise TunerError(f"{option}: {str(path)!r} is a folder; expected a file name such "
                         "as gallery.png")
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise TunerError(f"{option}: got {str(path)!r}, expected a file ending in "
                         f"{', '.join(PICTURE_SUFFIXES)}")


def pick_trial(study: optuna.Study, number: int | None) -> FrozenTrial:
    """Trial ``number``, or the best completed trial."""
    if number is None:
        best = records.ranked_trials(study, top=1)
        if not best:
            raise TunerError(f"study {study.study_name!r}: no completed trial to evaluate")
        return best[0]
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            return trial
    raise TunerError(f"study {study.study_name!r}: no trial {number}")


def load_weights(study: optuna.Study, trial: FrozenTrial, url: str) -> dict[str, torch.Tensor]:
    """The trial's saved state dict; a clear error when it was run without --save-weights."""
    metas = optuna.artifacts.get_all_artifact_meta(trial, storage=study._storage)
    saved = [m for m in metas if m.filename == records.WEIGHTS_ARTIFACT]
    if not saved:
        raise TunerError(f"trial {trial.number} of study {study.study_name!r} has no saved "
                         "weights; run the study with --save-weights")
    try:
        with artifact_store(url).open_reader(saved[-1].artifact_id) as reader:
            data = reader.read()
    except optuna.artifacts.exceptions.ArtifactNotFound:
        raise TunerError(f"trial {trial.number}: its weights file is not in the artifact "
                         "folder on this machine (set TUNER_ARTIFACTS to the shared "
                         "folder)") from None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def evaluate_trial(url: str | None, study_name: str, trial_number: int | None = None,
                   dataset: str | None = None, split: str = "test",
                   gallery: Path | None = None) -> Evaluation:
    """Scores of a trial's best weights on ``split`` of its dataset (or of ``dataset``)."""
    if split not in SCORED_SPLITS:
        raise TunerError(f"--split: got {split!r}, expected one of {', '.join(SCORED_SPLITS)}")
    if gallery is not None:
        check_picture_path(gallery, "--gallery")
    url = storage_url(url)
    study = load_existing_study(url, study_name)
    trial = pick_trial(study, trial_number)
    state = load_weights(study, trial, url)
    stored = dict(trial.user_attrs[records.CONFIG])
    stored["encoder_weights"] = "none"  # the saved state dict holds every weight
    if dataset:
        stored["dataset"] = dataset
    cfg = TrainConfig.from_dict(stored, f"trial {trial.number} config")
    model = build_model(cfg)
    model.load_state_dict(state)
    runtime = resolve_runtime(cfg)
    model = model.to(runtime.device)
    splits = build_splits(cfg)
    chosen = getattr(splits, split)
    if not len(chosen):
        raise TunerError(f"--split {split}: the {split} split of {cfg.dataset} is empty")
    normalize = make_normalizer(cfg, splits.train)
    metrics = score(model, chosen, cfg, runtime, normalize)
    if gallery is not None:
        shown = gallery_indices(chosen.masks)
        probs = predict_probabilities(model, chosen.images[shown], runtime, normalize)
        title = f"trial {trial.number}, {split}: Dice {metrics['dice']:.3f}"
        gallery.parent.mkdir(parents=True, exist_ok=True)
        render_gallery(chosen.images[shown], chosen.masks[shown], probs, cfg.threshold,
                       title).save(gallery)
    return Evaluation(trial=trial.number, split=split, images=len(chosen), metrics=metrics)
