"""Running a study: check everything, create or resume it, then let workers take trials.

Everything a user can get wrong (the study file, its space, ``--set`` values, the dataset,
the storage URL) is checked before the study is created or touched, so a mistake costs
one line on stderr and leaves stored results as they were. Then the study is created (or
loaded), a grid is enqueued (only what is missing: rerunning resumes), and one or more
worker processes run trials with heartbeats. Workers on other machines run the same
command against the same storage.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

from tuner import interrupt, queue, records
from tuner.data import build_splits
from tuner.errors import TunerError
from tuner.models import build_model
from tuner.notes import save_study_note
from tuner.objective import Objective
from tuner.progress import StudyProgress
from tuner.spec import StudySpec, load_spec
from tuner.storage import artifact_store, open_storage, redact, storage_url
from tuner.strategies import build_pruner, build_sampler
from tuner.trial_loop import (
    GRACE_PERIOD_S,
    HEARTBEAT_INTERVAL_S,
    STORAGE_ERRORS,
    LoopResult,
    run_trials,
)

MAX_RETRY = 3  # a trial whose worker died is re-queued at most this many times
FUNCTION_SPACE_PROBES = 16  # random draws that check a conditional space before the study


@dataclass
class RunOptions:
    """What ``tuner run`` was asked to do (command-line flags over the study file)."""

    storage: str | None = None
    study_name: str | None = None
    n_trials: int | None = None  # this run's budget; None: finish the grid / the study's n_trials
    timeout: float | None = None  # seconds, per worker
    overrides: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    save_weights: bool = False
    galleries: bool = True
    devices: list[int] | None = None  # GPUs for local workers; None: every visible one
    heartbeat_interval: int = HEARTBEAT_INTERVAL_S
    grace_period: int = GRACE_PERIOD_S


# -- checks before anything is stored ------------------------------------------------------
def check_spec(spec: StudySpec, overrides: dict[str, Any]) -> None:
    """Validate every configuration the study can produce, its data and its models."""
    build_sampler(spec)
    build_pruner(spec)
    configs = [spec.config({}, overrides)]
    if spec.is_grid:
        configs += [spec.config(point, overrides) for point in spec.grid_points()]
    elif isinstance(spec.space, dict):
        configs += [spec.config(params, overrides) for params in _space_corners(spec)]
    else:
        probe = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(FUNCTION_SPACE_PROBES):
            trial = probe.ask()
            configs.append(spec.config(spec.suggest(trial), overrides))
            probe.tell(trial, 0.0)
    seen_models, seen_data = set(), set()
    for cfg in configs:  # each distinct dataset/split and model once
        data_key = (cfg.dataset, cfg.synthetic_images, cfg.image_size, cfg.foreground_values,
                    cfg.val_fraction, cfg.test_fraction, cfg.train_fraction, cfg.split_seed)
        if data_key not in seen_data:  # missing folder, bad masks, empty split: fail now
            seen_data.add(data_key)
            build_splits(cfg)
        model_key = (cfg.arch, cfg.encoder, cfg.encoder_weights, cfg.head, cfg.image_size)
        if model_key not in seen_models:  # unknown encoder, bad weights file, bad size
            seen_models.add(model_key)
            build_model(cfg)


def _space_corners(spec: StudySpec) -> list[dict[str, Any]]:
    """Each categorical choice and each range's ends, one parameter at a time."""
    out = []
    for name, dist in spec.space.items():
        values = getattr(dist, "choices", None) or (dist.low, dist.high)
        out += [{name: v} for v in values]
    return out


# -- the study ------------------------------------------------------------------------------
def open_study(spec: StudySpec, url: str, options: RunOptions) -> optuna.Study:
    """Create or load the study with heartbeats, the retry callback, sampler and pruner."""
    storage = open_storage(url, heartbeat_interval=options.heartbeat_interval,
                           grace_period=options.grace_period,
                           stale_trial_callback=RetryHeartbeatStaleTrialCallback(MAX_RETRY))
    study = optuna.create_study(study_name=options.study_name or spec.name, storage=storage,
                                sampler=build_sampler(spec), pruner=build_pruner(spec),
                                direction="maximize", load_if_exists=True)
    return study


def prepare_study(spec: StudySpec, options: RunOptions) -> optuna.Study:
    """Check, create or load, describe and (for grids) enqueue; returns the study."""
    check_spec(spec, options.overrides)
    url = storage_url(options.storage)
    study = open_study(spec, url, options)
    study.set_user_attr(records.QUESTION, spec.question)
    study.set_user_attr("study_file", spec.source)
    study.set_user_attr("searched", spec.searched_names())
    study.set_user_attr("base", {**spec.base, **options.overrides})
    study.set_user_attr("repeats", spec.repeats)
    save_study_note(study, spec, options.overrides)
    if spec.is_grid:
        queue.enqueue_grid(study, spec, url)
    return study


def remaining_work(study: optuna.Study, spec: StudySpec) -> int:
    """Trials still to run: for a grid the waiting ones plus the running ones (a running
    trial may be a dead worker's, to be retried once its heartbeat is stale); for a
    sampled study, up to ``n_trials``."""
    if spec.is_grid:
        return len(study.get_trials(deepcopy=False,
                                    states=(TrialState.WAITING, TrialState.RUNNING)))
    done = study.get_trials(deepcopy=False, states=(*queue.PENDING_OR_DONE,))
    return max(spec.default_n_trials() - len(done), 0)


# -- one worker -----------------------------------------------------------------------------
def run_worker(spec: StudySpec, options: RunOptions, *, max_trials: int | None = None,
               on_trial_end: Callable[[FrozenTrial], None] | None = None,
               objective: Objective | None = None,
               wait_for_stale: bool = True) -> LoopResult:
    """Run trials of the (already prepared) study in this process. A grid worker whose
    queue is empty waits (``wait_for_stale``) until other running trials are finished or
    their heartbeat is stale, so that it can take over a dead worker's trial."""
    interrupt.install()
    url = storage_url(options.storage)
    study = open_study(spec, url, options)
    objective = objective or Objective(spec, options.overrides, artifact_store(url),
                                       options.save_weights, options.galleries)
    deadline = time.monotonic() + options.timeout if options.timeout else None

    def under_target() -> bool:
        return max_trials is not None or remaining_work(study, spec) > 0

    def finished(trial: FrozenTrial) -> None:
        if trial.state == TrialState.COMPLETE and not spec.is_grid:
            queue.enqueue_repeats(study, trial, spec.repeats)
        if on_trial_end is not None:
            on_trial_end(trial)

    try:
        return run_trials(study, objective, queue_only=spec.is_grid, max_trials=max_trials,
                          deadline=deadline, should_continue=under_target,
                          grace_period=options.grace_period if wait_for_stale else 0,
                          on_trial_end=finished)
    except STORAGE_ERRORS as exc:
        reason = redact(_root_cause(exc))
        raise TunerError(f"storage {redact(url)}: lost the database ({reason[:200]}); "
                         "finished trials are stored; rerun the same command to "
                         "resume") from None


def _root_cause(exc: BaseException) -> str:
    """First line of the innermost error with a message: Optuna wraps the driver's."""
    chain = [exc]
    while (chain[-1].__cause__ or chain[-1].__context__) is not None and len(chain) < 20:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    for error in reversed(chain):
        text = str(error).strip()
        if text and text != "()":
            return f"{type(error).__name__}: {text.splitlines()[0]}"
    return type(chain[-1]).__name__


def _worker_process(spec_path: str, options: RunOptions, max_trials: int | None,
                    threads: int, gpu: int | None, stop) -> None:
    """Entry point of a spawned worker process: exit code 2 on a user mistake."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if gpu is not None:  # before CUDA initialises: this worker sees only its GPU
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import sys

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
