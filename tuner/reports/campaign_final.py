"""The end of a campaign: the last stage's winning configuration scored on the held-out test
split, once, kept in the campaign's record and written as the files of ``tuner evaluate``
under ``exports/<campaign>/evaluation/test/``.

The scoring and the files write nothing to the storage, so a stop asked for meanwhile
(Ctrl-C, SIGTERM) ends them at once (``at_once``: :meth:`tuner.stop_notice.StopNotice.at_once`);
the scores are stored only after both, so an interrupted campaign scores its winner again
when it is run again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from tuner.inference.evaluation import evaluate_trial
from tuner.reports.campaign_report import readable_rule
from tuner.reports.evaluation_files import default_folder, spread, write_evaluation
from tuner.storage import open_storage
from tuner.study.campaign import read_final, store_final


def final_test_scores(campaign, url: str, say: Callable[[str], None],
                      at_once: Callable[[], contextlib.AbstractContextManager] | None = None
                      ) -> dict[str, Any]:
    """The campaign's final test scores, computed and stored on its first call.
    ``metrics`` and ``per_image_dice`` are at each image's own size (``scored_at`` says
    which size, and why when it is the training size), with HD95 and ASD in
    ``per_image``; the same at the training size (the trial's stored test scores) under
    ``..._at_training_size``."""
    storage = open_storage(url)
    final = read_final(storage, campaign)
    if final is not None:
        return final
    last = campaign.study_name(campaign.stages[-1])
    with (at_once or contextlib.nullcontext)():
        result = evaluate_trial(url, last, best=True)
        say(f"final test scores: {readable_rule(result.chosen)}"
            + (f"; {result.note}" if result.note else ""))
        folder = default_folder(url, campaign.name, result.split)
        write_evaluation(result, last, folder)
    own = result.native is not None
    summary = result.summary[result.summary["size"] == "own"]
    final = {"study": last, "trial": result.trial, "split": result.split,
             "scored_at": "each image's own size" if own else
             f"the training size ({result.training_size} px)",
             "metrics": result.native_metrics if own else result.metrics,
             "per_image_dice": spread(result.native if own else result.per_image),
             "per_image": {row["metric"]: {k: row[k] for k in (
                 "images", "undefined", "mean", "sd", "median", "q1", "q3")}
                 for row in summary.to_dict("records")},
             "metrics_at_training_size": result.metrics,
             "per_image_dice_at_training_size": spread(result.per_image),
             "files": str(folder)}
    if result.native_note:
        final["note"] = result.native_note
    store_final(storage, campaign, final)
    return final
