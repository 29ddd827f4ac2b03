"""Scoring a model without training it: loss and scores over a split, probabilities.

The one evaluation pass of the project: validation each epoch (:mod:`tuner.training.loop`),
the test scores of a trial, ``tuner train`` and a stored trial's weights scored later all
call :func:`score_batches` (eval mode, no augmentation, confusion counts over the whole
split, micro-reduced).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

from tuner import interrupt
from tuner.config import TrainConfig
from tuner.data import Split, eval_batches
from tuner.training.device import Runtime
from tuner.training.losses import build_loss, foreground_probability
from tuner.training.metrics import SplitMeter

Normalize = Callable[[torch.Tensor], torch.Tensor]


@torch.inference_mode()
def score_batches(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                  loss_fn: nn.Module, runtime: Runtime, threshold: float) -> dict[str, float]:
    """Loss and scores of ``model`` over all ``batches`` (eval mode, no augmentation)."""
    model.eval()
    meter = SplitMeter(threshold)
    for images, masks in batches:
        interrupt.raise_if_requested()  # a stop (Ctrl-C, SIGTERM) waits for one batch
        images, masks = runtime.to_device(images), masks.to(runtime.device)
        with runtime.autocast():
            logits = model(images)
        meter.update(logits, masks, loss_fn(logits, masks))
    return meter.compute()


def score(model: nn.Module, split: Split, cfg: TrainConfig, runtime: Runtime,
          normalize: Normalize) -> dict[str, float]:
    """Loss (``cfg.loss``) and scores of ``model`` on a whole ``split``, as in validation."""
    return score_batches(model, eval_batches(split, cfg.batch_size, normalize, runtime.device,
                                             runtime.channels_last),
                         build_loss(cfg), runtime, cfg.threshold)


@torch.inference_mode()
def predict_probabilities(model: nn.Module, images: torch.Tensor, runtime: Runtime,
                          normalize: Normalize) -> torch.Tensor:
    """Foreground probabilities (N, 1, H, W) on the CPU for raw [0, 1] ``images``."""
    model.eval()
    with runtime.autocast():
        logits = model(runtime.to_device(normalize(images)))
    return foreground_probability(logits.float()).cpu()
