"""The machine a benchmark ran on, in one line: every figure in RESULTS.md carries it.

Which precision is fastest depends on the CPU (bench/RESULTS.md, /work/shared/MEASURED.md),
so each benchmark prints the CPU model, the /proc/cpuinfo flags that decide bf16, torch's
view of them (``torch.cpu.get_capabilities()``) and oneDNN's instruction-set cap, if any.
"""

from __future__ import annotations

import os
from pathlib import Path

FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile", "avx2")
TORCH_KEYS = ("architecture", "cpu_name", "num_physical_cores", "avx2", "avx512_f",
              "avx512_bf16", "amx_bf16", "bf16", "sve_bf16")


def cpu_report() -> str:
    """The CPU in one paragraph: model, bf16-deciding flags, torch's view, oneDNN's cap."""
    import torch

    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                  if line.startswith("model name")), "unknown")
    flags = next((set(line.split(":", 1)[1].split()) for line in info.splitlines()
                  if line.startswith("flags")), set())
    caps = dict(torch.cpu.get_capabilities()) if hasattr(torch.cpu, "get_capabilities") else {}
    shown = {key: caps[key] for key in TORCH_KEYS if key in caps}
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "none")
    return (f"CPU: {model}, {os.cpu_count()} logical cores; /proc/cpuinfo flags: "
            + ", ".join(f"{flag}={'yes' if flag in flags else 'no'}" for flag in FLAGS)
            + f"; torch {torch.__version__} capabilities: {shown}; ONEDNN_MAX_CPU_ISA={cap}")
