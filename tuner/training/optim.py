"""Optimizers and learning-rate schedules by name, all from ``torch.optim``.

:data:`OPTIMIZERS` and :data:`SCHEDULERS` are registries over the names of
:data:`tuner.config.OPTIMIZERS` and :data:`tuner.config.SCHEDULERS`, so that a study can
search over them. Torch's schedulers step at different moments (per batch, per epoch, on
a validation loss); :class:`Schedule` hides that: the training loop calls
:meth:`Schedule.after_batch` after every optimizer step and :meth:`Schedule.after_epoch`
after every validation, and each scheduler steps when it should.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

import torch
from torch.optim import lr_scheduler

from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.registry import Registry

OptimizerFactory = Callable[[TrainConfig, list[torch.nn.Parameter]], torch.optim.Optimizer]
#: ``(cfg, optimizer, steps_per_epoch) -> Schedule``
ScheduleFactory = Callable[[TrainConfig, torch.optim.Optimizer, int], "Schedule"]

OPTIMIZERS: Registry[OptimizerFactory] = Registry("optimizer")
SCHEDULERS: Registry[ScheduleFactory] = Registry("scheduler")


# -- optimizers ------------------------------------------------------------------------------


def build_optimizer(cfg: TrainConfig,
                    params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``cfg.optimizer`` over those of ``params`` that require a gradient.

    Parameters without a gradient (a frozen encoder) are left out, so that they take no
    optimizer state. Every optimizer gets ``lr`` and ``weight_decay`` (torch's coupled L2
    penalty, decoupled for adamw); sgd and rmsprop also get ``momentum``, sgd ``nesterov``.
    Note that adadelta's usual lr is 1.0, not the 1e-3 default of the config.
    """
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ValueError("build_optimizer: no parameter requires a gradient")
    return OPTIMIZERS.get(cfg.optimizer)(cfg, trainable)


def fused(params: list) -> dict[str, bool]:
    """``fused=True`` where torch has a fused kernel for the parameters' device: one kernel
    per step instead of a dozen per tensor (measured here: 5% of a CPU trial's time went to
    the per-tensor Adam update; bench/RESULTS.md)."""
    devices = {p.device.type for p in params}
    ok = devices <= {"cpu", "cuda"} and all(p.is_floating_point() for p in params)
    return {"fused": True} if ok else {}


@OPTIMIZERS.register("adam")
def _adam(cfg: TrainConfig, params: list) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fused(params))


@OPTIMIZERS.register("adamw")
def _adamw(cfg: TrainConfig, params: list) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                             **fused(params))


@OPTIMIZERS.register("sgd")
def _sgd(cfg: TrainConfig, params: list) -> torch.optim.Optimizer:
    if cfg.nesterov and cfg.momentum == 0:
        raise TunerError("config fields nesterov=True and momentum=0: Nesterov momentum "
                         "needs momentum > 0 (or set nesterov=False)")
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov,
                           weight_decay=cfg.weight_decay, **fused(params))


@OPTIMIZERS.register("rmsprop")
def _rmsprop(cfg: TrainConfig, params: list) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("adagrad")
def _adagrad(cfg: TrainConfig, params: list) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                               **fused(params))


@OPTIMIZERS.register("adamax")
def _adamax(cfg: TrainConfig, params: list) -> torch.optim.Optimizer:
    return torch.optim.Adamax(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


@OPTIMIZERS.register("adadelta")
def _adadelta(cfg: TrainConfig, params: list) -> torch.optim.Optimizer:
    return torch.optim.Adadelta(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


# -- schedules -------------------------------------------------------------------------------

Moment = Literal["never", "batch", "epoch", "val_loss"]


class Schedule:
    """A torch lr scheduler together with the moment it steps at.

    ``step_on`` is ``"never"`` (constant lr), ``"batch"`` (after every optimizer step),
    ``"epoch"`` (after every epoch) or ``"val_loss"`` (after every epoch, given the
    validation loss). The training loop calls both hooks every time; the ones that do not
    concern this scheduler do nothing.
    """

    def __init__(self, optimizer: torch.optim.Optimizer,
                 scheduler: lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau | None,
                 step_on: Moment) -> None:
        if (scheduler is None) != (step_on == "never"):
            raise ValueError("Schedule: a scheduler needs a moment other than 'never'")
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.step_on = step_on

    def after_batch(self) -> None:
        """Call after every ``optimizer.step()``."""
        if self.step_on == "batch":
            self.scheduler.step()

    def after_epoch(self, val_loss: float) -> None:
        """Call after every epoch's validation, with the epoch's validation loss."""
        if self.step_on == "epoch":
            self.scheduler.step()
        elif self.step_on == "val_loss":
            self.scheduler.step(val_loss)

    def current_lr(self) -> float:
        """The learning rate the next optimizer step will use (of the first param group)."""
        return float(self.optimizer.param_groups[0]["lr"])


def build_schedule(cfg: TrainConfig, optimizer: torch.optim.Optimizer,
                   steps_per_epoch: int) -> Schedule:
    """The schedule ``cfg.scheduler`` for ``optimizer``; ``steps_per_epoch`` = batches per epoch."""
    if steps_per_epoch < 1:
        raise ValueError(f"build_schedule: steps_per_epoch must be >= 1, got {steps_per_epoch}")
    return SCHEDULERS.get(cfg.scheduler)(cfg, optimizer, steps_per_epoch)


@SCHEDULERS.register("none")
def _none(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps: int) -> Schedule:
    return Schedule(optimizer, None, "never")


@SCHEDULERS.register("step")
def _step(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps: int) -> Schedule:
    """lr * gamma ** (epoch // step_size)."""
    return Schedule(optimizer, lr_scheduler.StepLR(optimizer, cfg.step_size, cfg.gamma), "epoch")


@SCHEDULERS.register("plateau")
def _plateau(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps: int) -> Schedule:
    """lr * gamma after plateau_patience epochs without a lower validation loss, >= min_lr."""
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=cfg.gamma,
                                               patience=cfg.plateau_patience,
                                               min_lr=cfg.min_lr)
    return Schedule(optimizer, scheduler, "val_loss")


@SCHEDULERS.register("cosine")
def _cosine(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps: int) -> Schedule:
    """Half a cosine from lr down to min_lr over the ``epochs`` of the run."""
    if cfg.min_lr > cfg.lr:
        raise TunerError(f"config fields min_lr={cfg.min_lr} and lr={cfg.lr}: scheduler "
                         "'cosine' anneals from lr down to min_lr, so min_lr must not exceed lr")
    scheduler = lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs, eta_min=cfg.min_lr)
    return Schedule(optimizer, scheduler, "epoch")


@SCHEDULERS.register("onecycle")
def _onecycle(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps: int) -> Schedule:
    """Smith's one cycle with peak lr over the whole run, stepped per batch.

    Torch's defaults otherwise: 30 % warm-up from lr / 25, cosine annealing to lr / 1e4.
    """
    scheduler = lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps,
                                        **_momentum_cycle(cfg))
    return Schedule(optimizer, scheduler, "batch")


@SCHEDULERS.register("cyclic")
def _cyclic(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps: int) -> Schedule:
    """Triangular cycles between max(min_lr, lr / 10) and lr, step_size epochs per half cycle.

    Stepped per batch; the lr starts at the bottom of the cycle.
    """
    base_lr = min(cfg.lr, max(cfg.min_lr, cfg.lr / 10))
    scheduler = lr_scheduler.CyclicLR(optimizer, base_lr=base_lr, max_lr=cfg.lr,
                                      step_size_up=cfg.step_size * steps, mode="triangular",
                                      **_momentum_cycle(cfg))
    return Schedule(optimizer, scheduler, "batch")


def _momentum_cycle(cfg: TrainConfig) -> dict:
    """Momentum cycling for onecycle/cyclic: only for sgd/rmsprop with momentum > 0.

    Momentum then runs inversely to the lr between ``momentum - 0.1`` and ``momentum``
    (0.8-0.9 by default, torch's CyclicLR range). Adam-like optimizers keep their betas
    and adagrad/adadelta have no momentum, so that a schedule changes only the lr there.
    """
    if cfg.optimizer in ("sgd", "rmsprop") and cfg.momentum > 0:
        return dict(cycle_momentum=True, base_momentum=max(0.0, cfg.momentum - 0.1),
                    max_momentum=cfg.momentum)
    return dict(cycle_momentum=False)
