"""Benchmark: the CPU levers tuner turns on by default, measured on its own training loop.

For each dataset (the built-in synthetic pool at 64 px, and the ISBI 2012 membranes at
128 px when ../shared/data/isbi2012_membrane exists), trains the default classic UNet with
``tuner.training.loop.fit`` in three variants, alternating them over ``--rounds``:

- fp32, NCHW (plain PyTorch defaults),
- fp32, channels_last,
- bf16 autocast, channels_last,
- ``precision=auto``, channels_last: tuner's default (the choice and its reason printed),

and reports train images per second (epoch time includes validation) and the best
validation Dice, so that speed is never bought with accuracy.

``--isa`` instead times training steps of the default model in fp32 and bf16 (the
calibration of :mod:`tuner.training.precision`) under each oneDNN instruction-set cap
given, one fresh process per cap (oneDNN reads ``ONEDNN_MAX_CPU_ISA`` once): on a CPU
with AMX this shows what bf16 costs on CPUs without it (``AVX512_CORE_BF16``: AVX512-BF16
only; ``AVX512_CORE_VNNI``: AVX-512 without bf16, which oneDNN emulates; ``AVX2``), and
what ``precision=auto`` picks there.

    .venv/bin/python bench/levers.py [--rounds 2] [--epochs 15]
    .venv/bin/python bench/levers.py --isa ALL,AVX512_CORE_BF16,AVX512_CORE_VNNI,AVX2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from machine import cpu_report  # noqa: E402  (bench/machine.py)

from tuner.config import TrainConfig  # noqa: E402
from tuner.data import build_splits  # noqa: E402
from tuner.training.loop import fit  # noqa: E402
from tuner.training.precision import choose_precision, time_training_steps  # noqa: E402

ISBI = Path(os.environ.get("TUNER_ISBI_DIR",
                           Path(__file__).resolve().parents[2] / "shared/data/isbi2012_membrane"))
VARIANTS = {
    "fp32 NCHW": dict(precision="fp32", channels_last=False),
    "fp32 channels_last": dict(precision="fp32", channels_last=True),
    "bf16 channels_last": dict(precision="bf16", channels_last=True),
    "auto channels_last (default)": dict(precision="auto", channels_last=True),
}


def datasets() -> dict[str, TrainConfig]:
    out = {"synthetic 64 px": TrainConfig()}
    if ISBI.is_dir():
        out["ISBI 2012 128 px"] = TrainConfig(dataset=f"folder:{ISBI}", image_size=128,
                                              train_fraction=1.0, batch_size=4)
    return out


def one_isa(steps: int) -> None:
    """In a child process: fp32 and bf16 seconds per step and auto's choice, as JSON."""
    import torch

    cfg = TrainConfig()
    seconds = time_training_steps(cfg, ("fp32", "bf16"), steps)
    choice = choose_precision(cfg, torch.device("cpu"))
    print(json.dumps(dict(seconds=seconds, choice=choice.precision, reason=choice.reason)))


def isa_table(caps: list[str], steps: int) -> None:
    """Per oneDNN cap ("ALL": none), in a fresh process each: ms per step and the choice."""
    print("| oneDNN cap | fp32 ms/step | bf16 ms/step | bf16 speed-up | auto picks (why) |")
    print("|---|---|---|---|---|")
    for cap in caps:
        env = {**os.environ}
        env.pop("ONEDNN_MAX_CPU_ISA", None)
        if cap != "ALL":
            env["ONEDNN_MAX_CPU_ISA"] = cap
        done = subprocess.run([sys.executable, __file__, "--one-isa", "--steps", str(steps)],
                              env=env, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        fp32, bf16 = row["seconds"]["fp32"], row["seconds"]["bf16"]
        print(f"| {cap} | {fp32 * 1000:.0f} | {bf16 * 1000:.0f} | {fp32 / bf16:.2f}x | "
              f"{row['choice']} ({row['reason']}) |", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--isa", help="oneDNN caps to compare, e.g. ALL,AVX512_CORE_VNNI")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per precision")
    parser.add_argument("--one-isa", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_isa:
        one_isa(args.steps)
        return 0
    print(cpu_report())
    if args.isa:
        isa_table(args.isa.split(","), args.steps)
        return 0
    print("| data | variant | train images/s | best val Dice (per round) |")
    print("|---|---|---|---|")
    for data_name, base in datasets().items():
        base = base.replace(epochs=args.epochs)
        splits = build_splits(base)
        fit(base.replace(epochs=1), splits)  # warm-up
        speed = {name: [] for name in VARIANTS}
        dice = {name: [] for name in VARIANTS}
        reasons: dict[str, str] = {}
        for _ in range(args.rounds):
            for name, changes in VARIANTS.items():
                result = fit(base.replace(**changes), splits)
                reasons[name] = result.runtime.describe()
                images = len(splits.train) * result.epochs_run
                speed[name].append(images / result.seconds)
                dice[name].append(result.best_val_dice)
        for name in VARIANTS:
            print(f"| {data_name} | {name} | {statistics.median(speed[name]):.0f} | "
                  + " / ".join(f"{d:.3f}" for d in dice[name]) + " |", flush=True)
        print(f"{data_name}, default: {reasons[list(VARIANTS)[-1]]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
