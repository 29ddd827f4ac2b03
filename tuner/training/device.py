"""Where and how a run computes: device, mixed precision, threads, memory format.

``device=auto`` picks CUDA when present. ``precision=auto`` uses bf16 autocast where the
hardware computes bf16 natively (CUDA with bf16, or a CPU with AVX512-BF16/AMX: measured
here 1.5-2.9x faster than fp32 at equal Dice, see bench/RESULTS.md) and fp32 elsewhere.
fp16 is CUDA-only and uses a gradient scaler.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from tuner.config import TrainConfig
from tuner.errors import TunerError


@dataclass(frozen=True)
class Runtime:
    """The resolved execution settings of one run."""

    device: torch.device
    autocast_dtype: torch.dtype | None  # None: plain fp32
    channels_last: bool

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
        dtype = "fp32" if self.autocast_dtype is None else str(self.autocast_dtype).split(".")[1]
        layout = ", channels_last" if self.channels_last else ""
        return f"{self.device.type} {dtype}{layout}"


def cpu_has_bf16() -> bool:
    """True when oneDNN computes bf16 natively on this CPU (AVX512-BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_runtime(cfg: TrainConfig) -> Runtime:
    """Turn the ``device``, ``precision``, ``threads`` and ``channels_last`` fields into a
    :class:`Runtime`; sets torch's thread count for this process when ``threads`` > 0."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise TunerError("config field 'device': got 'cuda', but no CUDA device is visible; "
                         "expected 'auto' or 'cpu' on this machine")
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    if cfg.threads > 0 and torch.get_num_threads() != cfg.threads:
        torch.set_num_threads(cfg.threads)
    if use_cuda:
        has_bf16 = torch.cuda.is_bf16_supported()
        torch.backends.cudnn.benchmark = True  # fixed image sizes: pick the fastest kernels
    else:
        has_bf16 = cpu_has_bf16()
    precision = cfg.precision
    if precision == "auto":
        precision = "bf16" if has_bf16 else "fp32"
    if precision == "fp16" and not use_cuda:
        raise TunerError("config field 'precision': got 'fp16', which needs CUDA; "
                         "expected bf16, fp32 or auto on the CPU")
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return Runtime(device=device, autocast_dtype=dtype, channels_last=cfg.channels_last)
