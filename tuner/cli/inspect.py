"""``tuner studies`` and ``tuner best``: reading what studies stored (never creating
anything: a database Optuna never wrote to holds no studies)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from tuner.cli.common import StorageOption, console, quiet_optuna, user_errors
from tuner.errors import TunerError
from tuner.storage import holds_no_studies, load_existing_study, open_storage, redact
from tuner.storage import storage_url as resolve_storage_url


@user_errors
def studies_command(storage: StorageOption = None) -> None:
    """List the studies in the storage with their trial counts and best value."""
    quiet_optuna()
    from tuner.reports.console import studies_table

    stored = open_storage(storage, create=False)
    if holds_no_studies(stored):
        console.print(f"no studies in {redact(resolve_storage_url(storage))} yet "
                      "(tuner run STUDY.py stores one)", markup=False, highlight=False)
        return
    console.print(studies_table(stored))


@user_errors
def best_command(
    study: Annotated[str, typer.Argument(help="Study name (see 'tuner studies')")],
    storage: StorageOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many configurations")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
    state: Annotated[str, typer.Option(
        "--state", help="complete (configurations by mean validation Dice, the winner "
        "marked) | pruned | fail (newest first, with where or why)")] = "complete",
) -> None:
    """The best configurations of a study by the winner rule (mean validation Dice over
    their runs, as the report and the campaign), or its pruned or failed trials."""
    quiet_optuna()
    from tuner.records import trial_params
    from tuner.reports.console import best_trials_table, standing_row, standings
    from tuner.reports.unfinished import STATES, trials_in_state, unfinished_table, why

    if fmt not in ("table", "json", "csv"):
        raise TunerError(f"--format: got {fmt!r}, expected table, json or csv")
    if state != "complete" and state not in STATES:
        raise TunerError(f"--state: got {state!r}, expected complete, {', '.join(STATES)}")
    loaded = load_existing_study(storage, study)
    if fmt == "table":
        console.print(best_trials_table(loaded, top) if state == "complete"
                      else unfinished_table(loaded, state, top))
        return
    if state != "complete":
        trials = trials_in_state(loaded, state, top)
        rows = [{"number": t.number, "state": t.state.name, **trial_params(t),
                 "why": why(t)} for t in trials]
        _write_rows(rows, fmt)
        return
    rows = [standing_row(s) for s in standings(loaded, top)]
    if fmt == "csv":  # one cell per value: the run numbers space-separated
        rows = [{**r, "trials": " ".join(map(str, r["trials"]))} for r in rows]
    _write_rows(rows, fmt)


def _write_rows(rows: list[dict], fmt: str) -> None:
    """``rows`` on stdout as JSON or CSV."""
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    import pandas as pd

    sys.stdout.write(pd.DataFrame(rows).to_csv(index=False))
