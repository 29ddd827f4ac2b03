"""What a process pays to start and to end: the heavy imports, with the collector paused.

torch, smp, albumentations and Optuna create hundreds of thousands of objects as they are
imported, and the cyclic garbage collector walks them again and again meanwhile: importing
the training stack took 11.1-11.2 s with the collector running and 7.5-7.8 s with it paused
and then frozen (AVX2 EPYC, bench/RESULTS.md). :func:`heavy_imports` pauses it around those
imports and then freezes what they made, so that later collections during training skip
it too; the fork server imports the stack this way once for every worker
(:mod:`tuner.workers.worker_stack`). :func:`exit_quickly` freezes before a process ends, so
the interpreter's last collection does not walk millions of torch objects (1.3 s measured).

Only the first use in a process freezes, after collecting what is already garbage: a
frozen object is never collected again, so freezing on every command run inside one
process (tests, notebooks) would keep each earlier storage and its open database
connections for good (CI ran PostgreSQL out of connections that way). Standard library
only: a command uses it before it imports anything heavy.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

_imports_frozen = False  # heavy_imports froze the objects of the first imports


@contextmanager
def heavy_imports() -> Iterator[None]:
    """Run the block (heavy imports) with the cyclic collector paused; freeze what the
    first such block in a process created."""
    global _imports_frozen
    enabled = gc.isenabled()
    if not _imports_frozen:
        gc.collect()  # cheap here: before the imports, little is loaded
    gc.disable()
    try:
        yield
    finally:
        if not _imports_frozen:
            gc.freeze()
            _imports_frozen = True
        if enabled:
            gc.enable()


def exit_quickly() -> None:
    """Freeze everything alive, so the interpreter's last collection has nothing to walk:
    call it when a process is about to end."""
    gc.freeze()
