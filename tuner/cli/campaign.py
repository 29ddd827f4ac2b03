"""``tuner campaign``: run a campaign's stages in order, freezing each stage's winner
(:func:`tuner.api.run_campaign`), or show its lineage (``--status``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tuner.arguments import whole_number
from tuner.cli.common import (
    DataOption,
    SetOption,
    StorageOption,
    WorkersOption,
    console,
    errors,
    quiet_optuna,
    user_errors,
)
from tuner.errors import TrialsFailed


@user_errors
def campaign_command(
    campaign_file: Annotated[Path, typer.Argument(help="A campaign file, e.g. "
                                                       "studies/campaign.py")],
    storage: StorageOption = None,
    data: DataOption = None,
    sets: SetOption = None,
    n_trials: Annotated[int | None, typer.Option(
        "--n-trials", help="Trials of every sampled stage, in all (default: each stage's "
        "own n_trials); grid stages run their grid. Every stage runs in this one command",
        show_default=False)] = None,
    workers: WorkersOption = "auto",
    save_weights: Annotated[bool, typer.Option(
        "--save-weights", help="Store each finished trial's best weights")] = False,
    status: Annotated[bool, typer.Option(
        "--status", help="Only show each stage's state and frozen winner (the lineage)")
    ] = False,
) -> None:
    """Run a campaign's stages in order: each stage is the study CAMPAIGN/STAGE, fixing the
    frozen winners of the stages before; rerun the same command to resume.

    Ctrl-C (exit 130) or SIGTERM (exit 143) is answered at once with a
    line and stops the running stage as tuner run does: its running
    trials go back to the queue, and the next run resumes them first;
    between stages and during the final test scores it stops at once."""
    from tuner import api
    from tuner.storage import redact, storage_url

    if status:
        quiet_optuna()
        n_trials = whole_number("--n-trials", n_trials)
        console.print(lineage_table(api.campaign_status(campaign_file, storage), n_trials))
        return
    try:
        result = api.run_campaign(campaign_file, storage=storage, data=data, sets=sets,
                                  n_trials=n_trials, workers=workers,
                                  save_weights=save_weights, console=errors, results=console)
    except TrialsFailed:
        raise typer.Exit(1) from None
    console.print(lineage_table(result, n_trials))
    if result.final is not None:
        scores = "  ".join(f"{k} {v:.3f}" for k, v in result.final["metrics"].items())
        where = result.final.get("scored_at", "the training size")
        console.print(f"final test scores of {result.final['study']} trial "
                      f"{result.final['trial']} (at {where}): {scores} "
                      f"({result.final['files']})")
    stages = len(result.campaign.stages)
    console.print(f"campaign {result.campaign.name!r} in {redact(storage_url(storage))}: "
                  + ("every stage frozen" if result.done else f"{len(result.record)} of "
                     f"{stages} stages frozen; rerun the same command to go on"))
    if result.failed:
        raise typer.Exit(1)


def lineage_table(result, n_trials: int | None = None) -> Table:
    """Stage, study, its budget, state, what it fixes for later stages, its score and the
    winner's trials. A frozen stage's budget is the one it ran with (kept with its winner);
    another stage's is what this command gives it: ``n_trials`` (``--n-trials``) for a
    sampled stage, else its own."""
    from tuner.results.formatting import param, winner_score

    campaign = result.campaign
    table = Table(title=f"campaign {campaign.name!r}: each stage fixes the winners above it")
    for column in ("stage", "study", "budget", "state", "fixes", "val Dice", "n", "trials"):
        table.add_column(column)
    for stage in campaign.stages:
        winner = result.record.get(stage.name)
        cells = [stage.name, campaign.study_name(stage),
                 (winner or {}).get("budget") or _budget(campaign, stage, n_trials)]
        if winner is None:
            table.add_row(*cells, _unfrozen_state(result.trials.get(stage.name)), "", "", "",
                          "")
            continue
        fixes = ", ".join(f"{k}={param(v, k)}" for k, v in winner["fields"].items())
        table.add_row(*cells, "frozen", fixes, winner_score(winner), str(winner["n"]),
                      ", ".join(map(str, winner["trials"])))
    return table


def _unfrozen_state(trials: dict[str, int] | None) -> str:
    """``to run``, or what a stage not frozen yet holds: ``2 complete, 2 failed``."""
    if not trials:
        return "to run"
    words = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed",
             "RUNNING": "running", "WAITING": "waiting"}
    held = ", ".join(f"{n} {words.get(state, state.lower())}" for state, n in trials.items())
    return f"unfinished: {held}"


def _budget(campaign, stage, n_trials: int | None) -> str:
    """``grid 5 x 2 repeats`` or ``25 trials (tpe)``: what the stage runs to be complete."""
    from tuner.study.campaign import stage_budget

    return stage_budget(campaign.spec(stage, {}, n_trials))
