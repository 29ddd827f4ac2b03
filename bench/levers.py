"""Benchmark: the CPU levers tuner turns on by default, measured on its own training loop.

For each dataset (the built-in synthetic pool at 64 px, and the ISBI 2012 membranes at
128 px when ../shared/data/isbi2012_membrane exists), trains the default classic UNet with
``tuner.training.loop.fit`` in three variants, alternating them over ``--rounds``:

- fp32, NCHW (plain PyTorch defaults),
- fp32, channels_last,
- bf16 autocast, channels_last (tuner's default on a CPU with native bf16),

and reports train images per second (epoch time includes validation) and the best
validation Dice, so that speed is never bought with accuracy.

    .venv/bin/python bench/levers.py [--rounds 2] [--epochs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from tuner.config import TrainConfig  # noqa: E402
from tuner.data import build_splits  # noqa: E402
from tuner.training.loop import fit  # noqa: E402

ISBI = Path(os.environ.get("TUNER_ISBI_DIR",
                           Path(__file__).resolve().parents[2] / "shared/data/isbi2012_membrane"))
VARIANTS = {
    "fp32 NCHW": dict(precision="fp32", channels_last=False),
    "fp32 channels_last": dict(precision="fp32", channels_last=True),
    "bf16 channels_last": dict(precision="bf16", channels_last=True),
}


def datasets() -> dict[str, TrainConfig]:
    out = {"synthetic 64 px": TrainConfig()}
    if ISBI.is_dir():
        out["ISBI 2012 128 px"] = TrainConfig(dataset=f"folder:{ISBI}", image_size=128,
                                              train_fraction=1.0, batch_size=4)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    print("| data | variant | train images/s | best val Dice (per round) |")
    print("|---|---|---|---|")
    for data_name, base in datasets().items():
        base = base.replace(epochs=args.epochs)
        splits = build_splits(base)
        fit(base.replace(epochs=1), splits)  # warm-up
        speed = {name: [] for name in VARIANTS}
        dice = {name: [] for name in VARIANTS}
        for _ in range(args.rounds):
            for name, changes in VARIANTS.items():
                result = fit(base.replace(**changes), splits)
                images = len(splits.train) * result.epochs_run
                speed[name].append(images / result.seconds)
                dice[name].append(result.best_val_dice)
        for name in VARIANTS:
            print(f"| {data_name} | {name} | {statistics.median(speed[name]):.0f} | "
                  + " / ".join(f"{d:.3f}" for d in dice[name]) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
