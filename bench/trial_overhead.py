"""Benchmark: one tuner trial against a bare PyTorch loop, side by side in one run.

Both train the same classic UNet (base 16, BatchNorm) on the same tensors (the built-in
synthetic pool, its 80% train subset), for the same epochs, with the same batch size,
optimizer, bf16 autocast and channels_last, and both validate every epoch. The tuner side
is a complete trial of a one-point grid study in a fresh SQLite storage: claim, heartbeat,
per-epoch report/prune/curves, galleries, test pass, tell. The bare side is what a careful
person writes by hand. Runs alternate (bare, tuner, bare, tuner, ...) so that machine noise
hits both alike; the ratio of medians is the figure.

    .venv/bin/python bench/trial_overhead.py [--rounds 3] [--epochs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import textwrap
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from tuner.config import TrainConfig  # noqa: E402
from tuner.data import build_splits  # noqa: E402
from tuner.study.spec import load_spec  # noqa: E402
from tuner.training.models import ClassicUNet  # noqa: E402
from tuner.training.precision import choose_precision  # noqa: E402
from tuner.workers.runner import RunOptions, prepare_study, run_worker  # noqa: E402

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def bare_run(cfg: TrainConfig) -> tuple[float, float]:
    """Seconds and best validation Dice of a hand-written loop; same work as a trial."""
    splits = build_splits(cfg)  # cached: the same tensors the trial uses
    start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    model = ClassicUNet(3, 1, cfg.base_channels, cfg.batchnorm, cfg.dropout)
    model = model.to(memory_format=torch.channels_last)
    x_train = ((splits.train.tensors()[0] - IMAGENET_MEAN) / IMAGENET_STD)
    x_val = ((splits.val.tensors()[0] - IMAGENET_MEAN) / IMAGENET_STD)
    y_train, y_val = splits.train.tensors()[1], splits.val.tensors()[1]
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    dtype = choose_precision(cfg, torch.device("cpu")).dtype  # as tuner's side picks
    best = 0.0
    for _ in range(cfg.epochs):
        model.train()
        order = torch.randperm(len(x_train))
        for i in range(0, len(order), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            x = x_train[idx].contiguous(memory_format=torch.channels_last)
            y = y_train[idx]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                logits = model(x)
            logits = logits.float()
            probs = torch.sigmoid(logits)
            dice = 1 - (2 * (probs * y).sum() + 1) / (probs.sum() + y.sum() + 1)
            loss = 0.5 * F.binary_cross_entropy_with_logits(logits, y) + 0.5 * dice
            loss.backward()
            optimizer.step()
        model.eval()
        tp = fp = fn = 0.0
        with torch.inference_mode():
            for i in range(0, len(x_val), cfg.batch_size):
                x = x_val[i:i + cfg.batch_size].contiguous(memory_format=torch.channels_last)
                with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
                    pred = model(x).float() > 0
                y = y_val[i:i + cfg.batch_size] > 0.5
                tp += (pred & y).sum().item()
                fp += (pred & ~y).sum().item()
                fn += (~pred & y).sum().item()
        best = max(best, 2 * tp / max(2 * tp + fp + fn, 1))
    return time.perf_counter() - start, best


STUDY = """
from tuner import StudySpec, categorical
study = StudySpec(name="overhead", sampler="grid", pruner="none",
                  base=dict(augment="{augment}", epochs={epochs}, seed={seed}),
                  space=dict(weight_decay=categorical([0.0])))
"""


def tuner_run(cfg: TrainConfig, folder: Path, augment: str) -> tuple[float, float]:
    """Seconds and value of one complete trial of a one-point grid study."""
    path = folder / f"overhead_{augment}_{time.monotonic_ns()}.py"
    path.write_text(textwrap.dedent(STUDY.format(augment=augment, epochs=cfg.epochs,
                                                 seed=cfg.seed)))
    spec = load_spec(path)
    options = RunOptions(storage=f"sqlite:///{folder / (path.stem + '.db')}")
    study = prepare_study(spec, options)
    start = time.perf_counter()
    run_worker(spec, options)
    seconds = time.perf_counter() - start
    return seconds, study.best_value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args(argv)
    cfg = TrainConfig(augment="none", epochs=args.epochs, weight_decay=0.0)
    build_splits(cfg)  # decode once, outside every timing
    bare, plain, flipped = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tuner_run(cfg.replace(epochs=1), folder, "none")  # warm-up: kernels, imports
        for round_ in range(args.rounds):
            bare.append(bare_run(cfg))
            plain.append(tuner_run(cfg, folder, "none"))
            flipped.append(tuner_run(cfg, folder, "flip"))
            print(f"round {round_ + 1}: bare {bare[-1][0]:.1f} s (Dice {bare[-1][1]:.3f}), "
                  f"tuner {plain[-1][0]:.1f} s (Dice {plain[-1][1]:.3f}), "
                  f"tuner+flip {flipped[-1][0]:.1f} s (Dice {flipped[-1][1]:.3f})", flush=True)
    med = {name: statistics.median(s for s, _ in runs)
           for name, runs in (("bare", bare), ("tuner", plain), ("flip", flipped))}
    print(f"median seconds: bare {med['bare']:.2f}, tuner {med['tuner']:.2f} "
          f"(ratio {med['tuner'] / med['bare']:.3f}), tuner with flip augmentation "
          f"{med['flip']:.2f} (ratio {med['flip'] / med['bare']:.3f})")
    print("per-round ratios tuner/bare: "
          + ", ".join(f"{t[0] / b[0]:.3f}" for t, b in zip(plain, bare, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
