"""Several workers on this machine: this process is the first, the others are spawned.

The parent has already paid for the imports and decoded the data, so it trains too; the
``--workers N`` - 1 others are spawned processes that load the same study file and run the
same worker loop against the same storage. Torch threads are shared out between them, GPUs
handed out round robin, and the parent shows every worker's trials until all are done.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from typing import Any

import optuna

from tuner.errors import TunerError
from tuner.storage import artifact_store, storage_url
from tuner.study import interrupt
from tuner.study.objective import Objective
from tuner.study.progress import StudyProgress
from tuner.study.runner import RunOptions, run_worker
from tuner.study.spec import StudySpec, load_spec


def _worker_process(spec_path: str, options: RunOptions, max_trials: int | None,
                    threads: int, gpu: int | None, stop) -> None:
    """Entry point of a spawned worker process: exit code 2 on a user mistake."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if gpu is not None:  # before CUDA initialises: this worker sees only its GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import torch

    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    interrupt.install(stop)
    try:
        spec = load_spec(spec_path)
        run_worker(spec, options, max_trials=max_trials)
    except TunerError as exc:
        print(f"tuner worker: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


def split_budget(total: int | None, workers: int) -> list[int | None]:
    """``total`` trials shared out between ``workers`` as evenly as possible."""
    if total is None:
        return [None] * workers
    return [total // workers + (1 if i < total % workers else 0) for i in range(workers)]


def threads_per_worker(workers: int) -> int:
    """Torch threads each of ``workers`` local processes gets (at least one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)


def assign_gpus(workers: int, devices: list[int] | None = None) -> list[int | None]:
    """The GPU of each worker: ``devices`` (or every visible GPU) round robin; None on CPU."""
    if devices is None:
        import torch

        devices = list(range(torch.cuda.device_count()))
    if not devices:
        return [None] * workers
    return [devices[i % len(devices)] for i in range(workers)]


def worker_plan(options: RunOptions) -> list[tuple[int | None, int | None]]:
    """(trial budget, GPU) of each local worker; workers with a budget of 0 are left out."""
    gpus = assign_gpus(options.workers, options.devices)
    budgets = split_budget(options.n_trials, options.workers)
    return [(b, g) for b, g in zip(budgets, gpus, strict=True) if b != 0]


def with_worker_threads(options: RunOptions) -> RunOptions:
    """``options`` whose config gives each local worker its share of the cores."""
    overrides = dict(options.overrides)
    overrides.setdefault("threads", threads_per_worker(options.workers))
    return RunOptions(**{**options.__dict__, "overrides": overrides})


def start_workers(spec: StudySpec, options: RunOptions,
                  plan: list[tuple[int | None, int | None]]
                  ) -> tuple[list[multiprocessing.Process], Any]:
    """Spawn one worker process per ``plan`` entry, sharing the study; also returns the
    event that asks them to stop."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    processes = []
    # Children start with Ctrl-C ignored (a disposition they inherit), so that a Ctrl-C
    # while they import torch does not end in a traceback; run_worker installs the handler.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for budget, gpu in plan:
            process = context.Process(target=_worker_process,
                                      args=(spec.source, options, budget,
                                            options.overrides["threads"], gpu, stop))
            process.start()
            processes.append(process)
    finally:
        signal.signal(signal.SIGINT, previous)
    return processes, stop


def run_local(spec: StudySpec, options: RunOptions, study: optuna.Study,
              progress: StudyProgress) -> None:
    """Run ``options.workers`` workers on this machine: this process is the first (it has
    paid for imports and data already), the others are spawned; progress covers all."""
    plan = worker_plan(options)
    if not plan:
        return
    url = storage_url(options.storage)
    options = with_worker_threads(options) if options.workers > 1 else options
    (budget, gpu), others = plan[0], plan[1:]
    processes, stop = start_workers(spec, options, others)
    known = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    if options.devices and gpu is not None:  # before this process initialises CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    if options.workers > 1:
        import torch

        torch.set_num_threads(options.overrides["threads"])

    def on_epoch(trial: optuna.Trial, report, epochs: int) -> None:
        progress.epoch(trial.number, report, epochs)
        if processes:
            progress.poll(study, known)

    objective = Objective(spec, options.overrides, artifact_store(url), options.save_weights,
                          options.galleries, on_epoch=on_epoch)
    try:
        run_worker(spec, options, max_trials=budget, on_trial_end=progress.trial_end,
                   objective=objective, wait_for_stale=not processes)
        _wait_for(processes, study, progress, known)
    except KeyboardInterrupt:
        _stop(processes, stop)
        raise


def _stop(processes: list[multiprocessing.Process], stop) -> None:
    """After Ctrl-C: a terminal sent it to the workers too; if not (a signal to this
    process only, or a worker still starting), pass it on, then give them time to mark
    their trials failed."""
    stop.set()
    for process in processes:
        process.join(timeout=2)
        if process.is_alive():
            os.kill(process.pid, signal.SIGINT)
    for process in processes:
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()


def _wait_for(processes: list[multiprocessing.Process], study: optuna.Study,
              progress: StudyProgress, known: set[int]) -> None:
    """Show the other workers' trials until they exit; fail if one of them failed."""
    while any(p.is_alive() for p in processes):
        progress.poll(study, known)
        time.sleep(1.0)
    progress.poll(study, known)
    codes = [p.exitcode for p in processes]
    if any(code == 2 for code in codes):
        raise TunerError("a worker stopped on a user error (its message is above)")
    if any(code not in (0, None) for code in codes):
        raise TunerError(f"worker processes exited with codes {codes}; see the log above; "
                         "rerun the same command to resume")
