"""Benchmark: the dataset fingerprint of a study's setup, first run and cached rerun.

Writes N small PNG pairs (64x64 RGB images, binary masks) into a temporary folder
``images/`` + ``masks/``, then times :func:`tuner.data.fingerprint.dataset_fingerprint`
three ways: the first run (every file read and hashed, the cache written), a rerun with the
cache (a ``stat`` per file), and a rerun after one mask was rewritten in place (same name,
same size, other bytes: the change must show and only that file be read again). The
cache goes to a temporary folder too (``TUNER_FINGERPRINT_CACHE``), so the user's cache
is left alone.

    .venv/bin/python bench/fingerprint.py [--pairs 10000] [--side 64]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def write_pairs(root: Path, pairs: int, side: int) -> None:
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(pairs):
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(
            root / "images" / f"{i:05d}.png")
        mask = np.zeros((side, side), np.uint8)
        mask[rng.integers(0, side // 2):, : rng.integers(1, side)] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i:05d}.png")


def timed(dataset: str) -> tuple[float, dict]:
    from tuner.data.fingerprint import dataset_fingerprint

    start = time.perf_counter()
    result = dataset_fingerprint(dataset)
    return time.perf_counter() - start, result


def cpu_model() -> str:
    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    return next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("model name")), platform.processor() or "unknown")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--side", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "data"
        os.environ["TUNER_FINGERPRINT_CACHE"] = str(Path(folder) / "cache")
        start = time.perf_counter()
        write_pairs(root, args.pairs, args.side)
        size = sum(f.stat().st_size for f in root.rglob("*.png"))
        print(f"{2 * args.pairs} PNG files of {args.side}x{args.side} px, {size / 1e6:.1f} MB,"
              f" written in {time.perf_counter() - start:.1f} s; CPU: {cpu_model()}, "
              f"{os.cpu_count()} logical cores")
        first, before = timed(f"folder:{root}")
        cached, again = timed(f"folder:{root}")
        assert again == before, "a cached rerun must give the same fingerprint"
        mask = root / "masks" / f"{args.pairs // 2:05d}.png"
        stat = mask.stat()
        data = bytearray(mask.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size, other bytes (corrupt, as a change)
        mask.write_bytes(bytes(data))
        os.utime(mask, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the mtime kept
        changed, after = timed(f"folder:{root}")
        assert after["content"]["masks"] != before["content"]["masks"]
        assert after["content"]["images"] == before["content"]["images"]
        print(f"first fingerprint {first:.2f} s; cached rerun {cached:.2f} s; rerun after one "
              f"mask rewritten in place (mtime restored) {changed:.2f} s, change seen")


if __name__ == "__main__":
    main()
