"""Optimizers by name and learning-rate schedules against hand-computed trajectories."""

from __future__ import annotations

import math

import pytest
import torch

from tuner import config
from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.training.optim import OPTIMIZERS, SCHEDULERS, build_optimizer, build_schedule


def test_the_config_takes_its_optimizers_and_schedulers_from_the_registries():
    for name in OPTIMIZERS.names():
        assert config.TrainConfig(optimizer=name).optimizer == name
    for name in SCHEDULERS.names():
        assert config.TrainConfig(scheduler=name).scheduler == name
    with pytest.raises(TunerError, match="'optimizer': got 'adamm', expected one of adam, adamw"):
        config.TrainConfig(optimizer="adamm")


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_every_optimizer_builds_and_steps(name):
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    frozen = torch.nn.Parameter(torch.zeros(3), requires_grad=False)
    cfg = TrainConfig(optimizer=name, lr=0.1, weight_decay=0.01, momentum=0.5)
    optimizer = build_optimizer(cfg, [p, frozen])
    assert [group["params"] for group in optimizer.param_groups] == [[p]]
    assert optimizer.defaults["lr"] == 0.1 and optimizer.defaults["weight_decay"] == 0.01
    if name in ("sgd", "rmsprop"):
        assert optimizer.defaults["momentum"] == 0.5
    before = p.detach().clone()
    p.square().sum().backward()
    optimizer.step()
    assert not torch.equal(p.detach(), before)
    assert (p.detach().abs() < before.abs()).all()  # every optimizer descends x**2 here


def test_sgd_and_adam_first_step_by_hand():
    # sgd without momentum: p - lr * (grad + wd * p); grad of sum(p**2) is 2p
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    sgd = build_optimizer(TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0,
                                      weight_decay=0.5), [p])
    p.square().sum().backward()
    sgd.step()
    assert torch.allclose(p.detach(), torch.tensor([1 - 0.1 * 2.5, -2 + 0.1 * 5.0]))
    # adam's first step moves each coordinate by lr against the sign of its gradient
    q = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    adam = build_optimizer(TrainConfig(optimizer="adam", lr=0.01), [q])
    q.square().sum().backward()
    adam.step()
    assert torch.allclose(q.detach(), torch.tensor([0.99, -1.99]), atol=1e-6)


def test_sgd_nesterov_needs_momentum():
    p = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer(TrainConfig(optimizer="sgd", nesterov=True, momentum=0.9), [p])
    assert optimizer.defaults["nesterov"] is True
    with pytest.raises(TunerError, match="nesterov.*momentum"):
        build_optimizer(TrainConfig(optimizer="sgd", nesterov=True, momentum=0.0), [p])


# -- schedules -------------------------------------------------------------------------------


def schedule_for(steps_per_epoch: int = 1, optimizer: str = "sgd", **fields):
    p = torch.nn.Parameter(torch.zeros(1))
    cfg = TrainConfig(optimizer=optimizer, **{"lr": 0.1, **fields})
    opt = build_optimizer(cfg, [p])
    return build_schedule(cfg, opt, steps_per_epoch), opt


def train_step(schedule) -> None:
    """What the training loop does per batch: an optimizer step, then the schedule's hook."""
    schedule.optimizer.step()  # no gradient: nothing moves, but torch sees the order
    schedule.after_batch()


def epoch_lrs(schedule, epochs: int, steps_per_epoch: int = 1, val_losses=None) -> list[float]:
    """lr used in each epoch, with the training loop's calls in between."""
    lrs = []
    for epoch in range(epochs):
        lrs.append(schedule.current_lr())
        for _ in range(steps_per_epoch):
            train_step(schedule)
        schedule.after_epoch(val_losses[epoch] if val_losses else 1.0)
    return lrs


def test_none_keeps_the_lr():
    schedule, _ = schedule_for(scheduler="none")
    assert epoch_lrs(schedule, 3, steps_per_epoch=4) == [0.1, 0.1, 0.1]


def test_step_halves_every_step_size_epochs_whatever_the_batches():
    schedule, _ = schedule_for(steps_per_epoch=7, scheduler="step", step_size=2, gamma=0.5)
    assert epoch_lrs(schedule, 5, steps_per_epoch=7) == pytest.approx(
        [0.1, 0.1, 0.05, 0.05, 0.025])


def test_cosine_over_the_epochs_down_to_min_lr():
    schedule, _ = schedule_for(scheduler="cosine", epochs=4, min_lr=0.0)
    # 0.1 * (1 + cos(pi * t / 4)) / 2
    expected = [0.1, 0.05 * (1 + math.sqrt(0.5)), 0.05, 0.05 * (1 - math.sqrt(0.5)), 0.0]
    assert epoch_lrs(schedule, 5) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(TunerError, match="min_lr.*lr"):
        schedule_for(scheduler="cosine", min_lr=0.2)


def test_plateau_follows_the_validation_loss():
    schedule, _ = schedule_for(scheduler="plateau", gamma=0.5, plateau_patience=1, min_lr=0.03)
    losses = [1.0, 0.9, 0.95, 0.96, 0.97, 0.98, 0.99]
    # best 0.9 at epoch 2; two epochs without progress (> patience 1) halve the lr after
    # epoch 4 and again after epoch 6, but not below min_lr
    assert epoch_lrs(schedule, 7, steps_per_epoch=3, val_losses=losses) == pytest.approx(
        [0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.03])
    falling, _ = schedule_for(scheduler="plateau", plateau_patience=0)
    assert epoch_lrs(falling, 4, val_losses=[4.0, 3.0, 2.0, 1.0]) == [0.1] * 4


def test_onecycle_steps_per_batch():
    schedule, _ = schedule_for(steps_per_epoch=5, optimizer="adam", scheduler="onecycle",
                               epochs=2)
    # torch's defaults: start lr/25, peak after 30 % of 10 steps (step 2), end start/1e4
    start, peak, end = 0.1 / 25, 0.1, 0.1 / 25 / 1e4

    def cos_between(a: float, b: float, fraction: float) -> float:
        return b + (a - b) / 2 * (1 + math.cos(math.pi * fraction))

    expected = [cos_between(start, peak, s / 2) if s <= 2 else cos_between(peak, end, (s - 2) / 7)
                for s in range(10)]
    seen = []
    for _ in range(2):
        for _ in range(5):
            seen.append(schedule.current_lr())
            train_step(schedule)
        schedule.after_epoch(1.0)  # no effect on a per-batch schedule
    assert seen == pytest.approx(expected, rel=1e-9)
    assert seen[:3] == pytest.approx([0.004, 0.052, 0.1])


def test_cyclic_triangle_per_batch_and_momentum_of_sgd():
    schedule, opt = schedule_for(steps_per_epoch=4, scheduler="cyclic", step_size=1,
                                 momentum=0.9)
    # base max(min_lr, lr/10) = 0.01, up to 0.1 in 4 batches, down in 4
    lrs, momenta = [], []
    for _ in range(9):
        lrs.append(schedule.current_lr())
        momenta.append(opt.param_groups[0]["momentum"])
        train_step(schedule)
    assert lrs == pytest.approx(
        [0.01, 0.0325, 0.055, 0.0775, 0.1, 0.0775, 0.055, 0.0325, 0.01])
    assert momenta == pytest.approx([0.9, 0.875, 0.85, 0.825, 0.8, 0.825, 0.85, 0.875, 0.9])
    schedule.after_epoch(1.0)
    assert schedule.current_lr() == pytest.approx(0.0325)  # epochs do not step it


def test_cyclic_leaves_adam_betas_alone():
    schedule, opt = schedule_for(steps_per_epoch=2, optimizer="adam", scheduler="cyclic",
                                 step_size=1)
    for _ in range(3):
        train_step(schedule)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert schedule.current_lr() == pytest.approx(0.055)
