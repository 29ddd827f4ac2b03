"""The training loop: a fixed skeleton with one hook, independent of Optuna.

``fit(cfg)`` trains the model that ``cfg`` describes on the splits of its dataset and calls
``on_epoch`` after every epoch with that epoch's metrics; the Optuna objective reports and
prunes from that hook (raising ``optuna.TrialPruned`` stops the run), so a training run
works the same inside and outside a study. Train metrics come from the training forward
passes of the epoch (train mode, augmented inputs); validation metrics from a separate
pass in eval mode (:mod:`tuner.training.scoring`). Both are computed from confusion
counts over the whole split. Each epoch also records what it cost (its wall seconds, this
process's CPU seconds, CUDA's device seconds, its optimizer steps) and the machine's load
average as it began, so that a wall time can be read beside the load it ran under.

A stop request (Ctrl-C, SIGTERM: :mod:`tuner.interrupt`) is obeyed between two
mini-batches and after an epoch's checkpoint: ``fit`` raises :class:`Interrupted`, a
``KeyboardInterrupt`` that carries the run so far (its finished epochs, the best weights).
The epoch in progress is dropped; a caller that kept checkpoints goes on from the last.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from tuner import interrupt
from tuner.config import TrainConfig
from tuner.data import (
    Splits,
    TrainBatches,
    build_splits,
    eval_batches,
    kept_on_device,
    make_normalizer,
)
from tuner.machine import fair_threads, training_here
from tuner.records import CPU_SECONDS, CURVE_NAMES, DEVICE_SECONDS, LOAD, STEPS, WALL_SECONDS
from tuner.training.checkpoint import capture, load, restore
from tuner.training.device import Runtime, resolve_runtime
from tuner.training.losses import build_loss
from tuner.training.metrics import SplitMeter
from tuner.training.models import build_model
from tuner.training.optim import build_optimizer, build_schedule
from tuner.training.scoring import Normalize, score_batches
from tuner.training.work import forward_gflop


@dataclass
class EpochReport:
    """What the ``on_epoch`` hook sees after epoch ``epoch`` (1-based)."""

    epoch: int
    metrics: dict[str, float]  # every name of tuner.records.CURVE_NAMES
    is_best: bool  # validation Dice is the best so far
    model: nn.Module
    runtime: Runtime
    normalize: Normalize  # raw [0, 1] images -> model input
    work: float = 0.0  # training work so far: forward GFLOP per image x images trained


@dataclass
class FitResult:
    """A finished run: the model holds the best epoch's weights (by validation Dice)."""

    model: nn.Module
    runtime: Runtime
    normalize: Normalize
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    best_val_dice: float = 0.0
    stop_reason: str = "epochs"  # one of tuner.records.STOP_REASONS
    work: float = 0.0  # training work: forward GFLOP per image x images trained
    resumed_from: int = 0  # the checkpoint's epoch this run went on from (0: from scratch)

    @property
    def epochs_run(self) -> int:
        return len(self.history.get("val_dice", []))

    @property
    def seconds(self) -> float:
        """Wall seconds of training and validation (the machine's load decides them too)."""
        return _total(self.history.get(WALL_SECONDS, []))

    @property
    def cpu_seconds(self) -> float:
        """This process's CPU seconds in training and validation (every thread)."""
        return _total(self.history.get(CPU_SECONDS, []))

    @property
    def steps(self) -> int:
        """Optimizer steps taken."""
        return int(_total(self.history.get(STEPS, [])))


def _total(values: list[float]) -> float:
    """The sum of the finite values (an epoch's NaN is no time: a device time off CUDA)."""
    return float(sum(v for v in values if v is not None and math.isfinite(v)))


class Interrupted(KeyboardInterrupt):
    """A run stopped by a stop request; ``result`` holds its finished epochs and the best
    of their weights (``stop_reason`` "interrupted")."""

    def __init__(self, result: FitResult) -> None:
        super().__init__(f"interrupted after epoch {result.epochs_run}")
        self.result = result


EpochHook = Callable[[EpochReport], None]
#: called after each epoch's hook with the epoch and a function that captures the run's
#: state as bytes (:mod:`tuner.training.checkpoint`; called only if the caller keeps it)
CheckpointHook = Callable[[int, Callable[[], bytes]], None]


def fit(cfg: TrainConfig, splits: Splits | None = None,
        on_epoch: EpochHook | None = None, *, resume: bytes | None = None,
        on_checkpoint: CheckpointHook | None = None) -> FitResult:
    """Train per ``cfg``; deterministic for ``cfg.seed`` on a given device. ``resume``: a
    checkpoint of this run (``on_checkpoint`` gave it) to go on from, after its epoch."""
    state = load(resume) if resume is not None else None  # another format: from epoch 1
    threads = _threads(cfg, state)
    runtime = _runtime(cfg, state)
    splits = splits if splits is not None else build_splits(cfg)
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(runtime.device)
    if runtime.channels_last:
        model = model.to(memory_format=torch.channels_last)
    normalize = make_normalizer(cfg, splits.train)
    train_batches = TrainBatches(splits.train, cfg, normalize, runtime.device,
                                 runtime.channels_last)
    val_split = kept_on_device(splits.val, runtime.device)  # on a GPU with room: copied once
    loss_fn = build_loss(cfg)
    optimizer = build_optimizer(cfg, [p for p in model.parameters() if p.requires_grad])
    schedule = build_schedule(cfg, optimizer, len(train_batches))
    scaler = torch.amp.GradScaler(runtime.device.type) if runtime.needs_grad_scaler else None
    epoch_work = forward_gflop(model, cfg, runtime.device) * train_batches.n_samples

    result = FitResult(model=model, runtime=runtime, normalize=normalize,
                       history={n: [] for n in CURVE_NAMES})
    best_state: dict[str, torch.Tensor] | None = None
    first = 1
    resumed = restore(state, model, optimizer, schedule, scaler, train_batches,
                      runtime.device) if state is not None else None
    if resumed is not None:
        first, best_state = resumed.epoch + 1, resumed.best_state
        result.history = {n: list(resumed.history.get(n, [])) for n in CURVE_NAMES}
        result.best_epoch, result.best_val_dice = resumed.best_epoch, resumed.best_val_dice
        result.work = resumed.work
        result.resumed_from = resumed.epoch
    marked = contextlib.ExitStack()  # tuner processes on this machine count this one
    marked.enter_context(training_here())
    try:
        for epoch in range(first, cfg.epochs + 1):
            start, cpu_start, load_now = time.perf_counter(), time.process_time(), _load_average()
            device_clock = _device_clock(runtime.device)
            lr = schedule.current_lr()  # the rate this epoch starts with
            train, steps = _train_one_epoch(model, train_batches, loss_fn, optimizer, schedule,
                                            scaler, runtime, cfg.threshold)
            val = score_batches(model, eval_batches(val_split, cfg.batch_size, normalize,
                                                    runtime.device, runtime.channels_last),
                                loss_fn, runtime, cfg.threshold)
            schedule.after_epoch(val["loss"])
            metrics = {**{f"train_{k}": v for k, v in train.items()},
                       **{f"val_{k}": v for k, v in val.items()},
                       "lr": lr, DEVICE_SECONDS: device_clock(),
                       WALL_SECONDS: time.perf_counter() - start,
                       CPU_SECONDS: time.process_time() - cpu_start, STEPS: steps, LOAD: load_now}
            for name in CURVE_NAMES:
                result.history[name].append(metrics[name])
            result.work += epoch_work
            is_best = val["dice"] > result.best_val_dice or best_state is None
            if is_best:
                result.best_epoch, result.best_val_dice = epoch, val["dice"]
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if on_epoch is not None:
                on_epoch(EpochReport(epoch, metrics, is_best, model, runtime, normalize,
                                     result.work))
            if not math.isfinite(train["loss"]):
                result.stop_reason = "diverged"  # nothing left to learn from NaN weights
                break
            if cfg.early_stop_patience and epoch - result.best_epoch >= cfg.early_stop_patience:
                result.stop_reason = "early_stop"
                break
            if on_checkpoint is not None and epoch < cfg.epochs:
                on_checkpoint(epoch, lambda epoch=epoch, best=best_state: capture(
                    cfg.to_dict(), epoch, model, optimizer, schedule, scaler, train_batches, best,
                    result.history, result.best_epoch, result.best_val_dice, result.work,
                    runtime.precision, threads))
            if epoch < cfg.epochs:  # after the checkpoint: the epoch is kept
                interrupt.raise_if_requested()
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM: the finished epochs and best weights
        result.stop_reason = "interrupted"
        if best_state is not None:
            model.load_state_dict(best_state)
        raise Interrupted(result) from stop
    finally:
        train_batches.close()
        marked.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return result


def _load_average() -> float:
    """The machine's one-minute load average now (NaN where the system keeps none)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return math.nan


def _device_clock(device: torch.device) -> Callable[[], float]:
    """Started now: a function that returns the device seconds since (CUDA events on the
    device's current stream, waited for); NaN off CUDA, where CPU seconds say it."""
    if device.type != "cuda":
        return lambda: math.nan
    stream = torch.cuda.current_stream(device)
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    begin.record(stream)

    def seconds() -> float:
        end.record(stream)
        end.synchronize()
        return begin.elapsed_time(end) / 1000.0

    return seconds


def _threads(cfg: TrainConfig, state: dict | None) -> int:
    """Set and return the run's torch threads: ``cfg.threads``; for 0 (auto) the count the
    part before a checkpoint computed with, else this process's share of the machine's
    cores now (:func:`tuner.machine.fair_threads`). Fixed for the whole run: results on
    a CPU depend on the thread count (the order of sums), and a resumed run must end as an
    uninterrupted one."""
    kept = state.get("threads") if state is not None else None
    threads = cfg.threads or (kept if isinstance(kept, int) and kept > 0 else fair_threads())
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def _runtime(cfg: TrainConfig, state: dict | None) -> Runtime:
    """The run's runtime; one that goes on from a checkpoint ``state`` with
    ``precision=auto`` computes in the precision its first part did (a timed choice may
    differ from process to process; one run must not switch precision half-way)."""
    kept = state.get("precision") if state is not None and cfg.precision == "auto" else None
    if kept is None:
        return resolve_runtime(cfg)
    runtime = resolve_runtime(cfg.replace(precision=kept))
    return dataclasses.replace(runtime, precision_reason=f"auto: {kept}, as the part of "
                               "this run before its checkpoint computed")


def _train_one_epoch(model: nn.Module, batches: TrainBatches, loss_fn: nn.Module,
                     optimizer: torch.optim.Optimizer, schedule, scaler, runtime: Runtime,
                     threshold: float) -> tuple[dict[str, float], int]:
    """One epoch of training: its metrics and the optimizer steps it took."""
    model.train()
    meter = SplitMeter(threshold)
    steps = 0
    for images, masks in batches:  # on the device, in the run's memory format
        interrupt.raise_if_requested()  # a stop waits for one batch, not an epoch
        optimizer.zero_grad(set_to_none=True)
        with runtime.autocast():
            logits = model(images)
        loss = loss_fn(logits, masks)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        steps += 1
        schedule.after_batch()
        meter.update(logits.detach(), masks, loss.detach())
    return meter.compute(), steps
