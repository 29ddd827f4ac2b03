"""Benchmark: the data path alone at the default setting (issue 25's in-memory check).

Times one train batch (shuffle, horizontal flips, uint8 -> float, z-score) and one
validation batch of the default run (synthetic pool, 64 px, batch 16) without a model, 30
epochs after 3 of warm-up: the cost a run pays for its data per optimizer step. Run it
from a checkout's root to compare two checkouts side by side, alternating:

    (cd A && .venv/bin/python bench/data_path.py A); (cd B && python .../data_path.py B)
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
sys.path.insert(0, os.getcwd())  # the checkout run from, not the installed one

from tuner.config import TrainConfig  # noqa: E402
from tuner.data import TrainBatches, build_splits, eval_batches, make_normalizer  # noqa: E402

EPOCHS = 30


def main() -> None:
    cfg = TrainConfig(base_channels=8, precision="fp32")
    splits = build_splits(cfg)
    normalize = make_normalizer(cfg, splits.train)
    batches = TrainBatches(splits.train, cfg, normalize)
    for _ in range(3):
        list(batches)
    start, count = time.perf_counter(), 0
    for _ in range(EPOCHS):
        for _ in batches:
            count += 1
    train_ms = (time.perf_counter() - start) / count * 1e3
    start, count = time.perf_counter(), 0
    for _ in range(EPOCHS):
        for _ in eval_batches(splits.val, cfg.batch_size, normalize):
            count += 1
    eval_ms = (time.perf_counter() - start) / count * 1e3
    label = sys.argv[1] if len(sys.argv) > 1 else "this checkout"
    print(f"{label}: train batch {train_ms:.3f} ms, validation batch {eval_ms:.3f} ms")


if __name__ == "__main__":
    main()
