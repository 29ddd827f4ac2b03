"""``tuner campaign``: run a campaign's stages in order, freezing each stage's winner."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from tuner.cli.common import (
    DataOption,
    SetOption,
    StorageOption,
    console,
    errors,
    heavy_imports,
    overrides_of,
    quiet_optuna,
    user_errors,
)
from tuner.cli.run import WORKERS_ENV, execute_study, parse_workers, standby_workers
from tuner.results.formatting import winner_score
from tuner.storage import STORAGE_ENV, redact, storage_url
from tuner.study import standby


@user_errors
def campaign_command(
    campaign_file: Annotated[Path, typer.Argument(help="A campaign file, e.g. "
                                                       "studies/campaign.py")],
    storage: StorageOption = None,
    data: DataOption = None,
    sets: SetOption = None,
    n_trials: Annotated[int | None, typer.Option(
        "--n-trials", min=1, help="Trials of every sampled stage, in all (default: each "
        "stage's own n_trials); grid stages run their grid. Every stage runs in this one "
        "command")] = None,
    workers: Annotated[str, typer.Option(
        "--workers", envvar=WORKERS_ENV, show_envvar=True,
        help="Worker processes on this machine: 'auto' or a number")] = "auto",
    save_weights: Annotated[bool, typer.Option(
        "--save-weights", help="Store each finished trial's best weights")] = False,
    status: Annotated[bool, typer.Option(
        "--status", help="Only show each stage's state and frozen winner (the lineage)")
    ] = False,
) -> None:
    """Run a campaign's stages in order: each stage is the study CAMPAIGN/STAGE, fixing the
    frozen winners of the stages before; rerun the same command to resume."""
    requested = parse_workers(workers)
    overrides = overrides_of(sets, data)  # a mistyped --set costs no worker
    with standby_workers(0 if status else standby.standby_count(requested, n_trials)):
        from tuner.storage import open_storage
        from tuner.study.campaign import load_campaign, read_record

        if storage:
            os.environ[STORAGE_ENV] = storage
        quiet_optuna()
        campaign = load_campaign(campaign_file)
        url = storage_url(storage)
        if status:
            console.print(lineage_table(campaign, read_record(open_storage(url, create=False),
                                                              campaign)))
            return
        if n_trials is not None:
            errors.print(f"--n-trials {n_trials}: every sampled stage runs {n_trials} trials "
                         "in all (its own n_trials set aside); grid stages run their grid")
        record = run_campaign(campaign, url, overrides, n_trials, requested, save_weights)
        console.print(lineage_table(campaign, record, n_trials))
        done = len(record) == len(campaign.stages)
        if done:
            final_test_scores(campaign, url)
        console.print(f"campaign {campaign.name!r} in {redact(url)}: "
                      + ("every stage frozen" if done else f"{len(record)} of "
                         f"{len(campaign.stages)} stages frozen; rerun the same command to go on"))


def run_campaign(campaign, url: str, overrides: dict, n_trials: int | None,
                 requested_workers: int | None, save_weights: bool) -> dict:
    """Run the stages in order until one is unfinished; returns the record."""
    with heavy_imports():
        from tuner.results.runs import choose_winner
        from tuner.storage import open_storage
        from tuner.study.campaign import fixed_by, freeze_winner, read_record
        from tuner.study.checks import searched_fields
        from tuner.study.runner import RunOptions

    storage = open_storage(url)
    record = read_record(storage, campaign)
    for stage in campaign.stages:
        if stage.name in record:
            errors.print(f"stage {stage.name!r}: frozen ({_fields(record[stage.name])})")
            continue
        spec = campaign.spec(stage, fixed_by(campaign, record, stage), n_trials)
        options = RunOptions(storage=url, overrides=overrides, save_weights=save_weights,
                             stage=stage.name, stage_n_trials=n_trials)
        errors.print(f"stage {stage.name!r} of campaign {campaign.name!r}")
        outcome = execute_study(spec, options, requested_workers)
        if outcome.failed:
            raise typer.Exit(1)
        if outcome.left:
            errors.print(f"stage {stage.name!r}: {outcome.left} trial(s) left; its winner "
                         "is chosen when it is complete")
            return record
        study = _load(storage, spec.name)
        winner = choose_winner(study, sorted(searched_fields(spec))).as_record()
        record = freeze_winner(storage, campaign, stage, winner)
        errors.print(f"stage {stage.name!r}: winner frozen: {winner['rule']}")
    return record


def final_test_scores(campaign, url: str) -> dict:
    """The end of a campaign: the last stage's winning configuration scored on the held-out
    test split, once; stored in the campaign's record and written as files under
    ``exports/<campaign>/evaluation/test/``."""
    import optuna

    from tuner import records
    from tuner.inference.evaluation import evaluate_trial
    from tuner.reports.evaluation_files import default_folder, spread, write_evaluation
    from tuner.storage import open_storage

    holder = optuna.load_study(study_name=campaign.name, storage=open_storage(url))
    final = holder.user_attrs.get(records.CAMPAIGN_FINAL)
    if final is None:
        last = campaign.study_name(campaign.stages[-1])
        result = evaluate_trial(url, last, best=True)
        errors.print(f"final test scores: {result.chosen}" + (f"; {result.note}"
                                                               if result.note else ""))
        folder = default_folder(url, campaign.name, result.split)
        write_evaluation(result, last, folder)
        final = {"study": last, "trial": result.trial, "split": result.split,
                 "metrics": result.metrics, "per_image_dice": spread(result.per_image),
                 "files": str(folder)}
        holder.set_user_attr(records.CAMPAIGN_FINAL, final)
    scores = "  ".join(f"{k} {v:.3f}" for k, v in final["metrics"].items())
    console.print(f"final test scores of {final['study']} trial {final['trial']}: {scores} "
                  f"({final['files']})")
    return final


def lineage_table(campaign, record: dict, n_trials: int | None = None) -> Table:
    """Stage, study, its budget, state, what it fixes for later stages, its score and the
    winner's trials; ``n_trials``: ``--n-trials``, the budget of every sampled stage."""
    table = Table(title=f"campaign {campaign.name!r}: each stage fixes the winners above it")
    for column in ("stage", "study", "budget", "state", "fixes", "val Dice", "n", "trials"):
        table.add_column(column)
    for stage in campaign.stages:
        winner = record.get(stage.name)
        cells = [stage.name, campaign.study_name(stage), _budget(campaign, stage, n_trials)]
        if winner is None:
            table.add_row(*cells, "to run", "", "", "", "")
            continue
        table.add_row(*cells, "frozen", _fields(winner), winner_score(winner),
                      str(winner["n"]), ", ".join(map(str, winner["trials"])))
    return table


def _budget(campaign, stage, n_trials: int | None) -> str:
    """``grid 5 x 2 repeats`` or ``25 trials (tpe)``: what the stage runs to be complete."""
    spec = campaign.spec(stage, {}, n_trials)
    if spec.is_grid:
        points = len(spec.grid_points())
        return f"grid {points}" + (f" x {spec.repeats} repeats" if spec.repeats > 1 else "")
    return f"{spec.default_n_trials()} trials ({spec.sampler})"


def _fields(winner: dict) -> str:
    return ", ".join(f"{k}={_short(v)}" for k, v in winner["fields"].items())


def _short(value) -> str:
    return f"{value:.2e}" if isinstance(value, float) and 0 < abs(value) < 1e-2 else str(value)


def _load(storage, name: str):
    import optuna

    return optuna.load_study(study_name=name, storage=storage)
