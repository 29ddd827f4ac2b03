"""Ctrl-C that always stops a worker, at a safe point.

Python delivers SIGINT as a KeyboardInterrupt wherever the main thread happens to be: in
the middle of a database transaction, or inside a garbage-collection or weakref callback of
SQLAlchemy's connection pool, where the exception is printed as "ignored" and lost and the
connection keeps its transaction open, so that every later write of the process waits for
a lock nobody will release (seen: "database is locked" after a minute, exit 1 instead of
130). So the first Ctrl-C only records the request, and the worker stops at its next safe
point: after the epoch, between trials, or while it waits for other workers
(:func:`raise_if_requested`). A second Ctrl-C raises at once, for a user who will not
wait. Forked workers also watch an event their parent sets, for a Ctrl-C that reached
them while they were still starting (they ignore SIGINT until they install this handler).
"""

from __future__ import annotations

import signal
import threading

_requested = threading.Event()
_parent_stop = None  # a multiprocessing.Event of the parent process, in spawned workers


def _handler(signum: int, frame: object) -> None:
    if _requested.is_set():  # the second Ctrl-C: now
        raise KeyboardInterrupt
    _requested.set()


def install(parent_stop=None) -> None:
    """Use the recording handler for SIGINT (main thread only; elsewhere a no-op) and, in a
    forked worker, also obey ``parent_stop``. A run starts with no request pending (a
    process that ran an interrupted study before, such as a notebook, runs again)."""
    global _parent_stop
    if parent_stop is not None:
        _parent_stop = parent_stop
    if threading.current_thread() is threading.main_thread():
        if signal.getsignal(signal.SIGINT) is not _handler:
            _requested.clear()
        signal.signal(signal.SIGINT, _handler)


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed (here or, for a worker, in its
    parent), even if the first raise was lost."""
    if _requested.is_set() or (_parent_stop is not None and _parent_stop.is_set()):
        raise KeyboardInterrupt
