"""A run stopped after epoch k and resumed from its checkpoint ends as if never stopped."""

from __future__ import annotations

import pytest
import torch

from tests.tiny import TINY
from tuner.config import TrainConfig
from tuner.data import build_splits
from tuner.records import CPU_SECONDS, DEVICE_SECONDS, LOAD, WALL_SECONDS
from tuner.training.loop import fit


@pytest.mark.parametrize("settings", [
    dict(),  # Adam, no schedule, flips
    dict(optimizer="sgd", lr=0.05, scheduler="cosine", dropout=0.2, augment="combine"),
    dict(scheduler="plateau", early_stop_patience=3),
])
def test_a_resumed_run_ends_like_an_uninterrupted_one(settings):
    cfg = TrainConfig.from_dict({**TINY, "epochs": 5, **settings})
    splits = build_splits(cfg)
    saved: dict[int, bytes] = {}
    whole = fit(cfg, splits, on_checkpoint=lambda epoch, capture: saved.update({epoch:
                                                                                capture()}))
    assert 2 in saved and cfg.epochs not in saved  # the last epoch needs no checkpoint
    resumed = fit(cfg, splits, resume=saved[2])
    assert resumed.resumed_from == 2
    measured = (WALL_SECONDS, CPU_SECONDS, DEVICE_SECONDS, LOAD)  # the machine's, not the run's
    assert {k: v for k, v in resumed.history.items() if k not in measured} == {
        k: v for k, v in whole.history.items() if k not in measured}
    assert all(len(resumed.history[k]) == whole.epochs_run for k in measured)
    assert (resumed.best_epoch, resumed.best_val_dice) == (whole.best_epoch,
                                                           whole.best_val_dice)
    for a, b in zip(whole.model.state_dict().values(), resumed.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_a_checkpoint_of_another_format_starts_afresh():
    import io

    cfg = TrainConfig.from_dict({**TINY, "epochs": 2})
    buffer = io.BytesIO()
    torch.save({"format": 0}, buffer)
    run = fit(cfg, resume=buffer.getvalue())
    assert run.resumed_from == 0 and run.epochs_run == 2


@pytest.mark.parametrize("first", ["fp32", "bf16"])
def test_a_resumed_auto_run_computes_in_the_precision_of_its_first_part(first):
    # precision=auto may choose by timing, differently in another process: the part after
    # the checkpoint must compute as the part before it did
    cfg = TrainConfig.from_dict({**TINY, "epochs": 3, "precision": first})
    splits = build_splits(cfg)
    saved: dict[int, bytes] = {}
    fit(cfg, splits, on_checkpoint=lambda epoch, capture: saved.update({epoch: capture()}))
    resumed = fit(cfg.replace(precision="auto"), splits, resume=saved[1])
    assert resumed.runtime.precision == first
    assert "as the part of this run before its checkpoint" in resumed.runtime.precision_reason
