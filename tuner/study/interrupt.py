"""Ctrl-C that always stops a worker, at a safe point.

Python delivers SIGINT as a KeyboardInterrupt wherever the main thread happens to be; when
that is a garbage-collection or weakref callback (SQLAlchemy registers some), the
exception is printed as "ignored" and lost, and training goes on. The handler here also
records the request, and the worker checks it after every epoch and between trials, so a
Ctrl-C stops the run at most one epoch later even when the first exception was lost.
Spawned workers also watch an event their parent sets, for a Ctrl-C that reached them
while they were still starting (they ignore SIGINT until they install this handler).
"""

from __future__ import annotations

import signal
import threading

_requested = threading.Event()
_parent_stop = None  # a multiprocessing.Event of the parent process, in spawned workers


def _handler(signum: int, frame: object) -> None:
    _requested.set()
    raise KeyboardInterrupt


def install(parent_stop=None) -> None:
    """Use the recording handler for SIGINT (main thread only; elsewhere a no-op) and, in a
    spawned worker, also obey ``parent_stop``."""
    global _parent_stop
    if parent_stop is not None:
        _parent_stop = parent_stop
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)


def raise_if_requested() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed (here or, for a worker, in its
    parent), even if the first raise was lost."""
    if _requested.is_set() or (_parent_stop is not None and _parent_stop.is_set()):
        raise KeyboardInterrupt
