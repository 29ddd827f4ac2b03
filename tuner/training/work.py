"""Training work in floating-point operations: what "cheaper" means when runs are compared.

Wall seconds measure the machine as much as the configuration (the same configuration took
14 s and 5 s on one loaded CPU), so the winner rule (``tuner.results.winner``) compares
work instead: the model's forward FLOPs for one image at the run's size, counted once by
torch's own ``FlopCounterMode``, times the images trained. Backward passes cost about twice
the forward for every model alike, so the forward count orders configurations the same.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tuner.config import TrainConfig

#: the config fields that decide a model's FLOPs per image
WORK_FIELDS = ("arch", "encoder", "head", "base_channels", "batchnorm", "image_size")
_GFLOP: dict[tuple, float] = {}


def forward_gflop(model: nn.Module, cfg: TrainConfig, device: torch.device) -> float:
    """GFLOP of one forward pass of ``model`` on one ``image_size`` image (cached per
    process by :data:`WORK_FIELDS`). Counted in eval mode without gradients, so nothing
    of the model changes (no BatchNorm statistics are updated)."""
    key = tuple(getattr(cfg, name) for name in WORK_FIELDS)
    if key not in _GFLOP:
        was_training = model.training
        model.eval()
        try:
            image = torch.zeros(1, 3, cfg.image_size, cfg.image_size, device=device)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(image)
        finally:
            model.train(was_training)
        _GFLOP[key] = counter.get_total_flops() / 1e9
    return _GFLOP[key]
