"""Benchmark: tuner's default recipe against a plain PyTorch loop, side by side.

The plain loop is what a person writes in 60 lines: the classic UNet (base width 16,
BatchNorm), Adam 1e-3, BCE + soft Dice, horizontal flips, per-channel z-score from the
training images, batch 16 (4 on the 30 ISBI images), the best validation Dice over the
epochs (micro over the split, threshold 0.5). Both sides get the same decoded images and
the same train / validation indices (tuner's 60/20/20 split); everything after that the
plain loop does on its own, with no tuner code. tuner trains ``TrainConfig`` defaults with
only the dataset, size, epochs, seed and batch size set, in the precision ``precision=auto``
picks (the plain loop uses the same one). Runs alternate (plain, tuner, tuner, plain, ...),
so drift on a noisy machine touches both.

Target (issue 16): tuner within 0.01 validation Dice of the plain loop, in at most 1.05x
its wall time (training only: model build to the last validation; decoding is shared).

    .venv/bin/python bench/plain_vs_tuner.py [--seeds 3] [--epochs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch  # noqa: E402
from machine import cpu_report  # noqa: E402  (bench/machine.py)
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from tuner.config import TrainConfig  # noqa: E402
from tuner.data import build_splits  # noqa: E402
from tuner.training import resolve_runtime  # noqa: E402
from tuner.training.loop import fit  # noqa: E402

ISBI = Path(os.environ.get("TUNER_ISBI_DIR",
                           Path(__file__).resolve().parents[2] / "shared/data/isbi2012_membrane"))


# -- the plain loop (no tuner code below this line until `def tuner_run`) -------------------
def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True), nn.Conv2d(cout, cout, 3, padding=1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class UNet(nn.Module):
    def __init__(self, base: int = 16) -> None:
        super().__init__()
        w = [base * m for m in (1, 2, 4, 8, 16)]
        self.downs = nn.ModuleList(block(i, o) for i, o in zip([3, *w[:-1]], w, strict=True))
        self.ups = nn.ModuleList(nn.ConvTranspose2d(w[i], w[i - 1], 2, stride=2)
                                 for i in range(4, 0, -1))
        self.convs = nn.ModuleList(block(2 * w[i - 1], w[i - 1]) for i in range(4, 0, -1))
        self.head = nn.Conv2d(base, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs[:-1]:
            x = down(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.downs[-1](x)
        for up, conv in zip(self.ups, self.convs, strict=True):
            x = conv(torch.cat([skips.pop(), up(x)], 1))
        return self.head(x)


def bce_dice(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits.float())
    dice = (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
    return 0.5 * F.binary_cross_entropy_with_logits(logits.float(), y) + 0.5 * (1 - dice)


def plain_run(x_train, y_train, x_val, y_val, seed: int, epochs: int, batch: int,
              dtype: torch.dtype | None, device: str = "cpu") -> tuple[float, float]:
    """(best validation Dice, seconds) of the plain recipe on ``device``."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    x_train, y_train, x_val, y_val = (t.to(device) for t in (x_train, y_train, x_val, y_val))
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True)
    norm = lambda x: ((x - mean) / std).contiguous(memory_format=torch.channels_last)  # noqa
    model = UNet().to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    best = 0.0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x_train), device=device)
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            x, y = x_train[idx], y_train[idx]
            flip = torch.rand(len(idx), device=device) < 0.5
            x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
            with torch.autocast(device, dtype=dtype, enabled=dtype is not None):
                logits = model(norm(x))
            loss = bce_dice(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        tp = fp = fn = 0
        with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=dtype is not None):
            for i in range(0, len(x_val), batch):
                pred = model(norm(x_val[i:i + batch])).float() > 0
                truth = y_val[i:i + batch] > 0.5
                tp += (pred & truth).sum().item()
                fp += (pred & ~truth).sum().item()
                fn += (~pred & truth).sum().item()
        best = max(best, 2 * tp / max(2 * tp + fp + fn, 1))
    return best, time.perf_counter() - start


# -- tuner's side ------------------------------------------------------------------------------
def tuner_run(cfg: TrainConfig, splits) -> tuple[float, float]:
    start = time.perf_counter()
    result = fit(cfg, splits)
    return result.best_val_dice, time.perf_counter() - start


def compare(name: str, cfg: TrainConfig, seeds: int) -> str:
    splits = build_splits(cfg)  # decoded once; the same images for both sides
    runtime = resolve_runtime(cfg)
    dtype = runtime.autocast_dtype
    print(f"{name}: train {len(splits.train)}, val {len(splits.val)}, "
          f"runtime {runtime.describe()}", flush=True)
    plain, ours = [], []
    for seed in range(seeds):
        seeded = cfg.replace(seed=seed)
        order = ("plain", "tuner") if seed % 2 == 0 else ("tuner", "plain")
        for side in order:
            if side == "plain":
                plain.append(plain_run(*splits.train.tensors(),
                                       *splits.val.tensors(), seed,
                                       cfg.epochs, cfg.batch_size, dtype))
            else:
                ours.append(tuner_run(seeded, splits))
            print(f"  seed {seed} {side}: Dice {(plain if side == 'plain' else ours)[-1][0]:.4f}"
                  f" in {(plain if side == 'plain' else ours)[-1][1]:.1f} s", flush=True)
    dice_p, dice_t = (statistics.fmean(d for d, _ in runs) for runs in (plain, ours))
    sec_p, sec_t = (statistics.median(s for _, s in runs) for runs in (plain, ours))
    return (f"| {name} | {runtime.precision} | {dice_p:.4f} | {dice_t:.4f} | "
            f"{dice_t - dice_p:+.4f} | {sec_p:.1f} | {sec_t:.1f} | {sec_t / sec_p:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    print(cpu_report())
    cases = {"synthetic 64 px": TrainConfig(epochs=args.epochs)}
    if ISBI.is_dir():
        cases["ISBI 2012 128 px"] = TrainConfig(dataset=f"folder:{ISBI}", image_size=128,
                                                batch_size=4, epochs=args.epochs)
    rows = [compare(name, cfg, args.seeds) for name, cfg in cases.items()]
    print(f"\n{args.seeds} seeds x {args.epochs} epochs; Dice: mean best validation Dice; "
          "seconds: median per run")
    print("| data | precision | plain Dice | tuner Dice | difference | plain s | tuner s | "
          "tuner / plain |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
