"""Where and how a run computes: device, mixed precision, threads, memory format.

``device=auto`` picks CUDA when present. ``precision=auto`` is decided by
:mod:`tuner.training.precision` (bf16 only where the hardware computes it natively, or
where a short calibration finds it faster; fp16 with a gradient scaler on CUDA GPUs
without bf16), and the :class:`Runtime` keeps the reason, so a run can say and store why
it computes as it does. fp16 is CUDA-only.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from tuner.config import TrainConfig
from tuner.errors import TunerError
from tuner.training.precision import DTYPES, choose_precision


@dataclass(frozen=True)
class Runtime:
    """The resolved execution settings of one run."""

    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain fp32
    channels_last: bool
    precision_reason: str = ""  # why autocast_dtype was chosen, in words

    @property
    def precision(self) -> str:
        """``fp32``, ``bf16`` or ``fp16``: the precision name of ``autocast_dtype``."""
        return next(name for name, dtype in DTYPES.items() if dtype == self.autocast_dtype)

    @property
    def needs_grad_scaler(self) -> bool:
        return self.autocast_dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed-precision context for forward passes (a no-op in fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """Move a batch (N, C, H, W) to the device in the run's memory format."""
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def describe(self) -> str:
        """One line for people: ``cpu bf16, channels_last (auto: this CPU computes ...)``."""
        layout = ", channels_last" if self.channels_last else ""
        why = f" ({self.precision_reason})" if self.precision_reason else ""
        return f"{self.device.type} {self.precision}{layout}{why}"

    def as_record(self) -> dict[str, str | bool]:
        """What to store with a trial: device, precision, the reason, the memory format."""
        return {"device": self.device.type, "precision": self.precision,
                "precision_reason": self.precision_reason,
                "channels_last": self.channels_last}


def check_runtime(cfg: TrainConfig) -> torch.device:
    """The device of ``cfg`` on this machine; a one-line TunerError where ``device`` or
    ``precision`` cannot be honoured here (no GPU, fp16 on a CPU). Cheap: the pre-run
    checks call it for every device and precision a study can ask for."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TunerError("config field 'device': got 'cuda', but no CUDA device is visible; "
                         "expected 'auto' or 'cpu' on this machine")
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if cfg.precision == "fp16" and not use_cuda:
        raise TunerError("config field 'precision': got 'fp16', which needs CUDA; "
                         "expected bf16, fp32 or auto on the CPU")
    return torch.device("cuda" if use_cuda else "cpu")


def resolve_runtime(cfg: TrainConfig) -> Runtime:
    """Turn the ``device``, ``precision``, ``threads`` and ``channels_last`` fields into a
    :class:`Runtime`; sets torch's thread count for this process when ``threads`` > 0."""
    device = check_runtime(cfg)
    use_cuda = device.type == "cuda"
    if cfg.threads > 0 and torch.get_num_threads() != cfg.threads:
        torch.set_num_threads(cfg.threads)
    if use_cuda:
        torch.backends.cudnn.benchmark = True  # fixed image sizes: pick the fastest kernels
    choice = choose_precision(cfg, device)
    return Runtime(device=device, autocast_dtype=choice.dtype, channels_last=cfg.channels_last,
                   precision_reason=choice.reason)
