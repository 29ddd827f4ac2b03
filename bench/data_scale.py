"""Benchmark: how a run's cost grows with the dataset (issue 25), side by side in one run.

For folder datasets that this script writes (JPEG images, PNG masks; synthetic scenes of
``tuner.data.synthetic``, each file a distinct shift of one of 200 rendered scenes) of
1,000, 7,400 and 20,000 images at 256 px and 2,000 at 512 px, it runs ``tuner train``
(``--data folder:DIR``, ``image_size`` the files' size, classic UNet width 8, one epoch)
with ``n_aug`` 0 and 1, as one process and as two processes started together (two workers
on one machine sharing the decoded-data cache), and reports per process:

- peak resident memory (``VmHWM``) and peak anonymous memory (``RssAnon`` sampled every
  50 ms from /proc): anonymous memory is the process's own; memory-mapped cache pages are
  file-backed and shared by every process through the page cache;
- the anonymous memory a process needs at start-up, measured the same way on an 80-image
  dataset of the same size (model, optimizer, full batches of 16: activations of a full
  batch are hundreds of MB at 256 px, so a smaller reference would count them as data):
  the target is that a worker on a large dataset stays within start-up + 1 GiB;
- the load time: the first run builds the cache (decode once), later runs reuse it
  (target: within 5 s), as each run's "data pixels:" line says;
- training images per second (train samples / the epoch's seconds, validation pass
  included) against a plain PyTorch ``DataLoader`` loop over the same files in the same
  run (PIL decode + resize per sample, 2 loader workers, the same UNet, batch and split
  sizes): what a user writes without tuner.

Training a whole epoch of thousands of 256 px images on a 2-core CPU takes an hour, so the
runs train on ``--train-images`` images (a ``train_fraction``) and validate on
``--val-images``: the whole dataset is decoded into the cache and memory-mapped all the
same, which is what memory depends on.

    .venv/bin/python bench/data_scale.py [--datasets 1000x256,7400x256,20000x256,2000x512]
        [--work /tmp/tuner-data-scale] [--json bench/data_scale.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import numpy as np  # noqa: E402
from machine import cpu_report  # noqa: E402  (bench/machine.py)
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
BASE_SCENES = 200


def write_dataset(folder: Path, count: int, size: int) -> Path:
    """``count`` image/mask pairs of ``size`` px under ``folder`` (kept between runs)."""
    done = folder / ".complete"
    if done.exists():
        return folder
    from tuner.data.synthetic import make_synthetic

    shutil.rmtree(folder, ignore_errors=True)
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir(parents=True)
    images, masks, _ = make_synthetic(min(BASE_SCENES, count), size)
    for i in range(count):
        k, shift = i % len(images), (i // len(images)) * 7
        image = np.roll(images[k], shift, axis=1)
        mask = np.roll(masks[k], shift, axis=1) * 255
        Image.fromarray(image).save(folder / "images" / f"img_{i:05d}.jpg", quality=90)
        Image.fromarray(mask).save(folder / "masks" / f"img_{i:05d}.png")
    done.touch()
    return folder


class MemorySampler(threading.Thread):
    """Peak RssAnon and VmHWM of a process, read from /proc every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_anon = self.peak_rss = 0
        self.running = True

    def run(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while self.running:
            try:
                text = status.read_text()
            except OSError:
                return
            fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
            self.peak_anon = max(self.peak_anon, _kb(fields.get("RssAnon", "0 kB")))
            self.peak_rss = max(self.peak_rss, _kb(fields.get("VmHWM", "0 kB")))
            time.sleep(self.interval)


def _kb(text: str) -> int:
    return int(text.split()[0]) * 1024


def tuner_train(folder: Path, size: int, count: int, n_aug: int, processes: int,
                args, cache: Path, root: Path = ROOT, extra: tuple[str, ...] = ()
                ) -> list[dict]:
    """``processes`` ``tuner train`` runs of the checkout ``root`` started together; their
    figures."""
    n_val = min(args.val_images, count // 4)
    val_fraction = n_val / count
    train_fraction = min(1.0, args.train_images / (count - 2 * n_val))
    sets = [f"image_size={size}", "epochs=1", "base_channels=8", f"n_aug={n_aug}",
            f"train_fraction={train_fraction:.6f}", f"val_fraction={val_fraction:.6f}",
            f"test_fraction={val_fraction:.6f}", "batch_size=16", "precision=fp32",
            f"threads={max(1, 2 // processes)}", "checkpoints=false", *extra]
    env = {**os.environ, "TUNER_DATA_CACHE": str(cache), "PYTHONPATH": str(root)}
    runs = []
    for _ in range(processes):
        process = subprocess.Popen(
            [PYTHON, "-m", "tuner.cli", "train", "--data", f"folder:{folder}",
             "--set", *sets], cwd=root, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        sampler = MemorySampler(process.pid)
        sampler.start()
        runs.append((process, sampler))
    results = []
    for process, sampler in runs:
        output, _ = process.communicate()
        sampler.running = False
        sampler.join()
        if process.returncode != 0:
            raise SystemExit(f"tuner train failed ({process.returncode}):\n{output[-3000:]}")
        results.append({"peak_anon_mb": sampler.peak_anon / 2**20,
                        "peak_rss_mb": sampler.peak_rss / 2**20, **_parse(output)})
    return results


def _parse(output: str) -> dict:
    """Load note and seconds, train samples and epoch seconds from ``tuner train``'s lines."""
    pixels = re.search(r"data pixels: (.*)", output)
    note = pixels.group(1) if pixels else ""
    load = re.search(r" in ([0-9.]+) s", note)
    waited = re.search(r"waited ([0-9.]+) s", note)
    train = re.search(r"train (\d+)(?: \+ \d+ x \d+ augmented = (\d+))?,", output)
    samples = int(train.group(2) or train.group(1)) if train else 0
    epoch = re.search(r"epoch\s+1/1 .*?([0-9.]+) s", output)
    seconds = float(epoch.group(1)) if epoch else float("nan")
    return {"cache": note.split(" ")[0] if note else "?",
            "load_s": float(load.group(1)) if load else
            (float(waited.group(1)) if waited else float("nan")),
            "train_samples": samples, "epoch_s": seconds,
            "images_per_s": samples / seconds if seconds else float("nan")}


PLAIN_LOOP = r'''
import sys, time, random
from pathlib import Path
import numpy as np, torch
from PIL import Image
from torch import nn
from torch.nn import functional as F
sys.path.insert(0, sys.argv[1])
from plain_vs_tuner import UNet  # the same plain classic UNet as bench/plain_vs_tuner.py
folder, size, n_train, n_val, n_aug = Path(sys.argv[2]), *map(int, sys.argv[3:7])
torch.set_num_threads(int(sys.argv[7]))
names = sorted(p.stem for p in (folder / "images").iterdir())
random.Random(0).shuffle(names)
val, train = names[:n_val], names[n_val:n_val + n_train]
class Files(torch.utils.data.Dataset):
    def __init__(self, names, flip): self.names, self.flip = names, flip
    def __len__(self): return len(self.names)
    def __getitem__(self, i):
        name = self.names[i % len(self.names)]
        x = Image.open(folder / "images" / f"{name}.jpg").convert("RGB").resize((size, size))
        y = Image.open(folder / "masks" / f"{name}.png").resize((size, size), Image.NEAREST)
        x = torch.from_numpy(np.asarray(x)).permute(2, 0, 1).float() / 255
        y = torch.from_numpy(np.asarray(y) > 127).float()[None]
        if self.flip and random.random() < 0.5: x, y = x.flip(-1), y.flip(-1)
        return x, y
train_set = Files(train * (1 + n_aug), True)
loader = torch.utils.data.DataLoader(train_set, 16, shuffle=True, num_workers=2)
val_loader = torch.utils.data.DataLoader(Files(val, False), 16, num_workers=2)
model = UNet(8).to(memory_format=torch.channels_last)
opt = torch.optim.Adam(model.parameters(), 1e-3)
start = time.perf_counter()
model.train()
for x, y in loader:
    logits = model(x.contiguous(memory_format=torch.channels_last))
    p = torch.sigmoid(logits)
    dice = (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
    loss = F.binary_cross_entropy_with_logits(logits, y) + 1 - dice
    opt.zero_grad(); loss.backward(); opt.step()
model.eval()
with torch.no_grad():
    for x, y in val_loader: model(x.contiguous(memory_format=torch.channels_last))
print(len(train_set), time.perf_counter() - start)
'''


def plain_loop(folder: Path, size: int, n_train: int, n_val: int, n_aug: int,
               threads: int) -> dict:
    """The plain DataLoader loop over the same files: images per second."""
    process = subprocess.Popen([PYTHON, "-c", PLAIN_LOOP, str(ROOT / "bench"), str(folder),
                                str(size), str(n_train), str(n_val), str(n_aug), str(threads)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = MemorySampler(process.pid)
    sampler.start()
    output, _ = process.communicate()
    sampler.running = False
    if process.returncode != 0:
        raise SystemExit(f"plain loop failed:\n{output[-3000:]}")
    samples, seconds = output.split()[-2:]
    return {"images_per_s": int(samples) / float(seconds), "epoch_s": float(seconds),
            "peak_anon_mb": sampler.peak_anon / 2**20, "peak_rss_mb": sampler.peak_rss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", default="1000x256,7400x256,20000x256,2000x512")
    parser.add_argument("--work", type=Path, default=Path("/tmp/tuner-data-scale"))
    parser.add_argument("--train-images", type=int, default=160)
    parser.add_argument("--val-images", type=int, default=32)
    parser.add_argument("--startup-images", type=int, default=80)
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "data_scale.json")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a checkout of an earlier tuner: also run it, one process, on "
                        "the first dataset (its memory before the decoded-data cache)")
    args = parser.parse_args()
    print(cpu_report(), flush=True)
    rows = []
    for spec in args.datasets.split(","):
        count, size = map(int, spec.split("x"))
        started = time.perf_counter()
        folder = write_dataset(args.work / f"{count}x{size}", count, size)
        small = write_dataset(args.work / f"{args.startup_images}x{size}",
                              args.startup_images, size)
        print(f"\n{count} images at {size} px ({time.perf_counter() - started:.0f} s to write)",
              flush=True)
        cache = args.work / f"cache-{count}x{size}"
        shutil.rmtree(cache, ignore_errors=True)
        startup = tuner_train(small, size, args.startup_images, 0, 1, args, cache)[0]
        print(f"  start-up ({args.startup_images} images): anon "
              f"{startup['peak_anon_mb']:.0f} MB", flush=True)
        if args.baseline is not None and spec == args.datasets.split(",")[0]:
            for n_aug in (0, 1):
                old = tuner_train(folder, size, count, n_aug, 1, args, cache, args.baseline)[0]
                rows.append({"images": count, "size": size, "n_aug": n_aug, "processes": 1,
                             "baseline": str(args.baseline), **old})
                print(f"  earlier tuner, n_aug {n_aug}: anon {old['peak_anon_mb']:.0f} MB, "
                      f"rss {old['peak_rss_mb']:.0f} MB; {old['images_per_s']:.1f} img/s",
                      flush=True)
        if spec == args.datasets.split(",")[0]:  # loader workers on this CPU, strong aug.
            for workers in (0, 1, 2, 2, 1, 0):  # twice, in both orders: the machine drifts
                run = tuner_train(folder, size, count, 1, 1, args, cache,
                                  extra=("augment=strong", f"loader_workers={workers}"))[0]
                rows.append({"images": count, "size": size, "n_aug": 1, "processes": 1,
                             "augment": "strong", "loader_workers": workers, **run})
                print(f"  augment strong, n_aug 1, loader_workers {workers}: "
                      f"{run['images_per_s']:.1f} img/s", flush=True)
        for n_aug in (0, 1):
            for processes in (1, 2):
                runs = tuner_train(folder, size, count, n_aug, processes, args, cache)
                for k, run in enumerate(runs):
                    row = {"images": count, "size": size, "n_aug": n_aug,
                           "processes": processes, "process": k,
                           "startup_anon_mb": startup["peak_anon_mb"], **run}
                    rows.append(row)
                    print(f"  n_aug {n_aug}, {processes} process(es) #{k}: {run['cache']} in "
                          f"{run['load_s']:.1f} s; anon {run['peak_anon_mb']:.0f} MB "
                          f"(+{run['peak_anon_mb'] - startup['peak_anon_mb']:.0f}), rss "
                          f"{run['peak_rss_mb']:.0f} MB; {run['images_per_s']:.1f} img/s",
                          flush=True)
            plain = plain_loop(folder, size, min(args.train_images, count), args.val_images,
                               n_aug, 2)
            rows.append({"images": count, "size": size, "n_aug": n_aug, "plain": True, **plain})
            print(f"  plain DataLoader loop, n_aug {n_aug}: {plain['images_per_s']:.1f} img/s, "
                  f"anon {plain['peak_anon_mb']:.0f} MB", flush=True)
        args.json.write_text(json.dumps({"cpu": cpu_report(), "rows": rows}, indent=1))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
