"""``tuner evaluate`` and ``tuner predict``: a stored trial's model on held-out images, and
on new images without masks.

Thin handlers over :func:`tuner.api.evaluate` and :func:`tuner.api.predict`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuner.cli.common import DataOption, StorageOption, console, errors, quiet_optuna, user_errors

TrialOption = Annotated[int | None, typer.Option(
    "--trial", help="Trial number (default: --best)", show_default=False)]
BestOption = Annotated[bool, typer.Option(
    "--best", help="The best trial of the configuration with the best mean validation Dice "
    "over its repeats (the default)")]


@user_errors
def evaluate_command(
    study: Annotated[str, typer.Argument(help="Study name (see 'tuner studies')")],
    storage: StorageOption = None,
    trial: TrialOption = None,
    best: BestOption = False,
    data: DataOption = None,
    split: Annotated[str | None, typer.Option(
        "--split", help="test | val | train | all; default test (all with --data)",
        show_default=False)] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder of the evaluation files; default "
        "storage/exports/STUDY/evaluation/SPLIT beside the storage", show_default=False)
    ] = None,
    gallery: Annotated[Path | None, typer.Option(
        "--gallery", help="Also write a prediction gallery PNG here")] = None,
) -> None:
    """Score a trial's best weights (tuner run --save-weights; without them the trial is
    retrained with its config and seed) on a split of its dataset, or on every image of
    another one with --data: overall and per-image scores, Dice by threshold, plots and
    the best and worst images (docs/exports.md)."""
    quiet_optuna()
    from tuner import api
    from tuner.reports.evaluation_files import spread

    result, folder = api.evaluate(study, storage=storage, trial=trial, best=best, split=split,
                                  data=data, out=out, gallery=gallery)
    if result.note:
        errors.print(f"note: {result.note}", markup=False, highlight=False)
    scores = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
    console.print(result.chosen, markup=False, highlight=False)
    console.print(f"trial {result.trial}, {result.split} split ({result.images} images of "
                  f"{result.dataset}, {result.weights} weights): {scores}",
                  markup=False, highlight=False)
    console.print("Dice per image: " + ", ".join(
        f"{k.removeprefix('image_dice_')} {v:.4f}" for k, v in spread(result.per_image).items()),
        markup=False, highlight=False)
    console.print(f"files: {folder}", markup=False, highlight=False)
    if gallery is not None:
        console.print(f"gallery: {gallery}", markup=False, highlight=False)


@user_errors
def predict_command(
    study: Annotated[str, typer.Argument(help="Study name (see 'tuner studies')")],
    images: Annotated[Path, typer.Option(
        "--images", help="Folder of images (png, jpg, tif, bmp); no masks needed",
        show_default=False)],
    out: Annotated[Path, typer.Option(
        "--out", help="Folder for the masks: one PNG per image, 0 and 255, at the image's "
        "size", show_default=False)],
    storage: StorageOption = None,
    trial: TrialOption = None,
    best: BestOption = False,
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="Foreground probability above which a pixel is foreground; "
        "default: the trial's threshold", show_default=False)] = None,
    probabilities: Annotated[bool, typer.Option(
        "--probabilities", help="Also write each probability map (0-255) to "
        "OUT/probabilities/")] = False,
) -> None:
    """Write a mask for every image of a folder with a trial's saved weights (tuner run
    --save-weights). Exit 0 when every image got its mask, 1 when some files could not be
    read (each named on stderr), 2 for a mistake in the command."""
    quiet_optuna()
    from tuner import api

    result = api.predict(study, images=images, out=out, storage=storage, trial=trial,
                         best=best, threshold=threshold, probabilities=probabilities,
                         console=errors)
    console.print(result.chosen, markup=False, highlight=False)
    skipped = (f"; {len(result.skipped)} file(s) skipped (named above)" if result.skipped
               else "")
    console.print(f"wrote {len(result.written)} masks to {out} (threshold "
                  f"{result.threshold:g}){skipped}", markup=False, highlight=False)
    if result.skipped:
        raise typer.Exit(1)
