"""The files of ``tuner evaluate``: scores, the per-image table, the threshold curve, their
plots and the overlays of the best and the worst images.

What each file holds: ``docs/exports.md`` (section "tuner evaluate"). The plots are drawn
from the tables, so the CSV and the figure always say the same.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from tuner.errors import TunerError
from tuner.inference.evaluation import Evaluation
from tuner.reports.export import default_out, safe_name, write_figures

#: what the overall table holds besides the metrics: per-image Dice statistics
SPREAD = ("image_dice_mean", "image_dice_sd", "image_dice_median", "image_dice_min",
          "image_dice_max")


def default_folder(url: str | None, study_name: str, split: str,
                   dataset: str | None = None) -> Path:
    """``exports/<study>/evaluation/<split>/`` beside the storage (``<dataset>-<split>``
    for another dataset), so that evaluations of different data do not overwrite each
    other."""
    name = f"{safe_name(dataset)}-{split}" if dataset else split
    return default_out(url, study_name) / "evaluation" / name


def check_folder(out: Path) -> None:
    """``out`` is a folder that can be written (created if missing), before any work."""
    if out.exists() and not out.is_dir():
        raise TunerError(f"--out: {str(out)!r} exists and is not a folder; expected a "
                         "folder for the evaluation files")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TunerError(f"--out: cannot write to {str(out)!r} ({exc.strerror or exc})"
                         ) from None


def spread(per_image: pd.DataFrame) -> dict[str, float]:
    """Mean, standard deviation, median, min and max of the per-image Dice."""
    dice = per_image["dice"]
    sd = dice.std() if len(dice) > 1 else float("nan")
    return dict(zip(SPREAD, (dice.mean(), sd, dice.median(), dice.min(), dice.max()),
                    strict=True))


def scores_frame(result: Evaluation, study_name: str) -> pd.DataFrame:
    """One row: which trial, weights and data, the overall scores and the per-image
    spread."""
    return pd.DataFrame([{
        "study": study_name, "trial": result.trial, "weights": result.weights,
        "dataset": result.dataset, "split": result.split, "images": result.images,
        "threshold": result.threshold, **result.metrics, **spread(result.per_image)}])


def dice_histogram(result: Evaluation) -> go.Figure:
    """The distribution of per-image Dice, with the overall (micro) Dice and the per-image
    mean marked."""
    fig = go.Figure(go.Histogram(x=result.per_image["dice"], xbins=dict(start=0, end=1.0001,
                                                                        size=0.05),
                                 hovertext=result.per_image["image"], name="images"))
    fig.add_vline(x=result.metrics["dice"], line_dash="dash", annotation_text="overall")
    fig.add_vline(x=result.per_image["dice"].mean(), line_dash="dot",
                  annotation_text="per-image mean", annotation_position="bottom left")
    fig.update_layout(title=f"Dice per image: trial {result.trial}, {result.split} "
                      f"({result.images} images)", xaxis_title="Dice",
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
    fig.update_layout(title=f"Dice by decision threshold: trial {result.trial}, "
                      f"{result.split}", xaxis_title="threshold", yaxis_title="Dice",
                      xaxis_range=[0, 1])
    return fig


def write_evaluation(result: Evaluation, study_name: str, out: Path) -> list[Path]:
    """Write every file of ``result`` into ``out``; the paths written."""
    check_folder(out)
    written = []
    for name, frame in (("scores", scores_frame(result, study_name)),
                        ("per_image", result.per_image), ("thresholds", result.thresholds)):
        path = out / f"{name}.csv"
        frame.to_csv(path, index=False)
        written.append(path)
    figures = {"per_image_dice": dice_histogram(result),
               "dice_by_threshold": threshold_plot(result)}
    written += write_figures(figures, out / "plots", {"html", "png"})
    for name in ("best", "worst"):
        path = out / f"{name}.png"
        result.pictures[name].save(path)
        written.append(path)
    return written
