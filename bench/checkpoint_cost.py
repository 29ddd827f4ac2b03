"""Benchmark: what a per-epoch checkpoint costs, as a share of the epoch it follows.

Trains tuner's defaults (``TrainConfig()``: the classic UNet, 64 px, the 256-image
synthetic pool) for a few epochs and, after each, captures the checkpoint
(:mod:`tuner.training.checkpoint`) and writes it into an Optuna artifact store in a
temporary folder, as the objective does, timing each part beside the epoch's own seconds.
Target (issue 19): under 3 % of an epoch.

    .venv/bin/python bench/checkpoint_cost.py [--epochs 4] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import optuna  # noqa: E402
from machine import cpu_report  # noqa: E402  (bench/machine.py)

from tuner.config import TrainConfig, parse_assignments  # noqa: E402
from tuner.training.loop import fit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    cfg = TrainConfig.from_dict({**parse_assignments(args.sets), "epochs": args.epochs + 1})
    print(cpu_report())
    captures, writes, sizes = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = optuna.artifacts.FileSystemArtifactStore(tmp)
        path = Path(tmp) / "checkpoint.pt"

        def keep(epoch: int, capture) -> None:
            start = time.perf_counter()
            data = capture()
            captures.append(time.perf_counter() - start)
            start = time.perf_counter()
            path.write_bytes(data)
            with path.open("rb") as handle:
                store.write(f"checkpoint-{epoch}", handle)
            writes.append(time.perf_counter() - start)
            sizes.append(len(data))

        run = fit(cfg, on_checkpoint=keep)
    epoch_s = statistics.median(run.history["seconds"])
    cost = statistics.median(c + w for c, w in zip(captures, writes, strict=True))
    capture_ms, write_ms = (statistics.median(x) * 1e3 for x in (captures, writes))
    print(f"epoch {epoch_s:.3f} s (median of {run.epochs_run}); checkpoint capture "
          f"{capture_ms:.1f} ms + write {write_ms:.1f} ms = {cost / epoch_s:.2%} of an epoch; "
          f"{statistics.median(sizes) / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
