"""This machine's CPU cores, and how many tuner processes train on them now.

torch sizes its thread pool to the machine's cores in every process. Several independent
``tuner run --workers 1`` processes on one machine (cluster jobs, containers, a user who
starts a few) then run cores x processes threads, and OpenMP's threads spin while they
wait for each other: 16 such processes on 2 cores trained one epoch in ten minutes (the
same work takes a single process seconds; bench/RESULTS.md "Overload"). Nothing in torch
or the standard library shares cores between independent processes, so each process that
trains holds a marker file (:func:`training_here`) in a per-user folder of the temporary
directory, and a run whose ``threads`` is 0 (auto) takes its share of the physical cores
as it starts (:func:`fair_threads`): all of them alone, one each when the machine is
oversubscribed. The count is kept for the whole run and in its checkpoints (results on a
CPU depend on it: :mod:`tuner.training.loop`). Markers of processes that died are
ignored and removed. Containers have their own temporary directory, and their own cores.

Standard library only: the fork server and the training loop both read it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: the folder of the training markers (default: per user, in the temporary directory)
MARKERS_ENV = "TUNER_TRAINING_MARKERS"


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads of one core count once)."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            cores.add((topology.joinpath("physical_package_id").read_text().strip(),
                       topology.joinpath("core_id").read_text().strip()))
        except OSError:  # no topology (not Linux, a container without /sys): count CPUs
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def _markers() -> Path:
    """``$TUNER_TRAINING_MARKERS``, else a per-user folder of the temporary directory."""
    if os.environ.get(MARKERS_ENV):
        return Path(os.environ[MARKERS_ENV])
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"tuner-{uid}" / "training"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


@contextlib.contextmanager
def training_here() -> Iterator[None]:
    """Mark this process as training on this machine while the block runs (best effort:
    a folder that cannot be written marks nothing)."""
    marker = _markers() / str(os.getpid())
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        marker = None
    try:
        yield
    finally:
        if marker is not None:
            with contextlib.suppress(OSError):
                marker.unlink()


def trainers_now() -> int:
    """Processes training on this machine now, this one included whether it is marked yet
    or not; markers of dead processes are removed on the way."""
    count = 1  # this process
    with contextlib.suppress(OSError):
        for marker in _markers().iterdir():
            if not marker.name.isdigit() or int(marker.name) == os.getpid():
                continue
            if _alive(int(marker.name)):
                count += 1
            else:
                with contextlib.suppress(OSError):
                    marker.unlink()
    return count


def fair_threads() -> int:
    """This process's share of the physical cores among the processes training now."""
    return max(1, physical_cores() // trainers_now())
