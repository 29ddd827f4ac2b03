"""Which precision a run computes in, and why: ``precision=auto`` never slower than fp32.

On a CPU, bf16 autocast pays only where the CPU computes bf16 natively. oneDNN's own flag
(``torch.ops.mkldnn._is_mkldnn_bf16_supported()``) is True on any AVX-512 CPU because
oneDNN *emulates* bf16 there, and emulated bf16 trained 2.5-3x slower than fp32 (the
project's speed notes, measured with plain PyTorch on three CPU kinds). So the choice reads
the CPU's instruction sets from ``torch.cpu.get_capabilities()``:

- ``amx_bf16`` (Intel AMX matrix units): bf16; measured 1.9-2.1x fp32 (bench/RESULTS.md);
- no bf16 instructions at all: fp32; bf16 would be emulated or unvectorised;
- ``avx512_bf16`` without AMX, ARM's ``bf16`` / ``sve_bf16``, or AMX under an
  ``ONEDNN_MAX_CPU_ISA`` cap: native, but how much it gains depends on the model (with
  AVX512-BF16 alone bf16 timed no faster than fp32 here, bench/RESULTS.md); a short
  calibration (a few timed training steps of the run's own model in each precision, once
  per machine and model shape) picks the faster, and bf16 must beat fp32 by
  :data:`BF16_MARGIN` to be chosen (fp32 is the exact one). The figures are kept in the
  user's cache folder (:func:`calibration_file`, by CPU, torch release and oneDNN cap),
  timed by one process while the others wait: sixteen processes starting at once on two
  cores each timed the same steps, starved, for minutes before their first epoch.

On CUDA: bf16 where the GPU computes it natively (compute capability 8.0 or newer), else
fp16 with a gradient scaler on GPUs with tensor cores (7.0 or newer), else fp32.
:func:`choose_precision` returns the choice with its reason in words, so that a run can
say and store why it computes as it does.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from filelock import FileLock, Timeout

from tuner.config import TrainConfig

#: autocast dtype per precision name (None: plain fp32, no autocast)
DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16,
                                         "fp16": torch.float16}
#: calibrated bf16 must take at most this fraction of fp32's step time to be chosen:
#: a smaller gain is within the noise of a shared machine, and fp32 is the exact choice
BF16_MARGIN = 0.9
#: timed training steps per precision in a calibration (after one warm-up step each)
CALIBRATION_STEPS = 2

#: the folder of stored calibrations (default: the user's cache folder)
CACHE_ENV = "TUNER_PRECISION_CACHE"
#: how long a process waits for another one's calibration before timing its own
CALIBRATION_WAIT_S = 300
#: seconds per training step {precision: s}, per calibration key (one per process and shape)
_CALIBRATIONS: dict[tuple, dict[str, float]] = {}


@dataclass(frozen=True)
class PrecisionChoice:
    """A precision name (``fp32``, ``bf16`` or ``fp16``) and why it was chosen."""

    precision: str
    reason: str

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES[self.precision]


def choose_precision(cfg: TrainConfig, device: torch.device) -> PrecisionChoice:
    """The precision a run of ``cfg`` on ``device`` computes in, with the reason.

    An explicit ``precision`` wins (that fp16 needs CUDA is checked once, by
    :func:`tuner.training.device.check_runtime`); ``auto`` decides per device as the
    module says. May run a calibration on a CPU, once per process and model shape.
    """
    if cfg.precision != "auto":
        return PrecisionChoice(cfg.precision, f"precision={cfg.precision} was asked for")
    if device.type == "cuda":
        return _cuda_choice(device)
    return _cpu_choice(cfg)


# -- CUDA ------------------------------------------------------------------------------------
def _cuda_choice(device: torch.device) -> PrecisionChoice:
    major, minor = torch.cuda.get_device_capability(device)
    name = f"{torch.cuda.get_device_name(device)} (compute capability {major}.{minor})"
    if major >= 8:  # Ampere and newer: bf16 tensor cores, no loss scaling needed
        return PrecisionChoice("bf16", f"auto: {name} computes bf16 natively")
    if major >= 7:  # Volta / Turing: fp16 tensor cores; bf16 would be emulated
        return PrecisionChoice("fp16", f"auto: {name} has fp16 tensor cores but no native "
                               "bf16: fp16 with a gradient scaler")
    return PrecisionChoice("fp32", f"auto: {name} has no tensor cores: mixed precision "
                           "would not be faster")


# -- CPU -------------------------------------------------------------------------------------
def cpu_capabilities() -> Mapping[str, Any]:
    """torch's view of this CPU's instruction sets (empty where torch cannot tell)."""
    get = getattr(torch.cpu, "get_capabilities", None)  # torch >= 2.8
    try:
        return get() if get is not None else {}
    except RuntimeError:
        return {}


def cpu_bf16_support(caps: Mapping[str, Any]) -> tuple[str, str]:
    """How this CPU computes bf16, from ``caps`` (:func:`cpu_capabilities`): one of
    ``"matrix"`` (AMX: bf16 without doubt), ``"vector"`` (native bf16 instructions whose
    gain depends on the model: calibrate), ``"none"`` (emulated or absent: fp32), with the
    instruction sets that decided it in words."""
    if caps.get("amx_bf16"):
        return "matrix", "AMX-BF16"
    if caps.get("avx512_bf16"):
        return "vector", "AVX512-BF16 without AMX"
    if caps.get("sve_bf16") or caps.get("bf16"):  # ARM64 names
        return "vector", "ARM BF16" + (" (SVE)" if caps.get("sve_bf16") else "")
    if caps.get("avx512_f"):
        return "none", "AVX-512 without AVX512-BF16 or AMX: oneDNN would emulate bf16"
    arch = caps.get("architecture", "an unknown architecture")
    return "none", f"no bf16 instructions ({arch})"


def onednn_isa_cap() -> str | None:
    """The instruction-set cap oneDNN was given (``ONEDNN_MAX_CPU_ISA``), if any: below
    AVX512_CORE_BF16 it emulates bf16 even on a CPU that has it."""
    return os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")


def _cpu_choice(cfg: TrainConfig) -> PrecisionChoice:
    kind, why = cpu_bf16_support(cpu_capabilities())
    cap = onednn_isa_cap()
    if kind == "matrix" and cap:
        kind, why = "vector", f"{why}, but oneDNN is capped at {cap}"
    if kind == "matrix":
        return PrecisionChoice("bf16", f"auto: this CPU computes bf16 natively ({why})")
    if kind == "none":
        return PrecisionChoice("fp32", f"auto: {why}; fp32 is faster")
    seconds = calibrate(cfg)
    faster = seconds["bf16"] <= BF16_MARGIN * seconds["fp32"]
    timing = (f"{why}; timed {seconds['bf16'] * 1000:.0f} ms per step in bf16 vs "
              f"{seconds['fp32'] * 1000:.0f} ms in fp32")
    return PrecisionChoice("bf16" if faster else "fp32", f"auto: {timing}")


def calibration_key(cfg: TrainConfig) -> tuple:
    """What decides the bf16/fp32 speed ratio: the model's shape, the batch and the threads."""
    return (cfg.arch, cfg.encoder, cfg.base_channels, cfg.batchnorm, cfg.dropout > 0,
            cfg.head, cfg.freeze_encoder, cfg.image_size, cfg.batch_size, cfg.channels_last,
            torch.get_num_threads())


def calibrate(cfg: TrainConfig) -> dict[str, float]:
    """Seconds per training step of ``cfg``'s model in fp32 and in bf16 on the CPU, timed
    once per machine and :func:`calibration_key` (kept in :func:`calibration_file`; where
    that cannot be read or written, once per process)."""
    key = calibration_key(cfg)
    if key not in _CALIBRATIONS:
        _CALIBRATIONS[key] = _stored_or_timed(cfg, repr(key))
    return _CALIBRATIONS[key]


def calibration_file() -> Path:
    """Where calibrations are kept: ``$TUNER_PRECISION_CACHE``, else the user's cache
    folder, one file per CPU, torch release and oneDNN cap (what decides the figures)."""
    folder = os.environ.get(CACHE_ENV) or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tuner" / "precision"
    caps = cpu_capabilities()
    machine = f"{caps.get('cpu_name', '?')}|{torch.__version__}|{onednn_isa_cap()}"
    return Path(folder) / f"{hashlib.blake2b(machine.encode(), digest_size=8).hexdigest()}.json"


def _stored_or_timed(cfg: TrainConfig, key: str) -> dict[str, float]:
    """The machine's stored figures for ``key``, else timed now (one process at a time:
    the others wait for its figures) and stored."""
    path = calibration_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=CALIBRATION_WAIT_S):
            stored = json.loads(path.read_text()) if path.exists() else {}
            if key not in stored:
                stored[key] = time_training_steps(cfg, ("fp32", "bf16"), CALIBRATION_STEPS)
                partial = path.with_suffix(".partial")
                partial.write_text(json.dumps(stored, indent=1))
                os.replace(partial, path)
            return {name: float(seconds) for name, seconds in stored[key].items()}
    except (OSError, ValueError, Timeout):  # unwritable, damaged, or a stuck timer
        return time_training_steps(cfg, ("fp32", "bf16"), CALIBRATION_STEPS)


def time_training_steps(cfg: TrainConfig, precisions: tuple[str, ...],
                        steps: int) -> dict[str, float]:
    """Fastest of ``steps`` timed training steps (forward, loss, backward, SGD step) of a
    freshly built model of ``cfg`` on random images, per precision, after one warm-up
    step each; the precisions alternate so that a busy moment hits both alike.

    Leaves torch's random state as it found it: the run's own seeding is unaffected.
    """
    from tuner.training.models import build_model  # the models import smp lazily

    size = cfg.image_size
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(cfg.replace(encoder_weights="none")).train()
        images = torch.rand(cfg.batch_size, 3, size, size)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
            images = images.contiguous(memory_format=torch.channels_last)
        masks = (torch.rand(cfg.batch_size, 1, size, size) > 0.5).float()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=1e-6)

        def step(precision: str) -> float:
            start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            dtype = DTYPES[precision]
            with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                logits = model(images)
            F.binary_cross_entropy_with_logits(logits[:, :1].float(), masks).backward()
            optimizer.step()
            return time.perf_counter() - start

        for precision in precisions:
            step(precision)  # warm-up: oneDNN builds its kernels on the first call
        times = {precision: [] for precision in precisions}
        for _ in range(steps):
            for precision in precisions:
                times[precision].append(step(precision))
    return {precision: min(values) for precision, values in times.items()}
