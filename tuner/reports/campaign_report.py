"""A campaign in the HTML report: its lineage (what each stage fixed, on what evidence)
and, in order, one section per stage study.

``tuner report CAMPAIGN`` names the campaign's record study (named like the campaign:
:mod:`tuner.study.campaign`); it expands to the lineage table and the stage studies
``CAMPAIGN/<stage>``, frozen ones first in the order they were frozen. The lineage says
what each stage cost: the trials it trained, their epochs and process CPU seconds.
"""

from __future__ import annotations

import html
import re
from typing import Any

import optuna

from tuner import records
from tuner.results.formatting import param, shared_text, winner_score
from tuner.storage import open_storage


def expand_campaigns(url: str | None, names: list[str]) -> tuple[list[str], list[str]]:
    """``names`` with each campaign replaced by its stage studies, and the lineage sections
    (HTML) of the campaigns among them."""
    storage = open_storage(url, create=False)
    existing = optuna.get_all_study_names(storage)
    studies, lineages = [], []
    for name in names:
        record = _record(storage, name) if name in existing else None
        if record is None:
            studies.append(name)
            continue
        stages = [f"{name}/{stage}" for stage in record]
        stages += sorted(n for n in existing if n.startswith(f"{name}/") and n not in stages)
        studies += [s for s in stages if s in existing]
        final = optuna.load_study(study_name=name, storage=storage).user_attrs.get(
            records.CAMPAIGN_FINAL)
        costs = {stage: stage_compute(optuna.load_study(study_name=f"{name}/{stage}",
                                                        storage=storage))
                 for stage in record if f"{name}/{stage}" in existing}
        lineages.append(lineage_html(name, record, final, costs))
    return studies, lineages


def _record(storage, name: str) -> dict[str, Any] | None:
    study = optuna.load_study(study_name=name, storage=storage)
    return study.user_attrs.get(records.CAMPAIGN)


def stage_compute(study: optuna.Study) -> dict[str, Any]:
    """What a stage's study trained: ``trials`` (with at least one epoch), ``epochs`` and
    ``cpu_seconds`` over them (None when some trial did not record its CPU seconds)."""
    trained = [t for t in study.get_trials(deepcopy=False)
               if (t.user_attrs.get(records.CURVES) or {}).get("val_dice")]
    cpu = [records.trial_costs(t.user_attrs)["cpu_seconds"] for t in trained]
    return {"trials": len(trained),
            "epochs": sum(len(t.user_attrs[records.CURVES]["val_dice"]) for t in trained),
            "cpu_seconds": None if None in cpu else sum(cpu)}


def compute_text(compute: dict[str, Any] | None) -> str:
    """``15 trials, 112 epochs, 93 CPU s`` ('CPU s not recorded' for an older study)."""
    if compute is None:
        return ""
    cpu = compute["cpu_seconds"]
    return (f"{compute['trials']} trials, {compute['epochs']} epochs, "
            + (f"{cpu:,.0f} CPU s" if cpu is not None else "CPU s not recorded"))


def lineage_html(name: str, record: dict[str, Any], final: dict[str, Any] | None,
                 costs: dict[str, dict[str, Any]] | None = None) -> str:
    """The lineage table of campaign ``name`` (and its final test scores, when stored);
    ``costs``: each stage's :func:`stage_compute`, in a column and in all."""
    rows, costs = [], costs or {}
    for stage, winner in record.items():
        fixed = ", ".join(f"{k} = {param(v, k)}" for k, v in winner["fields"].items())
        rows.append(
            "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in (
                stage, fixed, winner_score(winner), winner["n"],
                ", ".join(map(str, winner["trials"])), readable_rule(winner["rule"]),
                compute_text(costs.get(stage)))) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("stage", "fixes", "val Dice (mean ± sd)", "n",
                                              "trials", "why", "compute"))
    parts = [f"<h2>Campaign {html.escape(name)}: lineage</h2>",
             "<p class='note'>Each stage trained with the winners of the stages above it; a "
             "winner is the best mean validation Dice over its repeats, frozen when its stage "
             "completed.</p>",
             f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"]
    if costs:
        cpu = [c["cpu_seconds"] for c in costs.values()]
        total = compute_text({"trials": sum(c["trials"] for c in costs.values()),
                              "epochs": sum(c["epochs"] for c in costs.values()),
                              "cpu_seconds": None if None in cpu else sum(cpu)})
        parts.append(f"<p>Compute in all: {html.escape(total)} of training and validation "
                     "(process CPU seconds, which the machine's other work hardly changes; "
                     "the final test scores not counted).</p>")
    if final:
        parts.append(final_html(final))
    return "\n".join(parts)


#: ``name=number`` in a stored rule (``lr=9.062645026053133e-05``, ``n=3``)
_ASSIGNED_NUMBER = re.compile(r"\b([A-Za-z_]\w*)=([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
                              r"(?![\w.])")


def readable_rule(rule: str) -> str:
    """A winner's stored rule (:mod:`tuner.results.winner`, which writes its values as
    Python does) with each ``name=number`` written as the tables write it
    (``lr=9.1e-05``), and paths as shared."""
    def written(match: re.Match) -> str:
        key, text = match.groups()
        value = int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
        return f"{key}={param(value, key)}"

    return _ASSIGNED_NUMBER.sub(written, shared_text(rule))


def final_html(final: dict[str, Any]) -> str:
    """The winning configuration's scores on the held-out test images."""
    metrics = final.get("metrics", {})
    cells = "".join(f"<td>{metrics[k]:.3f}</td>" for k in metrics)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in metrics)
    spread = final.get("per_image_dice", {})
    words = (f"per-image Dice: mean {spread['image_dice_mean']:.3f} ± "
             f"{spread['image_dice_sd']:.3f}, median {spread['image_dice_median']:.3f}, "
             f"worst {spread['image_dice_min']:.3f}, best {spread['image_dice_max']:.3f}"
             if spread else "")
    return (f"<h3>Final test scores (trial {final.get('trial')}, "
            f"{html.escape(str(final.get('split', 'test')))} split)</h3>"
            f"<table><thead><tr>{head}</tr></thead><tbody><tr>{cells}</tr></tbody></table>"
            f"<p>{html.escape(words)}</p>")
