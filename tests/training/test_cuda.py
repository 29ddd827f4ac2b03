"""The CUDA path, on a machine with a GPU (skipped elsewhere; bench/gpu_check.sh runs it)."""

from __future__ import annotations

import pytest
import torch

from tests.tiny import TINY
from tuner.config import TrainConfig
from tuner.data import TrainBatches, build_splits, kept_on_device
from tuner.training import resolve_runtime
from tuner.training.loop import fit

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")]


def test_auto_picks_the_gpu_and_its_precision():
    runtime = resolve_runtime(TrainConfig())
    assert runtime.device.type == "cuda"
    major, _ = torch.cuda.get_device_capability()
    assert runtime.precision == ("bf16" if major >= 8 else "fp16")
    assert runtime.needs_grad_scaler == (major < 8)


@pytest.mark.parametrize("precision", ["fp32", "auto", "fp16"])
def test_a_tiny_fit_on_the_gpu_learns_and_is_deterministic(precision):
    cfg = TrainConfig(**{**TINY, "epochs": 3}, device="cuda", precision=precision)
    splits = build_splits(cfg)
    first, again = fit(cfg, splits), fit(cfg, splits)
    assert 0.0 < first.best_val_dice <= 1.0
    assert next(first.model.parameters()).device.type == "cuda"
    assert abs(first.best_val_dice - again.best_val_dice) < 0.05  # cuDNN may differ a little


def test_the_pool_is_copied_to_the_gpu_once_and_batches_come_from_there():
    cfg = TrainConfig(**TINY, device="cuda", augment="none")
    splits = build_splits(cfg)
    gpu = torch.device("cuda")
    batches = TrainBatches(splits.train, cfg, lambda x: x, gpu)
    images, masks = next(iter(batches))
    assert images.device.type == masks.device.type == "cuda"
    assert batches.on_device is not None and batches.on_device.images.dtype == torch.uint8
    assert kept_on_device(splits.val, gpu).images.device.type == "cuda"
    augmented = TrainBatches(splits.train, TrainConfig(**{**TINY, "augment": "flips"},
                                                       device="cuda"), lambda x: x, gpu)
    assert augmented.on_device is None  # albumentations works on host arrays
    assert augmented.workers >= 1  # prepared by loader workers while the GPU trains
    images, _ = next(iter(augmented))
    assert images.device.type == "cuda" and images.dtype == torch.float32
    augmented.close()
