"""The training loop: determinism, the hook, early stopping with best-weights restore."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from tests.tiny import TINY
from tuner.config import TrainConfig
from tuner.data import build_splits
from tuner.data.caveats import steps_per_epoch
from tuner.records import CPU_SECONDS, CURVE_NAMES, DEVICE_SECONDS, LOAD, STEPS, WALL_SECONDS
from tuner.training.loop import fit

#: curves that measure the machine, not the run: they differ between two equal runs
MEASURED = (WALL_SECONDS, CPU_SECONDS, DEVICE_SECONDS, LOAD)


def tiny(**changes) -> TrainConfig:
    return TrainConfig.from_dict({**TINY, **changes})


def test_same_seed_same_run_and_every_curve_recorded():
    first, second = fit(tiny(seed=3, precision="fp32")), fit(tiny(seed=3, precision="fp32"))
    assert set(first.history) == set(CURVE_NAMES)
    assert all(len(v) == 2 for v in first.history.values())
    for name in CURVE_NAMES:
        if name not in MEASURED:
            assert first.history[name] == pytest.approx(second.history[name], rel=1e-6)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_each_epoch_records_its_cost_and_the_load_it_ran_under():
    cfg = tiny(epochs=3, precision="fp32", device="cpu")
    splits = build_splits(cfg)
    result = fit(cfg, splits)
    steps = steps_per_epoch(len(splits.train), cfg)
    assert result.history[STEPS] == [steps] * 3 and result.steps == 3 * steps
    assert all(s > 0 for s in result.history[CPU_SECONDS])  # process CPU time, every thread
    assert result.cpu_seconds == pytest.approx(sum(result.history[CPU_SECONDS]))
    assert all(math.isnan(s) for s in result.history[DEVICE_SECONDS])  # no CUDA: no device
    assert all(load >= 0 for load in result.history[LOAD])  # the one-minute load average
    assert result.seconds == pytest.approx(sum(result.history[WALL_SECONDS]))


def test_cpu_seconds_count_this_process_only(monkeypatch):
    """CPU seconds are the process_time difference over the epoch, not wall time: a clock
    that advances 2 s of wall and 0.5 s of CPU per reading gives exactly those."""
    from tuner.training import loop

    wall, cpu = iter(range(0, 1000, 2)), iter([0.5 * k for k in range(1000)])
    monkeypatch.setattr(loop, "time", SimpleNamespace(perf_counter=lambda: float(next(wall)),
                                                      process_time=lambda: next(cpu)))
    monkeypatch.setattr(loop, "os", SimpleNamespace(getloadavg=lambda: (7.5, 6.0, 5.0)))
    result = fit(tiny(epochs=2, precision="fp32", device="cpu"))
    assert result.history[WALL_SECONDS] == [2.0, 2.0]
    assert result.history[CPU_SECONDS] == [0.5, 0.5]
    assert result.history[LOAD] == [7.5, 7.5]


def test_hook_sees_each_epoch_and_can_stop_the_run():
    seen = []

    class Stop(Exception):
        pass

    def hook(report):
        seen.append((report.epoch, round(report.metrics["val_dice"], 6)))
        if report.epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        fit(tiny(epochs=5), on_epoch=hook)
    assert [epoch for epoch, _ in seen] == [1, 2]


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(monkeypatch):
    """Validation Dice is scripted (0.5, 0.7, then lower), so the run must stop at epoch 4
    (two epochs without a better Dice) with the weights of epoch 2, while training goes on
    changing them."""
    from tuner.training import loop

    scripted = iter([0.5, 0.7, 0.6, 0.65, 0.9, 0.9])
    real = loop.score_batches

    def score_with_scripted_dice(*args, **kwargs):
        return {**real(*args, **kwargs), "dice": next(scripted)}

    monkeypatch.setattr(loop, "score_batches", score_with_scripted_dice)
    states = {}

    def hook(report):
        states[report.epoch] = {k: v.clone() for k, v in report.model.state_dict().items()}

    result = fit(tiny(epochs=6, early_stop_patience=2, lr=1e-2), on_epoch=hook)
    assert result.stop_reason == "early_stop"
    assert result.epochs_run == 4 and sorted(states) == [1, 2, 3, 4]
    assert result.best_epoch == 2 and result.best_val_dice == 0.7
    assert result.history["val_dice"] == [0.5, 0.7, 0.6, 0.65]
    changed = [n for n, v in states[4].items() if v.is_floating_point()
               and not torch.equal(v, states[2][n])]
    assert changed, "training should have moved the weights after the best epoch"
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, states[2][name]), name


def test_a_loss_that_is_no_number_stops_the_run_as_diverged():
    result = fit(tiny(epochs=6, lr=10, optimizer="sgd", momentum=0.99, precision="fp32",
                      batchnorm=False))
    assert result.stop_reason == "diverged"
    assert result.epochs_run < 6
