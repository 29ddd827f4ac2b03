"""The ``tuner`` command: a thin layer over the typed functions of the package.

Each subcommand is one handler whose docstring is its help. A user mistake
(:class:`~tuner.errors.TunerError`) ends the command with one line on stderr and exit
code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import optuna  # noqa: E402
import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from tuner.cli_common import StorageOption, errors, user_errors  # noqa: E402
from tuner.config import TrainConfig, describe_fields, parse_assignments  # noqa: E402
from tuner.errors import TunerError  # noqa: E402
from tuner.storage import (  # noqa: E402
    STORAGE_ENV,
    load_existing_study,
    open_storage,
    redact,
    storage_url,
)
from tuner.trial_loop import GRACE_PERIOD_S, HEARTBEAT_INTERVAL_S  # noqa: E402

# Optuna flags heartbeats, PatientPruner, QMC... as experimental; users need not see that.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hyperparameter search for binary image segmentation, on Optuna.")
console = Console(soft_wrap=True)

SetOption = Annotated[list[str] | None, typer.Option(
    "--set", help="Override a config field, e.g. --set epochs=30 (repeatable)")]
DataOption = Annotated[str | None, typer.Option(
    "--data", help="Dataset: 'synthetic' or 'folder:PATH' (PATH/images, PATH/masks)")]


def _overrides(sets: list[str] | None, data: str | None) -> dict:
    overrides = parse_assignments(sets or [])
    if data:
        overrides["dataset"] = data
    TrainConfig.from_dict(overrides, "--set")  # reject bad values before anything else
    return overrides


@app.command()
@user_errors
def run(
    study_file: Annotated[Path, typer.Argument(help="A study file, e.g. studies/weight_decay.py")],
    storage: StorageOption = None,
    n_trials: Annotated[int | None, typer.Option(
        "--n-trials", min=1, help="Run at most this many trials now (default: the rest of "
        "the grid, or up to the study's n_trials)")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", min=1, help="Stop starting new trials after this many seconds")] = None,
    data: DataOption = None,
    sets: SetOption = None,
    study_name: Annotated[str | None, typer.Option(
        "--study-name", help="Name in the storage (default: the study file's name)")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, help="Worker processes on this machine (torch threads are "
        "split between them)")] = 1,
    save_weights: Annotated[bool, typer.Option(
        "--save-weights", help="Store each finished trial's best weights as an artifact")] = False,
    galleries: Annotated[bool, typer.Option(
        "--galleries/--no-galleries", help="Prediction galleries as trial artifacts")] = True,
    devices: Annotated[str | None, typer.Option(
        "--devices", help="GPUs for the local workers, e.g. 0,1 (default: every visible GPU, "
        "one per worker, round robin)")] = None,
    heartbeat_interval: Annotated[int, typer.Option(
        "--heartbeat-interval", min=1,
        help="Seconds between a running trial's heartbeats")] = HEARTBEAT_INTERVAL_S,
    grace_period: Annotated[int, typer.Option(
        "--grace-period", min=1, help="A trial without a heartbeat for this long is failed "
        "and re-queued (its worker died)")] = GRACE_PERIOD_S,
) -> None:
    """Create or resume a study and run its trials, showing progress; ends with the best."""
    from tuner.runner import RunOptions
    from tuner.spec import load_spec

    if storage:  # study files that call best_of() read the same storage
        os.environ[STORAGE_ENV] = storage
    spec = load_spec(study_file)
    options = RunOptions(storage=storage, study_name=study_name, n_trials=n_trials,
                         timeout=timeout, overrides=_overrides(sets, data), workers=workers,
                         save_weights=save_weights, galleries=galleries,
                         heartbeat_interval=heartbeat_interval, grace_period=grace_period,
                         devices=_devices(devices))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    _run_study(spec, options)


def _devices(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise TunerError(f"--devices: got {text!r}, expected GPU numbers like 0,1") from None


def _run_study(spec, options) -> None:
    from tuner.progress import StudyProgress
    from tuner.runner import prepare_study, remaining_work, run_local
    from tuner.summary import best_trials_table

    url = storage_url(options.storage)
    errors.print(f"checking study {spec.name!r} from {spec.source} ...")
    study = prepare_study(spec, options)
    todo = remaining_work(study, spec)
    if options.n_trials is not None:
        todo = options.n_trials if not spec.is_grid else min(todo, options.n_trials)
    errors.print(f"study {study.study_name!r} in {redact(url)}: {todo} trial(s) to run"
                 + (f" on {options.workers} workers" if options.workers > 1 else ""))
    try:
        with StudyProgress(todo, errors, enabled=todo > 0) as progress:
            if todo == 0:
                errors.print("nothing left to run: every trial of this study is finished "
                              "(--n-trials N runs more of a sampled study)")
            else:
                run_local(spec, options, study, progress)
    except KeyboardInterrupt:
        errors.print("interrupted: the running trial is marked failed; run the same "
                     "command again to resume")
        raise typer.Exit(130) from None
    console.print(best_trials_table(study))
    console.print(f"results: {redact(url)} (study {study.study_name!r}); tables and plots: "
                  f"tuner export {study.study_name}; live view: tuner dashboard")


@app.command()
@user_errors
def train(
    assignments: Annotated[list[str] | None, typer.Argument(
        help="Config fields as key=value, e.g. lr=3e-4 loss=dice")] = None,
    sets: SetOption = None,
    data: DataOption = None,
) -> None:
    """One plain training run (no study): per-epoch metrics, then the test scores."""
    from tuner.data import build_splits
    from tuner.train import fit, score

    cfg = TrainConfig.from_dict(_overrides([*(assignments or []), *(sets or [])], data))
    splits = build_splits(cfg)
    errors.print(f"training {cfg.arch} on {cfg.dataset}: {len(splits.train.names)} train / "
                 f"{len(splits.val.names)} validation / {len(splits.test.names)} test images")

    def show(report) -> None:
        m = report.metrics
        console.print(f"epoch {report.epoch:3d}/{cfg.epochs}  train loss {m['train_loss']:.4f} "
                      f"Dice {m['train_dice']:.4f}  val loss {m['val_loss']:.4f} "
                      f"Dice {m['val_dice']:.4f}  lr {m['lr']:.2e}  {m['seconds']:.1f} s"
                      + ("  *" if report.is_best else ""))

    result = fit(cfg, splits, on_epoch=show)
    summary = f"best epoch {result.best_epoch}: val Dice {result.best_val_dice:.4f}"
    if len(splits.test):
        test = score(result.model, splits.test, cfg, result.runtime, result.normalize)
        summary += f"; test Dice {test['dice']:.4f} IoU {test['iou']:.4f}"
    console.print(f"{summary} ({result.runtime.describe()}, {result.seconds:.1f} s)")


@app.command()
@user_errors
def studies(storage: StorageOption = None) -> None:
    """List the studies in the storage with their trial counts and best value."""
    from tuner.summary import studies_table

    console.print(studies_table(open_storage(storage)))


@app.command()
@user_errors
def best(
    study: Annotated[str, typer.Argument(help="Study name (see 'tuner studies')")],
    storage: StorageOption = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many trials")] = 10,
    fmt: Annotated[str, typer.Option("--format", help="table | json | csv")] = "table",
) -> None:
    """The best trials of a study by validation Dice."""
    from tuner.summary import best_trials, best_trials_table

    if fmt not in ("table", "json", "csv"):
        raise TunerError(f"--format: got {fmt!r}, expected table, json or csv")
    loaded = load_existing_study(storage, study)
    if fmt == "table":
        console.print(best_trials_table(loaded, top))
        return
    trials = best_trials(loaded, top)
    if fmt == "json":
        rows = [{"number": t.number, "value": t.value, "params": t.params,
                 "user_attrs": t.user_attrs} for t in trials]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        import pandas as pd

        rows = [{"number": t.number, "val_dice": t.value, **t.params,
                 **{k: v for k, v in t.user_attrs.items() if not isinstance(v, dict | list)}}
                for t in trials]
        sys.stdout.write(pd.DataFrame(rows).to_csv(index=False))


@app.command()
@user_errors
def evaluate(
    study: Annotated[str, typer.Argument(help="Study name (see 'tuner studies')")],
    storage: StorageOption = None,
    trial: Annotated[int | None, typer.Option(
        "--trial", help="Trial number (default: the best completed trial)")] = None,
    data: DataOption = None,
    split: Annotated[str, typer.Option("--split", help="test | val | train")] = "test",
    gallery: Annotated[Path | None, typer.Option(
        "--gallery", help="Also write a prediction gallery PNG here")] = None,
) -> None:
    """Score a trial's saved best weights (tuner run --save-weights) on a split of its
    dataset, or of another one with --data."""
    from tuner.evaluate import evaluate_trial

    result = evaluate_trial(storage, study, trial, data, split, gallery)
    scores = "  ".join(f"{k} {v:.4f}" for k, v in result.metrics.items())
    console.print(f"trial {result.trial}, {result.split} split ({result.images} images): "
                  f"{scores}")
    if gallery is not None:
        console.print(f"gallery: {gallery}")


@app.command()
def fields() -> None:
    """Every config field with its type, default and allowed values."""
    table = Table(title="TrainConfig fields (use with --set key=value or in a study file)")
    for column in ("field", "type", "default", "meaning"):
        table.add_column(column)
    for row in describe_fields():
        table.add_row(*row)
    console.print(table)


def _register_commands_of_other_modules() -> None:
    """Commands written beside the modules they drive (exports, reports, dashboard)."""
    from tuner.cli_reports import export_command, report_command
    from tuner.dashboard import dashboard_command

    app.command("export")(export_command)
    app.command("report")(report_command)
    app.command("dashboard")(dashboard_command)


_register_commands_of_other_modules()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="tuner")


if __name__ == "__main__":
    sys.exit(main())
