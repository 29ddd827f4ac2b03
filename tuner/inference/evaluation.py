"""Evaluate a stored trial later: which trial, its model (saved weights, or a retrain), and
its scores on a split of any dataset, overall and image by image.

:func:`pick_trial` takes a trial by number or the best trial of the study's winning
configuration, chosen by the campaign's rule (:mod:`tuner.results.winner`, the one owner of
that rule).

``tuner run --save-weights`` uploads each finished trial's best weights as an Optuna
artifact (``tuner.records.WEIGHTS_ARTIFACT``). :func:`trial_model` rebuilds the model from
the trial's resolved config and loads them; where none were saved it retrains the same
config with the same seed (``tuner.training.fit``) and says so in one line.
:func:`choose` checks every argument (split, study, trial, ``--data``) before any work, and
:func:`evaluate_trial` scores the trial's model on the fixed test split (or another split, or
every image of another dataset) at each image's own size (:mod:`tuner.inference.native`:
the predictions mapped back as ``tuner predict`` maps them, against the mask files) and at
the training size with the metrics of training, plus the per-image tables, their summary,
the threshold curve and overlays of the best and the worst images
(:mod:`tuner.inference.per_image`); :mod:`tuner.reports.evaluation_files` writes them.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import pandas as pd
import torch
from optuna.trial import FrozenTrial, TrialState
from PIL import Image
from torch import nn

from tuner import records
from tuner.config import TrainConfig
from tuner.data import (
    Split,
    build_splits,
    load_pool,
    make_normalizer,
    normalize_kind,
    normalizer_from_stats,
)
from tuner.errors import TunerError
from tuner.inference.gallery import render_gallery, spread_indices
from tuner.inference.native import NativeScorer, native_truth, overall
from tuner.inference.per_image import extremes, per_image_frame, score_images, summary_frame
from tuner.optuna_internals import storage_of
from tuner.storage import artifact_store, load_existing_study, storage_url
from tuner.training import Runtime, build_model, fit, predict_probabilities, resolve_runtime
from tuner.training.scoring import Normalize

#: the splits a stored trial can be scored on (``--split``); ``all``: the whole pool
SCORED_SPLITS = ("test", "val", "train", "all")
#: file types a gallery can be written as (PIL picks the format from the suffix)
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: images in each of the best and worst overlays
SHOWN = 4


@dataclass
class TrialModel:
    """A stored trial's model, ready to predict: ``note`` says how it was obtained when
    that was not from saved weights (one line), else ''."""

    trial: FrozenTrial
    cfg: TrainConfig
    model: nn.Module
    runtime: Runtime
    normalize: Normalize
    note: str = ""

    @property
    def weights(self) -> str:
        return "retrained" if self.note else "saved"


@dataclass
class Evaluation:
    """A trial's scores on ``split`` of ``dataset`` (``images`` of them), and why it was
    the one evaluated (``chosen``).

    At the training size (``training_size`` px, what the model saw): ``metrics`` (loss and
    micro scores, as the trial stored them), ``per_image`` and ``thresholds`` (the tables
    of :mod:`tuner.inference.per_image`). At each image's own size
    (:mod:`tuner.inference.native`): ``native`` (per image; None when not scored, and
    ``native_note`` says why) and ``native_metrics`` (micro); ``native_note`` also says
    when the own size is the training size (synthetic data). ``summary``: the per-image
    scores' mean ± sd and median [IQR] at both sizes; ``pictures``: ``best``, ``worst`` and
    ``gallery``."""

    trial: int
    split: str
    images: int
    metrics: dict[str, float]
    chosen: str = ""
    note: str = ""
    weights: str = "saved"
    dataset: str = ""
    threshold: float = 0.5
    per_image: pd.DataFrame = field(default_factory=pd.DataFrame)
    thresholds: pd.DataFrame = field(default_factory=pd.DataFrame)
    pictures: dict[str, Image.Image] = field(default_factory=dict)
    training_size: int = 0
    native: pd.DataFrame | None = None
    native_metrics: dict[str, float] = field(default_factory=dict)
    native_note: str = ""
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)


def check_picture_path(path: Path, option: str) -> None:
    """A path a picture can be written to, checked before any work is done."""
    if path.is_dir():
        raise TunerError(f"{option}: {str(path)!r} is a folder; expected a file name such "
                         "as gallery.png")
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise TunerError(f"{option}: got {str(path)!r}, expected a file ending in "
                         f"{', '.join(PICTURE_SUFFIXES)}")


def pick_trial(study: optuna.Study, number: int | None = None,
               best: bool = False) -> tuple[FrozenTrial, str]:
    """The trial to evaluate, and one line on why it was chosen: ``number``, which must be
    complete, or else (``best``, the default) :func:`winning_trial`."""
    if number is not None and best:
        raise TunerError("--trial and --best: got both, expected one of them")
    if number is None:
        return winning_trial(study)
    for trial in study.get_trials(deepcopy=False):
        if trial.number == number:
            if trial.state != TrialState.COMPLETE:
                raise TunerError(f"--trial {number}: the trial is {trial.state.name.lower()}"
                                 "; expected a completed trial (see tuner best)")
            return trial, f"trial {number} (val Dice {trial.value:.4f})"
    raise TunerError(f"--trial {number}: study {study.study_name!r} has no such trial")


def winning_trial(study: optuna.Study) -> tuple[FrozenTrial, str]:
    """The best trial (by validation Dice) of the study's winning configuration, the one a
    campaign freezes (:mod:`tuner.results.winner`: the best mean validation Dice over its
    repeats, not the luckiest single trial; ties within the repeat noise go to the
    cheaper), and the rule in words. A study still running has no winner yet."""
    from tuner.results.runs import choose_winner, searched_of, unfinished_trials

    name = study.study_name
    waiting = unfinished_trials(study)
    if waiting:
        raise TunerError(f"--best: study {name!r} has {waiting} trial(s) waiting or running;"
                         " its winner is chosen when it is finished (or pick one: --trial N)")
    done = records.ranked_trials(study)
    if not done:
        raise TunerError(no_completed_trial(study))
    searched = searched_of(study)
    if not searched:
        return done[0], (f"trial {done[0].number}, the best of the {len(done)} trials of "
                         "the study's one configuration")
    winner = choose_winner(study, searched)
    trial = next(t for t in done if t.number in winner.trials)  # done is ranked: the best
    return trial, (f"trial {trial.number}, the best of the {winner.n} trial(s) of the "
                   f"winning configuration ({winner.rule})")


def no_completed_trial(study: optuna.Study) -> str:
    """Why ``study`` has no trial to evaluate: no trial at all (run it first), or only
    pruned or failed ones (how many, and where to read why)."""
    name = study.study_name
    states = Counter(t.state for t in study.get_trials(deepcopy=False))
    if not states:
        return (f"study {name!r}: no completed trial to evaluate (no trials yet); run it "
                "first (tuner run STUDY_FILE)")
    held = ", ".join(f"{n} {'failed' if state == TrialState.FAIL else state.name.lower()}"
                     for state, n in sorted(states.items(), key=lambda item: item[0].value))
    which = "pruned" if TrialState.PRUNED in states else "fail"
    return (f"study {name!r}: no completed trial to evaluate ({held}); tuner best {name} "
            f"--state {which} says why; a run whose trials finish (another pruner, more "
            "epochs) gives one")


def stored_config(trial: FrozenTrial) -> TrainConfig:
    """The resolved config the trial trained with (``tuner.records.CONFIG``)."""
    stored = trial.user_attrs.get(records.CONFIG)
    if not stored:
        raise TunerError(f"trial {trial.number} has no stored config; expected a trial "
                         "run by tuner run")
    stored = dict(stored)
    if stored.get("arch", "unet") == "unet":  # stored before the classic UNet refused them:
        stored.pop("encoder_weights", None)   # they never changed what it trained
        stored.pop("freeze_encoder", None)
    return TrainConfig.from_dict(stored, f"trial {trial.number} config")


def saved_weights(study: optuna.Study, trial: FrozenTrial,
                  url: str) -> dict[str, torch.Tensor] | None:
    """The trial's saved state dict, or None when it was run without --save-weights."""
    metas = optuna.artifacts.get_all_artifact_meta(trial, storage=storage_of(study))
    saved = [m for m in metas if m.filename == records.WEIGHTS_ARTIFACT]
    if not saved:
        return None
    try:
        with artifact_store(url).open_reader(saved[-1].artifact_id) as reader:
            data = reader.read()
    except optuna.artifacts.exceptions.ArtifactNotFound:
        raise TunerError(f"trial {trial.number}: its weights file is not in the artifact "
                         "folder on this machine (set TUNER_ARTIFACTS to the shared "
                         "folder)") from None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def trial_normalizer(trial: FrozenTrial, cfg: TrainConfig) -> Normalize:
    """The normalisation the trial trained with: as it stored it
    (:data:`tuner.records.NORMALIZATION`), else (trials of older tuner) from its config:
    ``zscore`` decodes its training split again; ``imagenet`` and ``none`` need no data."""
    stored = trial.user_attrs.get(records.NORMALIZATION)
    if isinstance(stored, dict) and "kind" in stored:
        known = stored.get("mean") is not None
        return normalizer_from_stats((stored["mean"], stored["std"]) if known else None)
    train = build_splits(cfg).train if normalize_kind(cfg) == "zscore" else None
    return make_normalizer(cfg, train)


def trial_model(study: optuna.Study, trial: FrozenTrial, url: str | None,
                retrain: bool = True) -> TrialModel:
    """The trial's model: its saved best weights, or (``retrain``) the same config trained
    again with the same seed; without weights and ``retrain`` False, a TunerError."""
    url = storage_url(url)
    cfg = stored_config(trial)
    state = saved_weights(study, trial, url)
    if state is None:
        if not retrain:
            raise TunerError(f"trial {trial.number} of study {study.study_name!r} has no "
                             "saved weights; run the study with --save-weights (or score it "
                             "with tuner evaluate, which retrains it)")
        result = fit(cfg)
        note = (f"trial {trial.number} has no saved weights: retrained its config with "
                f"seed {cfg.seed} ({result.epochs_run} epochs, best val Dice "
                f"{result.best_val_dice:.4f}; stored {trial.value:.4f})")
        return TrialModel(trial, cfg, result.model, result.runtime, result.normalize, note)
    cfg = cfg.replace(f"trial {trial.number} config", encoder_weights="none")  # all saved
    model = build_model(cfg)
    model.load_state_dict(state)
    runtime = resolve_runtime(cfg)
    return TrialModel(trial, cfg, model.to(runtime.device), runtime, trial_normalizer(trial, cfg))


def scored_split(cfg: TrainConfig, split: str) -> Split:
    """``split`` of ``cfg.dataset`` (``all``: every image of its pool), not empty."""
    if split == "all":
        chosen = load_pool(cfg).everything()
    else:
        chosen = getattr(build_splits(cfg), split)
    if not len(chosen):
        raise TunerError(f"--split {split}: the {split} split of {cfg.dataset} is empty")
    return chosen


def check_split(split: str | None, dataset: str | None) -> str:
    """``--split``, defaulting to ``test`` (``all`` with ``--data``)."""
    if split is None:
        return "all" if dataset else "test"
    if split not in SCORED_SPLITS:
        raise TunerError(f"--split: got {split!r}, expected one of {', '.join(SCORED_SPLITS)}")
    return split


@dataclass(frozen=True)
class Choice:
    """What :func:`choose` found, every argument checked: the trial to evaluate, why it
    (``chosen``), on which ``split`` of which ``dataset`` (None: its own)."""

    url: str
    study: optuna.Study
    trial: FrozenTrial
    chosen: str
    split: str
    dataset: str | None = None


def choose(url: str | None, study_name: str, trial_number: int | None = None,
           dataset: str | None = None, split: str | None = None,
           best: bool = False) -> Choice:
    """Every check of :func:`evaluate_trial` before its work: the split, the study, the
    trial (:func:`pick_trial`), its stored config and ``dataset`` in it."""
    split = check_split(split, dataset)
    url = storage_url(url)
    study = load_existing_study(url, study_name)
    trial, chosen = pick_trial(study, trial_number, best)
    cfg = stored_config(trial)
    if dataset:
        cfg.replace("--data", dataset=dataset)
    return Choice(url, study, trial, chosen, split, dataset)


def evaluate_trial(url: str | None, study_name: str, trial_number: int | None = None,
                   dataset: str | None = None, split: str | None = None,
                   best: bool = False, native: bool = True) -> Evaluation:
    """Scores of a trial's model on ``split`` of its dataset (or of ``dataset``: all of it
    unless ``split`` says otherwise), at each image's own size (not with ``native``
    False) and at the training size. The trial is ``trial_number``, else (``best``, the
    default) the best trial of the winning configuration (:func:`winning_trial`)."""
    return evaluate_choice(choose(url, study_name, trial_number, dataset, split, best),
                           native)


def evaluate_choice(choice: Choice, native: bool = True) -> Evaluation:
    """:func:`evaluate_trial` of what :func:`choose` checked: the model, then its scores
    (one pass of the model: each batch is scored at the training size and, with
    ``native``, at each image's own size)."""
    trial, chosen, split, dataset = choice.trial, choice.chosen, choice.split, choice.dataset
    loaded = trial_model(choice.study, trial, choice.url)
    cfg = loaded.cfg.replace("--data", dataset=dataset) if dataset else loaded.cfg
    images = scored_split(cfg, split)
    scorer, note = None, "not scored at each image's own size (asked for the training size only)"
    if native:
        try:
            truth = native_truth(cfg, images)
        except TunerError as error:
            note = f"not scored at each image's own size: {error}"
        else:
            scorer, note = NativeScorer(truth, list(images.names), cfg.threshold), truth.note
    result = score_images(loaded.model, images, cfg, loaded.runtime, loaded.normalize,
                          scorer.add if scorer is not None else None)
    frame = per_image_frame(result)
    if scorer is not None and scorer.failed:
        scorer, note = None, f"not scored at each image's own size: {scorer.failed}"
    own = scorer.frame() if scorer is not None else None
    title = (f"trial {trial.number}, {split}: Dice {result.metrics['dice']:.3f} at "
             f"{cfg.image_size} px")
    return Evaluation(
        trial=trial.number, split=split, images=len(images), metrics=result.metrics,
        chosen=chosen, note=loaded.note, weights=loaded.weights, dataset=cfg.dataset,
        threshold=cfg.threshold, per_image=frame, thresholds=result.curve,
        pictures=overlays(loaded, images, frame, title), training_size=cfg.image_size,
        native=own, native_metrics=overall(own) if own is not None else {},
        native_note=note, summary=summary_frame(own, frame))


def overlays(loaded: TrialModel, images: Split, frame: pd.DataFrame,
             title: str) -> dict[str, Image.Image]:
    """``best`` and ``worst``: the :data:`SHOWN` best and worst images by Dice;
    ``gallery``: a spread of foreground fractions (as in training's galleries). Each
    picture is headed by ``title``."""
    best, worst = extremes(frame, SHOWN)
    chosen = {"best": (best, "best"), "worst": (worst, "worst"),
              "gallery": (spread_indices(images.foreground_shares), "")}
    pictures = {}
    for name, (index, which) in chosen.items():
        pixels, masks = images.tensors(index)
        probs = predict_probabilities(loaded.model, pixels, loaded.runtime, loaded.normalize)
        dice = frame["dice"].iloc[index]
        heading = (f"{title}; {which} {len(index)}: {dice.min():.3f}-{dice.max():.3f}"
                   if which else title)
        pictures[name] = render_gallery(pixels, masks, probs,
                                        loaded.cfg.threshold, heading)
    return pictures
