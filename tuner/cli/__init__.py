"""The ``tuner`` command: a thin layer over the typed functions of the package.

One module per command group (``run``, ``campaign``, ``train``, ``inspect``,
``evaluate``, ``reports``, ``dashboard``, ``proxy``, ``weights``); each handler's docstring
is its help. A user mistake (:class:`~tuner.errors.TunerError`) ends the command with one
line on stderr and exit code 2; anything else is a bug and keeps its traceback. Commands import
Optuna, torch and plotly only when they run, so ``tuner --help`` is quick and ``tuner
train`` never loads Optuna. ``tuner --verbose COMMAND`` shows Optuna's own log (INFO), which
every command otherwise keeps at warnings.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # its update check waits on the net

import typer  # noqa: E402

from tuner.cli import (  # noqa: E402
    campaign,
    dashboard,
    evaluate,
    inspect,
    proxy,
    reports,
    run,
    train,
    weights,
)
from tuner.cli.common import VERBOSE_ENV  # noqa: E402
from tuner.startup import exit_quickly  # noqa: E402

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Hyperparameter search for binary image segmentation, on Optuna.")


@app.callback()
def options(verbose: Annotated[bool, typer.Option(
        "--verbose", help="Also show Optuna's own log (INFO: studies created, trials "
        "finished) on stderr")] = False) -> None:
    """Hyperparameter search for binary image segmentation, on Optuna."""
    if verbose:  # read by tuner.optuna_internals.quiet_optuna, here and in local workers
        os.environ[VERBOSE_ENV] = "1"


app.command("run")(run.run_command)
app.command("campaign")(campaign.campaign_command)
app.command("train")(train.train_command)
app.command("studies")(inspect.studies_command)
app.command("best")(inspect.best_command)
app.command("evaluate")(evaluate.evaluate_command)
app.command("predict")(evaluate.predict_command)
app.command("fields")(train.fields_command)
app.command("export")(reports.export_command)
app.command("report")(reports.report_command)
app.command("dashboard")(dashboard.dashboard_command)
app.command("proxy")(proxy.proxy_command)
app.add_typer(weights.app, name="weights")


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="tuner")
    finally:
        exit_quickly()  # no last collection over torch's objects (1.3 s measured)


if __name__ == "__main__":
    sys.exit(main())
