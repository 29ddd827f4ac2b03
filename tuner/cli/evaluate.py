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
    training_size_only: Annotated[bool, typer.Option(
        "--training-size-only", help="Score at the training size only (the mask files are "
        "not read again at each image's own size)")] = False,
) -> None:
    """Score a trial's best weights (tuner run --save-weights; without them the trial is
    retrained with its config and seed) on a split of its dataset, or on every image of
    another one with --data: overall and per-image scores at each image's own size (HD95
    and average surface distance in its pixels) and at the training size, Dice by
    threshold, plots and the best and worst images (docs/exports.md)."""
    quiet_optuna()
    from tuner import api

    result, folder = api.evaluate(study, storage=storage, trial=trial, best=best, split=split,
                                  data=data, out=out, gallery=gallery,
                                  native=not training_size_only)
    if result.note:
        errors.print(f"note: {result.note}", markup=False, highlight=False)
    console.print(_readable(result.chosen), markup=False, highlight=False)
    console.print(f"trial {result.trial}, {result.split} split ({result.images} images of "
                  f"{result.dataset}, {result.weights} weights)", markup=False, highlight=False)
    for line in score_lines(result):
        console.print(line, markup=False, highlight=False)
    console.print(f"files: {folder}", markup=False, highlight=False)
    if gallery is not None:
        console.print(f"gallery: {gallery}", markup=False, highlight=False)


def score_lines(result) -> list[str]:
    """The scores in a few lines: at each image's own size (or why not), then at the
    training size; per-image scores as mean ± sd and median [IQR] (``summary.csv``)."""
    summary = {(row.metric, row.size): row for row in result.summary.itertuples()}

    def per_image(size: str, metrics: tuple[str, ...]) -> str:
        parts = []
        for metric in metrics:
            row = summary.get((metric, size))
            if row is not None and row.images:
                undefined = f", undefined on {row.undefined}" if row.undefined else ""
                parts.append(f"{metric} {row.mean_sd}, median [IQR] {row.median_iqr}"
                             f"{undefined}")
        return "  per image: " + "; ".join(parts)

    lines = []
    if result.native is not None:
        scores = "  ".join(f"{k} {v:.4f}" for k, v in result.native_metrics.items())
        lines += [f"at each image's own size: {scores}",
                  per_image("own", ("dice", "hd95_px", "asd_px"))]
    if result.native_note:
        lines.append(f"  ({result.native_note})")
    scores = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
    lines += [f"at the training size ({result.training_size} px): {scores}",
              per_image("training", ("dice",))]
    return lines


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
    max_image_pixels: Annotated[int | None, typer.Option(
        "--max-image-pixels", show_default=False,
        help="Larger images are skipped; default: the trial's max_image_pixels")] = None,
) -> None:
    """Write a mask for every image of a folder with a trial's saved weights (tuner run
    --save-weights). Exit 0 when every image got its mask, 1 when some files could not be
    read (each named on stderr), 2 for a mistake in the command."""
    quiet_optuna()
    from tuner import api

    result = api.predict(study, images=images, out=out, storage=storage, trial=trial,
                         best=best, threshold=threshold, probabilities=probabilities,
                         console=errors, max_image_pixels=max_image_pixels)
    console.print(_readable(result.chosen), markup=False, highlight=False)
    skipped = (f"; {len(result.skipped)} file(s) skipped (named above)" if result.skipped
               else "")
    console.print(f"wrote {len(result.written)} masks to {out} (threshold "
                  f"{result.threshold:g}){skipped}", markup=False, highlight=False)
    if result.skipped:
        raise typer.Exit(1)


def _readable(chosen: str) -> str:
    """Why the trial was chosen, numbers as the tables write them (``lr=9.1e-05``)."""
    from tuner.reports.campaign_report import readable_rule

    return readable_rule(chosen)
