"""Stop requests: Ctrl-C (SIGINT) and preemption (SIGTERM), obeyed at a safe point.

Python delivers a signal as an exception wherever the main thread happens to be: in the
middle of a database transaction, or inside a garbage-collection or weakref callback of
SQLAlchemy's connection pool, where the exception is printed as "ignored" and lost and the
connection keeps its transaction open, so that every later write of the process waits for
a lock nobody will release (seen: "database is locked" after a minute, exit 1 instead of
130). So the first signal only records the request, and the process stops at its next safe
point: between two mini-batches (the training loop and every scoring pass check), after an
epoch, between trials, or while it waits for other workers (:func:`raise_if_requested`).
A second signal raises at once, for a user who will not wait.

SIGTERM is how clusters stop a job (``timeout``, Slurm's ``scancel`` and time limit,
Kubernetes' pod deletion and node drain), with SIGKILL after a grace period: stopping at
the next batch keeps the time to exit to one batch and a database write. The exit code
says which signal came (:func:`exit_code`: 130 for SIGINT, 143 for SIGTERM).

A forked worker also obeys a stop event its parent sets (a Ctrl-C that reached the worker
while it was still starting) and stops when its parent is gone (:func:`stop_with_parent`):
a parent killed outright leaves no worker training on its own.

Standard library only: the training loop, which knows nothing of Optuna, checks it too.
"""

from __future__ import annotations

import signal
import threading
from multiprocessing.connection import wait

#: the signals that ask a run to stop, and the exit code each ends a command with
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}

_requested = threading.Event()
_signal: int = signal.SIGINT  # the first signal received (what the exit code says)
_parent_stop = None  # a multiprocessing.Event of the parent process, in forked workers


def _handler(signum: int, frame: object) -> None:
    global _signal
    if _requested.is_set():  # the second signal: now
        raise KeyboardInterrupt
    _signal = signum
    _requested.set()


def install(parent_stop=None) -> None:
    """Use the recording handler for SIGINT and SIGTERM (main thread only; elsewhere a
    no-op) and, in a forked worker, also obey ``parent_stop``. A run starts with no request
    pending (a process that ran an interrupted study before, such as a notebook, runs
    again)."""
    global _parent_stop
    if parent_stop is not None:
        _parent_stop = parent_stop
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is not _handler:
            _requested.clear()
        for signum in EXIT_CODES:
            signal.signal(signum, _handler)


def clear() -> None:
    """Forget a stop request: what a new run in the same process (a notebook, a test)
    starts from."""
    _requested.clear()


def request(signum: int = signal.SIGTERM) -> None:
    """Ask this process to stop, as if ``signum`` had arrived (from a thread, e.g. when the
    parent of a worker is gone)."""
    global _signal
    if not _requested.is_set():
        _signal = signum
        _requested.set()


def requested() -> bool:
    """Whether a stop was asked for (here or, for a worker, by its parent)."""
    return _requested.is_set() or (_parent_stop is not None and _parent_stop.is_set())


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt if a stop was asked for, even if the first raise was lost."""
    if requested():
        raise KeyboardInterrupt


def received() -> int:
    """The signal that asked for the stop (SIGINT when none came: a KeyboardInterrupt
    raised by Python's own handler, outside :func:`install`)."""
    return _signal if _requested.is_set() else signal.SIGINT


def exit_code() -> int:
    """The exit code of a command stopped by :func:`received`: 130 or 143."""
    return EXIT_CODES.get(received(), 130)


def stop_with_parent(sentinel) -> None:
    """In a worker process: ask for a stop (as SIGTERM) as soon as ``sentinel`` (the
    parent process's, :func:`multiprocessing.parent_process`) says the parent is gone,
    from a daemon thread. The worker then puts its trial back in the queue and exits."""
    def watch() -> None:
        wait([sentinel])
        request(signal.SIGTERM)

    threading.Thread(target=watch, name="tuner-parent-watch", daemon=True).start()
