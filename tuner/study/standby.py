"""Standby workers: local worker processes spawned as a command starts, before this
process imports torch, so that their own imports (6-8 s: a spawned process shares no
module with its parent) run beside this process's imports, checks and data decoding
instead of after them.

A standby imports the training stack, then waits on a pipe for its assignment: the work
of one local worker, then the parent's decoded pools (``tuner.study.local_workers``
sends both), or nothing, when fewer workers were needed or the command ended first, and
it exits. This module imports only the standard library, so that starting standbys costs
the command milliseconds.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

_CONTEXT = multiprocessing.get_context("spawn")  # fork after torch's threads start is unsafe


@dataclass
class Standby:
    """A spawned worker process that waits for its assignment on ``pipe``."""

    process: Any  # a spawn-context Process
    pipe: Connection  # this process's end: the assignment, then the pools
    stop: Any = field(repr=False)  # the event that asks it to stop (Ctrl-C here)


_waiting: list[Standby] = []


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


def has_nvidia_devices() -> bool:
    """Whether this machine shows NVIDIA GPUs, asked without importing torch."""
    return any(Path("/dev").glob("nvidia[0-9]*"))


def standby_count(requested: int | None, n_trials: int | None) -> int:
    """Workers to start before the imports, beside this process (which is worker 1):
    ``--workers N`` - 1, or for auto one per physical core but this one, never more than
    ``--n-trials`` needs (the study may still need fewer: the rest are dismissed). Zero
    where GPUs are: each worker must see only its GPU from its start (set before torch is
    imported), and which one is known only once this process has imported torch."""
    if has_nvidia_devices():
        return 0
    cores = physical_cores()
    count = min(cores if requested is None else requested, cores) - 1
    if n_trials is not None:
        count = min(count, n_trials - 1)
    return max(0, count)


def spawn(gpu: int | None = None) -> Standby:
    """Start one worker process. It starts with Ctrl-C ignored (a disposition it inherits)
    so that a Ctrl-C while it imports torch ends in no traceback; its worker loop installs
    the handler. With ``gpu``, it sees only that GPU (set before torch is imported)."""
    receiver, sender = _CONTEXT.Pipe(duplex=False)
    stop = _CONTEXT.Event()
    process = _CONTEXT.Process(target=_serve, args=(receiver, stop, gpu), daemon=True,
                               name="tuner-worker")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        process.start()
    finally:
        signal.signal(signal.SIGINT, previous)
    receiver.close()
    return Standby(process, sender, stop)


def start(count: int) -> None:
    """Spawn ``count`` standbys now; :func:`take` hands them out."""
    _waiting.extend(spawn() for _ in range(count))


def take() -> Standby:
    """A waiting standby (its imports under way or done), else a new process."""
    while _waiting:
        standby = _waiting.pop(0)
        if standby.process.is_alive():
            return standby
        standby.pipe.close()  # it died while importing: its error is on stderr already
    return spawn()


def dismiss() -> None:
    """End the standbys nobody needed: they hold no trial and no data, only imports."""
    while _waiting:
        standby = _waiting.pop()
        standby.pipe.close()
        standby.process.terminate()
        standby.process.join(timeout=5)


def _serve(pipe: Connection, stop, gpu: int | None) -> None:
    """A standby's life: import the training stack, wait for an assignment, work it."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if gpu is not None:  # before CUDA initialises: this worker sees only its GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    from tuner.cli.common import heavy_imports

    with heavy_imports():
        from tuner.study.local_workers import work_assignment
    try:
        assignment = pipe.recv()
    except (EOFError, OSError):
        return  # dismissed: the command needed fewer workers, or ended first
    work_assignment(assignment, stop, pipe)
