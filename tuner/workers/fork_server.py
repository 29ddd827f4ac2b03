"""The fork server that local workers come from; standard library only, so that a command
can start the server before it imports torch.

The standard library's ``forkserver`` context imports :data:`PRELOAD` (the training stack)
once in a server process and forks a ready process per worker from it: a worker starts in
a fraction of a second instead of importing torch itself (6-8 s). :func:`warm_up` starts the
server as a command starts, so its imports run beside the command's own.
"""

from __future__ import annotations

import multiprocessing
import signal
from multiprocessing import forkserver

from tuner.machine import physical_cores

#: what the fork server imports once, for every worker it forks (the training stack)
PRELOAD = ["tuner.workers.worker_stack"]
CONTEXT = multiprocessing.get_context("forkserver")
CONTEXT.set_forkserver_preload(PRELOAD)


def warm_up(requested: int | None, n_trials: int | None) -> None:
    """Start the fork server now when the command may want more than one worker
    (``--workers N``, or auto on a machine of several cores, and more than one trial to
    run). The server, and so every worker it forks, starts with Ctrl-C ignored: a Ctrl-C
    during its imports ends in no traceback, and each worker installs its own handler
    first thing."""
    wanted = physical_cores() if requested is None else requested
    if n_trials is not None:
        wanted = min(wanted, n_trials)
    if wanted > 1:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, previous)
