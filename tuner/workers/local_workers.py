"""Several workers on this machine: this process is the first, the others are forked from
the standard library's fork server (:mod:`tuner.workers.fork_server`).

The parent has already paid for the imports and decoded the data, so it trains too; the
``--workers N`` - 1 others run the same worker loop against the same storage. A fork
server is single-threaded and has initialised no CUDA, so forking from it is safe where
forking this process (its torch threads running) is not, and a worker still chooses its
GPU before CUDA starts. The server was started with this process's environment and folder
of that moment, so each worker takes this process's current ones from its assignment, as
a spawned process would. Each worker decodes its own data (the synthetic pool in under a
second). Torch threads are shared out between the workers, GPUs handed out round robin,
and the parent shows every worker's trials until all are done.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner import interrupt
from tuner.data.cache import use_root
from tuner.errors import TunerError
from tuner.machine import physical_cores
from tuner.optuna_internals import quiet_optuna, storage_of
from tuner.startup import exit_quickly
from tuner.storage import artifact_store, data_cache_dir, is_transient, storage_url
from tuner.storage.roles import set_role
from tuner.study.objective import Objective
from tuner.study.spec import StudySpec, load_spec
from tuner.workers.fork_server import CONTEXT, warm_up
from tuner.workers.outcome import finished_numbers
from tuner.workers.progress import StudyProgress
from tuner.workers.runner import RunOptions, run_worker
from tuner.workers.worker import FAILURES_IN_A_ROW, take_over_stale_trials


@dataclass(frozen=True)
class Assignment:
    """What a forked worker is to do: the study file (or campaign file, for a stage), the
    run's options (its torch threads among the overrides), its trial budget and GPU, and
    this process's environment and working folder (the fork server's are older)."""

    spec_path: str
    options: RunOptions
    max_trials: int | None
    gpu: int | None = None
    number: int = 2  # this worker's number in the run (the parent is worker 1)
    environment: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    folder: str = field(default_factory=os.getcwd)


@dataclass
class LocalWorker:
    """A forked worker process and the event that asks it to stop (Ctrl-C or SIGTERM here)."""

    process: Any  # a forkserver-context Process
    stop: Any = field(repr=False)


def work_assignment(assignment: Assignment, stop) -> None:
    """A forked worker's work: exit code 2 on a user mistake, 130 on Ctrl-C, 143 on
    SIGTERM or when the parent is gone (its trial back in the queue in both cases)."""
    interrupt.install(stop)
    interrupt.stop_with_parent(multiprocessing.parent_process().sentinel)
    os.environ.clear()
    os.environ.update(assignment.environment)
    os.chdir(assignment.folder)
    if assignment.gpu is not None:  # before CUDA initialises: this worker sees only its GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = str(assignment.gpu)
    import torch

    options = assignment.options
    torch.set_num_threads(options.overrides["threads"])
    use_root(data_cache_dir(options.storage))
    set_role(f"worker {assignment.number}")
    quiet_optuna()
    try:
        if options.stage is None:
            spec = load_spec(assignment.spec_path, options.storage, options.overrides)
        else:  # a campaign stage: its spec comes from the campaign file and its record
            from tuner.study.campaign import stage_spec

            spec = stage_spec(assignment.spec_path, options.stage,
                              storage_url(options.storage), options.overrides,
                              options.stage_n_trials)
        run_worker(spec, options, max_trials=assignment.max_trials)
    except TunerError as exc:
        print(f"tuner worker: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(interrupt.exit_code())
    finally:
        exit_quickly()


def choose_workers(requested: int | None, work_left: int,
                   devices: list[int] | None = None) -> tuple[int, str]:
    """How many local workers to start, and why, in words.

    ``requested=None`` (``--workers auto``): one worker per GPU with CUDA, else one
    single-thread worker per physical core: measured on this project's 2-core machines,
    2 processes x 1 thread train 1.2-2.1x the images per second of 1 process x 2 threads
    (bench/RESULTS.md), and trials are independent. Any choice is capped at the trials
    left (an idle worker only costs start-up) and, on a CPU, at the cores.
    """
    gpus = visible_gpus() if devices is None else list(devices)
    if requested is None:
        if gpus:
            count, why = len(gpus), f"auto: one per GPU ({len(gpus)})"
        else:
            count = physical_cores()
            why = f"auto: one single-thread worker per physical core ({count})"
    else:
        count, why = requested, "as asked"
    if not gpus and count > physical_cores():
        count, why = physical_cores(), f"{why}; capped at the {physical_cores()} cores"
    if count > max(work_left, 1):
        count, why = max(work_left, 1), f"{why}; capped at the {work_left} trial(s) left"
    return count, why


def split_budget(total: int | None, workers: int) -> list[int | None]:
    """``total`` trials shared out between ``workers`` as evenly as possible."""
    if total is None:
        return [None] * workers
    return [total // workers + (1 if i < total % workers else 0) for i in range(workers)]


def threads_per_worker(workers: int) -> int:
    """Torch threads each of ``workers`` local processes gets (at least one)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers)


def visible_gpus() -> list[int]:
    """Indices of the CUDA devices this process sees (none on a CPU-only machine)."""
    import torch

    return list(range(torch.cuda.device_count()))


def assign_gpus(workers: int, devices: list[int] | None = None) -> list[int | None]:
    """The GPU of each worker: ``devices`` (or every visible GPU) round robin; None on CPU."""
    if devices is None:
        devices = visible_gpus()
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
                  plan: list[tuple[int | None, int | None]]) -> list[LocalWorker]:
    """One forked worker per ``plan`` entry, sharing the study (the fork server starts
    here if :func:`warm_up` did not start it)."""
    warm_up(len(plan) + 1, None)
    workers = []
    for number, (budget, gpu) in enumerate(plan, start=2):
        stop = CONTEXT.Event()
        process = CONTEXT.Process(target=work_assignment, name="tuner-worker", daemon=True,
                                   args=(Assignment(spec.source, options, budget, gpu, number),
                                         stop))
        process.start()
        workers.append(LocalWorker(process, stop))
    return workers


def run_local(spec: StudySpec, options: RunOptions, study: optuna.Study,
              progress: StudyProgress) -> list[str]:
    """Run ``options.workers`` workers on this machine: this process is the first (it has
    paid for imports and data already), the others are forked; progress covers all.

    Returns warnings for the run's summary (a worker that died). When a worker died and
    its trial is still unfinished, this process waits out the grace period and takes the
    retried trial over, so that the study still completes without a rerun.
    """
    plan = worker_plan(options)
    if not plan:
        return []
    url = storage_url(options.storage)
    options = with_worker_threads(options) if options.workers > 1 else options
    (budget, gpu), others = plan[0], plan[1:]
    workers = start_workers(spec, options, others)
    processes = [worker.process for worker in workers]
    known = finished_numbers(study)
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
        shared = storage_of(study)  # one pool for the setup, this worker and the progress
        result = run_worker(spec, options, max_trials=budget, on_trial_end=progress.trial_end,
                            objective=objective, wait_for_stale=not processes, storage=shared)
        notices = _wait_for(processes, study, progress, known)
        if notices and result.stop_reason != "failing" and _unfinished(study):
            result = run_worker(spec, options, on_trial_end=progress.trial_end,
                                objective=objective, wait_for_stale=True, claim_only=True,
                                storage=shared)  # the dead or stopped worker's trial
    except KeyboardInterrupt:
        _stop(workers)
        raise
    if any(p.exitcode == 2 for p in processes) and _unfinished(study):
        raise TunerError("a worker stopped on an error (its message is above) and left "
                         "trials unfinished; rerun the same command to resume")
    if result.stop_reason == "failing":
        notices.append(f"worker 1 stopped after {FAILURES_IN_A_ROW} failed trials in a row "
                        f"(last: {result.last_failure.splitlines()[0][:160]})"
                        if result.last_failure else "worker 1 stopped after failed trials")
    return notices


def _unfinished(study: optuna.Study) -> bool:
    return bool(study.get_trials(deepcopy=False,
                                 states=(TrialState.WAITING, TrialState.RUNNING)))


#: how long a stopping run waits for its workers to put their trials back (each stops at
#: its next batch), then how long after a second signal, before SIGKILL: within the 30 s
#: that Kubernetes and Docker grant by default between SIGTERM and SIGKILL
STOP_WAIT_S, SECOND_SIGNAL_WAIT_S = 20.0, 5.0


def _stop(workers: list[LocalWorker]) -> None:
    """After Ctrl-C or SIGTERM: ask every worker to stop (their event, checked between
    batches; a terminal's Ctrl-C reached them already), and give them
    :data:`STOP_WAIT_S` to put their trials back in the queue. A worker still running then
    gets SIGTERM, which, as a second stop request, raises at once; one still alive after
    :data:`SECOND_SIGNAL_WAIT_S` is killed (its trial is retried once its heartbeat is
    stale)."""
    for worker in workers:
        worker.stop.set()
    for wait_s, send in ((STOP_WAIT_S, signal.SIGTERM), (SECOND_SIGNAL_WAIT_S, signal.SIGKILL)):
        deadline = time.monotonic() + wait_s
        for worker in workers:
            worker.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for worker in workers:
            if worker.process.is_alive():
                os.kill(worker.process.pid, send)
    for worker in workers:
        worker.process.join(timeout=1.0)


#: how often a waiting parent looks for dead workers' trials (a cheap query)
TAKEOVER_EVERY_S = 5.0


def _take_over(study: optuna.Study) -> None:
    """Fail and re-queue stale trials (:func:`take_over_stale_trials`); a storage that
    does not answer now is asked again at the next look."""
    try:
        take_over_stale_trials(study)
    except Exception as exc:
        if not is_transient(exc):
            raise


def _wait_for(processes: list, study: optuna.Study, progress: StudyProgress,
              known: set[int]) -> list[str]:
    """Show the other workers' trials until they exit. A worker that stopped on an error
    (exit 2: its line is above; after the parent's checks, most likely a storage it could
    not reach), died or crashed becomes a warning: the storage says whether its trials were
    lost (the run's outcome counts them, and :func:`run_local` fails a run that an
    erring worker left unfinished)."""
    looked = time.monotonic()
    while running := [p for p in processes if p.is_alive()]:
        interrupt.raise_if_requested()
        progress.poll(study, known)
        if time.monotonic() - looked >= TAKEOVER_EVERY_S:  # a dead worker's trial, anywhere
            looked = time.monotonic()
            _take_over(study)
        # a second between polls, but not a moment longer than the last worker lives
        wait([p.sentinel for p in running], timeout=1.0)
    progress.poll(study, known)
    notices = []
    for number, code in enumerate((p.exitcode for p in processes), start=2):  # 1: this one
        if code == 2:
            notices.append(f"worker {number} stopped on an error (its message is above); "
                            "the other workers took its trials")
        elif code in interrupt.EXIT_CODES.values():
            name = "SIGINT" if code == 130 else "SIGTERM"
            notices.append(f"worker {number} was stopped ({name}) and put its trial back "
                            "in the queue; the other workers took it")
        elif code is not None and code < 0:
            notices.append(f"worker {number} was killed ({signal.Signals(-code).name}); "
                            "its running trial was retried by the other workers")
        elif code not in (0, None):
            notices.append(f"worker {number} stopped with exit code {code} (see above)")
    return notices
