"""``tuner dashboard``: optuna-dashboard on the study storage, served from this machine."""

from __future__ import annotations

from typing import Annotated

import typer

from tuner.cli.common import StorageOption, quiet_optuna, user_errors
from tuner.reports.dashboard import DEFAULT_HOST, DEFAULT_PORT


@user_errors
def dashboard_command(
    storage: StorageOption = None,
    host: Annotated[str, typer.Option(
        help="Address to bind: 127.0.0.1 keeps it private; 0.0.0.0 exposes it (no login!).",
    )] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port to listen on.", min=0, max=65535)] = DEFAULT_PORT,
) -> None:
    """Watch studies live in optuna-dashboard: trials, curves and prediction galleries.

    Serves the study storage with its artifact store, bound to localhost (it has no login).
    Elsewhere: ssh -L 8080:localhost:8080 HOST, or --host 0.0.0.0 behind a firewall.
    """
    from tuner.reports.dashboard import serve_dashboard

    quiet_optuna()
    serve_dashboard(storage, host, port)
