"""Database calls tried again when a server dropped the connection or is restarting: what
counts as transient (:func:`is_transient`) and the bounded backoff (:func:`with_retries`)."""

from __future__ import annotations

import contextlib
import functools
import random
import re
import threading
import time
from collections.abc import Callable

import sqlalchemy

#: waits before each new try of a database call that failed on a dropped connection (about
#: 8 s in all, with jitter: a server restart, not an outage)
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 4.0)
#: SQLSTATEs worth another try: connection (08), shutdowns and starts (57P), serialization
TRANSIENT_SQLSTATES = ("08", "57P", "40001", "40P01", "53300")
DROPPED = re.compile(r"terminating connection|closed the connection|connection not open|"
                     r"could not (?:receive|send) data|consuming input failed|connection "
                     r"(?:is|already) closed|the connection is lost", re.IGNORECASE)
#: libpq's words (no SQLSTATE) for a connection the server dropped, and for a restarting
#: server (transient once a storage was open; at the first open, more likely a mistake)
RESTARTING = re.compile(r"database system is (?:shutting|starting)|Connection refused")


def is_transient(exc: BaseException, restarting: bool = True) -> bool:
    """Whether ``exc`` (or what it wraps: Optuna wraps SQLAlchemy's, which wraps the
    driver's) is a dropped connection or another error a new try may not meet again."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen or len(seen) > 20:
            continue
        seen.add(id(error))
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str) and state.startswith(TRANSIENT_SQLSTATES):
            return True
        said = str(getattr(error, "orig", ""))
        if isinstance(error, sqlalchemy.exc.DBAPIError) and (
                DROPPED.search(said) or restarting and RESTARTING.search(said)):
            return True
        pending += [getattr(error, "orig", None), error.__cause__, error.__context__]
    return False


_retrying = threading.local()  # inside a retried call: the calls it makes are not retried
_JITTER = random.SystemRandom()  # not the seeded global: forked workers must not agree


def with_retries(call: Callable, settled: Callable | None = None,
                 restarting: bool = True) -> Callable:
    """``call``, tried again after each of :data:`RETRY_DELAYS_S` while it fails on a
    dropped connection; any other error, or the last one, is raised. ``settled(exc, *args,
    **kwargs)`` may turn the error of a new try into a result (not None)."""

    @functools.wraps(call)
    def retried(*args, **kwargs):
        if getattr(_retrying, "active", False):  # an outer call retries the whole
            return call(*args, **kwargs)
        _retrying.active = True
        try:
            for tries, delay in enumerate((*RETRY_DELAYS_S, None)):
                try:
                    return call(*args, **kwargs)
                except Exception as exc:
                    result = None
                    if tries and settled:  # a check that fails too settles nothing
                        with contextlib.suppress(Exception):
                            result = settled(exc, *args, **kwargs)
                    if result is not None:
                        return result
                    if delay is None or not is_transient(exc, restarting):
                        raise
                    time.sleep(delay * _JITTER.uniform(0.75, 1.25))
        finally:
            _retrying.active = False

    return retried


