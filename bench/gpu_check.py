"""The GPU check: what a machine with a CUDA GPU runs once, in one call, within 8 minutes.

    bash bench/gpu_check.sh            # = .venv/bin/python bench/gpu_check.py --out FILE

It writes, with the GPU's name, driver and torch's CUDA version beside every figure:

1. the suite's CUDA tests (``pytest -m cuda``: they skip on a CPU);
2. a tuner trial against the bare loop of ``bench/plain_vs_tuner.py`` on the GPU, the
   same images, epochs and seeds (target: tuner <= 1.05x the bare loop's time);
3. the precisions (fp32, bf16 where the GPU computes it, fp16 with a gradient scaler) and
   channels_last on and off, seconds per trial and best validation Dice;
4. ``tuner run --devices 0 --workers N`` for N = 1, 2, 4 on one GPU (a small grid): wall
   seconds, trials per minute and the GPU's utilisation sampled by ``nvidia-smi`` every
   0.5 s, to see whether several trials per GPU pay when one leaves it mostly idle.

Every part has its own time limit, so a slow part leaves the others' figures; the file is
rewritten after each part. The data pool on the GPU (``pool_on_gpu``): the same fit with
the train and validation splits copied to the GPU once (tuner's default where they take at
most a quarter of the free memory) and with them kept on the host (copied per batch),
alternated, median seconds and their ratio. ``loader_workers_at_256``: a 2,000-image
256 px folder dataset, one epoch of strong augmentation with one augmented copy, with no
loader worker and with the auto count: images per second and the GPU's utilisation.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

GRID = """
from tuner import StudySpec, categorical
study = StudySpec(name="gpu", sampler="grid", pruner="none",
                  space=dict(lr=categorical([1e-3, 2e-3, 5e-4, 3e-3]),
                             loss=categorical(["bce_dice", "dice"])))
"""


def facts() -> dict:
    import torch

    props = torch.cuda.get_device_properties(0)
    smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                          "--format=csv,noheader"], capture_output=True, text=True)
    return {"gpu": torch.cuda.get_device_name(0), "capability": [props.major, props.minor],
            "memory_gib": round(props.total_memory / 2**30, 1), "torch": torch.__version__,
            "cuda": torch.version.cuda, "nvidia_smi": smi.stdout.strip()}


def cuda_tests(limit: int) -> dict:
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-m", "cuda", "tests"], cwd=ROOT, capture_output=True, text=True,
                          timeout=limit)
    return {"exit": done.returncode, "summary": done.stdout.strip().splitlines()[-1:]}


def bare_against_tuner(seeds: int, epochs: int) -> dict:
    from plain_vs_tuner import plain_run

    from tuner.config import TrainConfig
    from tuner.data import build_splits
    from tuner.training import resolve_runtime
    from tuner.training.loop import fit

    cfg = TrainConfig(epochs=epochs, device="cuda")
    splits = build_splits(cfg)
    dtype = resolve_runtime(cfg).autocast_dtype
    rows = {"bare": [], "tuner": []}
    for seed in range(seeds):
        order = ("bare", "tuner") if seed % 2 == 0 else ("tuner", "bare")
        for side in order:
            start = time.perf_counter()
            if side == "bare":
                dice, _ = plain_run(*splits.train.tensors(),
                                    *splits.val.tensors(), seed, epochs,
                                    cfg.batch_size, dtype, device="cuda")
            else:
                dice = fit(cfg.replace(seed=seed), splits).best_val_dice
            rows[side].append((dice, time.perf_counter() - start))
    bare, ours = (statistics.median(s for _, s in rows[k]) for k in ("bare", "tuner"))
    return {"precision": str(dtype), "bare_s": rows["bare"], "tuner_s": rows["tuner"],
            "ratio": round(ours / bare, 3), "target": "<= 1.05"}


def precisions(epochs: int) -> list[dict]:
    from tuner.config import TrainConfig
    from tuner.data import build_splits
    from tuner.training.loop import fit

    out = []
    for precision in ("fp32", "bf16", "fp16"):
        for channels_last in (True, False):
            cfg = TrainConfig(epochs=epochs, device="cuda", precision=precision,
                              channels_last=channels_last)
            splits = build_splits(cfg)
            start = time.perf_counter()
            try:
                dice = fit(cfg, splits).best_val_dice
            except Exception as exc:  # a precision the GPU lacks: say so and go on
                out.append({"precision": precision, "channels_last": channels_last,
                            "error": f"{type(exc).__name__}: {exc}"[:200]})
                continue
            out.append({"precision": precision, "channels_last": channels_last,
                        "seconds": round(time.perf_counter() - start, 2),
                        "best_val_dice": round(dice, 4)})
    return out


def pool_on_gpu(seeds: int, epochs: int) -> dict:
    import tuner.data.batches as batches
    from tuner.config import TrainConfig
    from tuner.data import build_splits
    from tuner.training.loop import fit

    cfg = TrainConfig(epochs=epochs, device="cuda", augment="none")
    splits = build_splits(cfg)
    rows: dict[str, list[float]] = {"gpu": [], "host": []}
    for seed in range(seeds):
        for side in (("gpu", "host") if seed % 2 == 0 else ("host", "gpu")):
            batches.DEVICE_POOL_SHARE = 0.25 if side == "gpu" else 0.0
            start = time.perf_counter()
            fit(cfg.replace(seed=seed), splits)
            rows[side].append(round(time.perf_counter() - start, 2))
    batches.DEVICE_POOL_SHARE = 0.25
    gpu, host = (statistics.median(rows[k]) for k in ("gpu", "host"))
    return {"seconds": rows, "gpu_over_host": round(gpu / host, 3)}


class Utilisation:
    """nvidia-smi's GPU utilisation, sampled every 0.5 s while the block runs."""

    def __enter__(self):
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            done = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                   "--format=csv,noheader,nounits", "-i", "0"],
                                  capture_output=True, text=True)
            if done.returncode == 0 and done.stdout.strip().isdigit():
                self.samples.append(int(done.stdout.strip()))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def loader_workers_at_256(images: int = 2000) -> list[dict]:
    """A 256 px folder dataset (written here, decoded once into the cache), one epoch of
    ``augment=strong`` with ``n_aug=1``: images per second and the GPU's utilisation with
    no loader worker and with the auto count (issue 25)."""
    from PIL import Image

    from tuner.data.synthetic import make_synthetic

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "data"
        (folder / "images").mkdir(parents=True)
        (folder / "masks").mkdir()
        scenes, masks, _ = make_synthetic(100, 256)
        for i in range(images):
            Image.fromarray(np.roll(scenes[i % 100], i // 100, axis=1)).save(
                folder / "images" / f"{i:05d}.jpg")
            Image.fromarray(np.roll(masks[i % 100], i // 100, axis=1) * 255).save(
                folder / "masks" / f"{i:05d}.png")
        for workers in (0, -1, 0, -1):  # twice each, alternating: the machine drifts
            with Utilisation() as gpu:
                done = subprocess.run(
                    [sys.executable, "-m", "tuner.cli", "train", "--data", f"folder:{folder}",
                     "--set", "image_size=256", "epochs=1", "augment=strong", "n_aug=1",
                     "batch_size=32", f"loader_workers={workers}", "device=cuda"],
                    cwd=ROOT, capture_output=True, text=True, timeout=300,
                    env={**os.environ, "TUNER_DATA_CACHE": str(Path(tmp) / "cache")})
            epoch = re.search(r"epoch\s+1/1 .*?([0-9.]+) s", done.stdout)
            train = re.search(r"= (\d+), val", done.stdout)
            seconds = float(epoch.group(1)) if epoch else float("nan")
            busy = gpu.samples or [0]
            out.append({"loader_workers": workers, "exit": done.returncode,
                        "epoch_s": seconds,
                        "images_per_s": round(int(train.group(1)) / seconds, 1)
                        if train and epoch else None,
                        "gpu_util_median": statistics.median(busy),
                        "tail": (done.stderr or done.stdout).strip().splitlines()[-1:]})
    return out


def workers_on_one_gpu(counts: list[int], epochs: int, limit: int) -> list[dict]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        study = Path(tmp) / "gpu.py"
        study.write_text(textwrap.dedent(GRID))
        for n in counts:
            url = f"sqlite:///{tmp}/w{n}.db"
            with Utilisation() as gpu:
                start = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "tuner.cli", "run", str(study), "--storage", url,
                     "--devices", "0", "--workers", str(n), "--no-galleries",
                     "--set", f"epochs={epochs}"], cwd=tmp, capture_output=True, text=True,
                    timeout=limit)
                wall = time.perf_counter() - start
            busy = gpu.samples or [0]
            out.append({"workers": n, "exit": done.returncode, "wall_s": round(wall, 1),
                        "trials_per_min": round(8 * 60 / wall, 2),
                        "gpu_util_median": statistics.median(busy),
                        "gpu_util_mean": round(statistics.fmean(busy), 1),
                        "tail": done.stderr.strip().splitlines()[-1:]})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "gpu_results.json")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU here; nothing to measure", file=sys.stderr)
        return 2
    results: dict = {"facts": facts()}
    parts = [("cuda_tests", lambda: cuda_tests(120)),
             ("bare_against_tuner", lambda: bare_against_tuner(args.seeds, args.epochs)),
             ("pool_on_gpu", lambda: pool_on_gpu(args.seeds, args.epochs)),
             ("precisions", lambda: precisions(args.epochs)),
             ("loader_workers_at_256", loader_workers_at_256),
             ("workers_on_one_gpu", lambda: workers_on_one_gpu([1, 2, 4], args.epochs, 120))]
    for name, part in parts:
        start = time.perf_counter()
        try:
            results[name] = part()
        except Exception as exc:  # one part's failure must not cost the others' figures
            results[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        results.setdefault("seconds", {})[name] = round(time.perf_counter() - start, 1)
        args.out.write_text(json.dumps(results, indent=1))
        print(f"{name}: {json.dumps(results[name])[:400]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
