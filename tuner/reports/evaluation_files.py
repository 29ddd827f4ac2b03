"""The files of ``tuner evaluate``: scores, the per-image table, its summary, the threshold
curve, their plots and the overlays of the best and the worst images.

Scores at each image's own size have plain names (``dice``); those at the training size,
what the model saw and what the trial stored, end in :data:`AT_TRAINING_SIZE`
(``dice_at_training_size``, ``thresholds_at_training_size.csv``). What each file holds:
``docs/exports.md`` (section "tuner evaluate"). The plots are drawn from the tables, so
the CSV and the figure always say the same.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from tuner.inference.evaluation import PICTURE_SUFFIXES, Evaluation
from tuner.inference.native import NATIVE_COLUMNS
from tuner.reports.export import (
    check_output,
    default_out,
    folder_name,
    move_into_place,
    replacing,
    staged,
)
from tuner.reports.images import write_figures
from tuner.results.formatting import shared_text
from tuner.training.metrics import SCORE_NAMES

#: what the overall table holds besides the metrics: per-image Dice statistics
SPREAD = ("image_dice_mean", "image_dice_sd", "image_dice_median", "image_dice_min",
          "image_dice_max")
#: the suffix of every score at the training size (the model's input size)
AT_TRAINING_SIZE = "_at_training_size"
#: the per-image columns at the training size (``per_image.csv``, after the own-size ones)
TRAINING_COLUMNS = ("dice", "iou", "true_fraction", "predicted_fraction")
#: the CSV tables of an evaluation
TABLES = ("scores", "per_image", "summary", "thresholds" + AT_TRAINING_SIZE)


def default_folder(url: str | None, study_name: str, split: str,
                   dataset: str | None = None) -> Path:
    """``exports/<study>/evaluation/<split>/`` beside the storage (``<dataset>-<split>``
    for another dataset, as one :func:`~tuner.reports.export.folder_name`), so that
    evaluations of different data do not overwrite each other."""
    name = folder_name(f"{dataset}-{split}") if dataset else split
    return default_out(url, study_name) / "evaluation" / name


#: how errors name the evaluation's folder and gallery
FOLDER_WHAT, GALLERY_WHAT = "evaluation folder", "--gallery"
#: PIL's format of each gallery suffix (the temporary file's name has another suffix)
PICTURE_FORMATS = {suffix: "PNG" if suffix == ".png" else "JPEG" for suffix in PICTURE_SUFFIXES}


def check_folder(out: Path, gallery: Path | None = None) -> None:
    """Before any work: ``out`` is (or can become) a folder that can be written, and
    ``gallery`` a file that can be written; nothing is made."""
    check_output(out, FOLDER_WHAT)
    if gallery is not None:
        check_output(gallery, GALLERY_WHAT, folder=False)


def spread(per_image: pd.DataFrame) -> dict[str, float]:
    """Mean, standard deviation, median, min and max of the per-image Dice."""
    dice = per_image["dice"]
    sd = dice.std() if len(dice) > 1 else float("nan")
    return dict(zip(SPREAD, (dice.mean(), sd, dice.median(), dice.min(), dice.max()),
                    strict=True))


def at_training_size(values: dict[str, float]) -> dict[str, float]:
    return {f"{name}{AT_TRAINING_SIZE}": value for name, value in values.items()}


def scores_frame(result: Evaluation, study_name: str) -> pd.DataFrame:
    """One row: which trial, weights and data; the overall scores and the per-image Dice
    spread at each image's own size (empty when not scored there: ``own_size`` says why),
    with the images whose truth or prediction is empty and those HD95 is undefined on;
    then the same at the training size (with the loss: the trial's stored scores)."""
    own = result.native
    nan = float("nan")
    if own is None:
        native = {**dict.fromkeys(SCORE_NAMES, nan), **dict.fromkeys(SPREAD, nan),
                  "images_empty_truth": nan, "images_empty_prediction": nan,
                  "hd95_undefined": nan}
    else:
        native = {**result.native_metrics, **spread(own),
                  "images_empty_truth": int((own["tp"] + own["fn"] == 0).sum()),
                  "images_empty_prediction": int((own["tp"] + own["fp"] == 0).sum()),
                  "hd95_undefined": int(own["hd95_px"].isna().sum())}
    return pd.DataFrame([{
        "study": study_name, "trial": result.trial, "weights": result.weights,
        "dataset": shared_text(result.dataset), "split": result.split,
        "images": result.images,
        "threshold": result.threshold, "training_size": result.training_size,
        "own_size": result.native_note or "each image's own size, from its files",
        **native, **at_training_size(result.metrics),
        **at_training_size(spread(result.per_image))}])


def per_image_table(result: Evaluation) -> pd.DataFrame:
    """``per_image.csv``: one row per image in split order, the own-size columns
    (:data:`~tuner.inference.native.NATIVE_COLUMNS`; empty when not scored there), then
    :data:`TRAINING_COLUMNS` at the training size."""
    own = result.native if result.native is not None else result.per_image[["image"]]
    own = own.reindex(columns=list(NATIVE_COLUMNS)).reset_index(drop=True)
    training = result.per_image[list(TRAINING_COLUMNS)].add_suffix(AT_TRAINING_SIZE)
    return pd.concat([own, training.reset_index(drop=True)], axis=1)


def dice_histogram(result: Evaluation) -> go.Figure:
    """The distribution of per-image Dice at each image's own size (at the training size
    when not scored there), with the overall (micro) Dice and the per-image mean marked."""
    if result.native is not None:
        frame, micro, where = result.native, result.native_metrics["dice"], "own size"
    else:
        frame, micro = result.per_image, result.metrics["dice"]
        where = f"training size, {result.training_size} px"
    fig = go.Figure(go.Histogram(x=frame["dice"], xbins=dict(start=0, end=1.0001, size=0.05),
                                 hovertext=frame["image"], name="images"))
    fig.add_vline(x=micro, line_dash="dash", annotation_text="overall")
    fig.add_vline(x=frame["dice"].mean(), line_dash="dot",
                  annotation_text="per-image mean", annotation_position="bottom left")
    fig.update_layout(title=f"Dice per image at its {where}: trial {result.trial}, "
                      f"{result.split} ({result.images} images)", xaxis_title="Dice",
                      yaxis_title="images", xaxis_range=[0, 1], bargap=0.05)
    return fig


def threshold_plot(result: Evaluation) -> go.Figure:
    """Dice (overall and mean per image) against the decision threshold; the trial's
    threshold is marked."""
    curve = result.thresholds
    fig = go.Figure()
    for column, name in (("dice", "Dice (overall)"), ("mean_image_dice", "Dice (mean per "
                                                                         "image)")):
        fig.add_trace(go.Scatter(x=curve["threshold"], y=curve[column], name=name,
                                 mode="lines+markers"))
    fig.add_vline(x=result.threshold, line_dash="dash", annotation_text="threshold used")
    fig.update_layout(title=f"Dice by decision threshold at the training size "
                      f"({result.training_size} px): trial {result.trial}, {result.split}",
                      xaxis_title="threshold", yaxis_title="Dice",
                      xaxis_range=[0, 1])
    return fig


def write_evaluation(result: Evaluation, study_name: str, out: Path,
                     gallery: Path | None = None) -> list[Path]:
    """Write every file of ``result`` into ``out`` (and its gallery to ``gallery``); the
    paths written. Checked first, staged, moved into place only when all were written: a
    failure leaves none of them."""
    check_folder(out, gallery)
    with staged(out, FOLDER_WHAT) as staging:
        written = []
        tables = (scores_frame(result, study_name), per_image_table(result), result.summary,
                  result.thresholds)
        for name, frame in zip(TABLES, tables, strict=True):
            path = staging / f"{name}.csv"
            frame.to_csv(path, index=False)
            written.append(path)
        figures = {"per_image_dice": dice_histogram(result),
                   "dice_by_threshold": threshold_plot(result)}
        written += write_figures(figures, staging / "plots", {"html", "png"})
        for name in ("best", "worst"):
            path = staging / f"{name}.png"
            result.pictures[name].save(path)
            written.append(path)
        if gallery is None:
            return move_into_place(staging, written, out)
        with replacing(gallery, GALLERY_WHAT) as temp:
            result.pictures["gallery"].save(temp, format=PICTURE_FORMATS[
                gallery.suffix.lower()])
            return move_into_place(staging, written, out)
