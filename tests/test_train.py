"""The training loop: determinism, the hook, early stopping with best-weights restore."""

from __future__ import annotations

import pytest
import torch

from tests.tiny import TINY
from tuner.config import TrainConfig
from tuner.records import CURVE_NAMES
from tuner.train import fit


def tiny(**changes) -> TrainConfig:
    return TrainConfig(**{**TINY, **changes})


def test_same_seed_same_run_and_every_curve_recorded():
    first, second = fit(tiny(seed=3, precision="fp32")), fit(tiny(seed=3, precision="fp32"))
    assert set(first.history) == set(CURVE_NAMES)
    assert all(len(v) == 2 for v in first.history.values())
    for name in CURVE_NAMES:
        if name != "seconds":
            assert first.history[name] == pytest.approx(second.history[name], rel=1e-6)
    for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


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


def test_early_stopping_restores_the_best_weights():
    states = {}

    def hook(report):
        states[report.epoch] = {k: v.clone() for k, v in report.model.state_dict().items()}

    result = fit(tiny(epochs=30, early_stop_patience=2, lr=5.0, optimizer="sgd"),
                 on_epoch=hook)  # lr 5: validation Dice stops improving at once
    assert result.stop_reason in ("early_stop", "diverged")
    assert result.epochs_run < 30
    best = states[result.best_epoch]
    for name, value in result.model.state_dict().items():
        assert torch.equal(value, best[name]), name
    assert result.best_val_dice == max(d for d in result.history["val_dice"])
