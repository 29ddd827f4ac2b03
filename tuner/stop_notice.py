"""What a long command says and does the moment a stop is asked for (Ctrl-C, SIGTERM).

:mod:`tuner.interrupt` records a first stop request, and a run obeys it at its next safe
point: between two mini-batches, after an epoch, between trials or stages. Between those
points a campaign may check its stages or score its winner for a while, and a stop asked
for there used to wait without a word (and, during the final test scores, not stop at
all). :class:`StopNotice` watches for the request from a thread and says at once that the
command is stopping; inside :meth:`StopNotice.at_once` (work that writes nothing to the
storage: checks, scoring, files written through a staging folder) it also stops the main
thread at once, as a second Ctrl-C would. Standard library only.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

from tuner import interrupt

POLL_S = 0.1  # how often the watch looks for a stop request


class StopNotice:
    """A context in which a stop request is answered at once with ``say(line)``; ``line``
    gets the signal's name in ``{signal}``."""

    def __init__(self, say: Callable[[str], None], line: str) -> None:
        self._say, self._line = say, line
        self._lock = threading.Lock()
        self._now = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tuner-stop-notice",
                                        daemon=True)

    def __enter__(self) -> StopNotice:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=1.0)

    @contextlib.contextmanager
    def at_once(self) -> Iterator[None]:
        """Work that may stop anywhere: a stop request raises KeyboardInterrupt in it at
        once (the main thread is woken as by a second Ctrl-C; work in another thread waits
        for its end), and at its ends."""
        interrupt.raise_if_requested()
        with self._lock:
            self._now = threading.current_thread() is threading.main_thread()
        try:
            yield
        finally:
            with self._lock:
                self._now = False
        interrupt.raise_if_requested()

    def _watch(self) -> None:
        while not self._done.wait(POLL_S):
            if not interrupt.requested():
                continue
            name = signal.Signals(interrupt.received()).name
            self._say(self._line.format(signal=name))
            with self._lock:
                if self._now:
                    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
            return
