"""Train batches: a PyTorch ``DataLoader`` over a split, seeded by position, not by stream.

An epoch of a split of ``n`` images with ``n_aug`` augmented copies has ``n * (1 +
n_aug)`` samples: sample ``j`` is image ``j % n`` of the split, as copy ``j // n`` (0: the
image itself; k >= 1: its k-th augmented copy, drawn by the copy pipeline from a seed of
``(seed, k, pool index)``, so copy k of an image is the same in every epoch, run and
resume, and never materialised). The ``augment`` pipeline is then applied per sample with
a seed of ``(seed, epoch, j)``; the order of an epoch is a permutation seeded by ``(seed,
epoch)``. Every draw is a function of the run's seed and its position: the batches are the
same whether ``loader_workers`` processes prepare them or this process does, and a run
resumed after epoch k draws what the uninterrupted one would (a checkpoint keeps only the
number of epochs drawn).

Batches are uint8 until they reach the model's device (a quarter of a float batch's bytes
to copy, pinned on CUDA and copied without blocking), then converted to float, normalised
and laid out there (:func:`tuner.data.batches.model_input`). Where a split needs no
per-sample work (no augmentation, no copies), it may be kept on the GPU whole
(:func:`tuner.data.batches.kept_on_device`) and batches are device indexing.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from tuner.config import TrainConfig
from tuner.data.augment import make_pipeline
from tuner.data.batches import DeviceSplit, Normalizer, kept_on_device, model_input, model_target
from tuner.data.pool import Split

_MASK64 = (1 << 64) - 1
#: the loader's batches waiting per worker process (PyTorch's default)
PREFETCH = 2
#: loader worker processes per GPU worker at most, with ``loader_workers`` auto
MAX_GPU_LOADER_WORKERS = 4


def mix(*words: int) -> int:
    """A 64-bit seed from several ints (splitmix64 over each word in turn): cheap enough
    to reseed per sample (a ``SeedSequence`` costs 25 us, this 1 us), and nearby inputs
    give unrelated outputs."""
    x = 0
    for word in words:
        x = (x ^ (word & _MASK64)) + 0x9E3779B97F4A7C15 & _MASK64
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
        x ^= x >> 31
    return x


class SeededPipeline:
    """An albumentations pipeline whose random streams are reset per sample from a seed:
    a sample's draws depend on its seed alone, not on which samples came before."""

    def __init__(self, name: str, size: int) -> None:
        self.pipeline = make_pipeline(name, size, 0)
        self.numpy_rng = np.random.default_rng(0)
        self.python_rng = random.Random(0)
        if self.pipeline is not None:
            self.pipeline.set_random_state(self.numpy_rng, self.python_rng)

    def __bool__(self) -> bool:
        return self.pipeline is not None

    def __call__(self, seed: int, image: np.ndarray, mask: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``image`` uint8 (H, W, 3) and ``mask`` uint8 (H, W) augmented with ``seed``'s
        draws (the streams are reset in place: 9 us, against 65 us for new generators)."""
        low = mix(seed, 1)
        self.numpy_rng.bit_generator.state = {
            "bit_generator": "PCG64", "has_uint32": 0, "uinteger": 0,
            "state": {"state": (seed << 64) | low, "inc": (low << 64) | seed | 1}}
        self.python_rng.seed(low)
        out = self.pipeline(image=image, mask=mask)
        return out["image"], out["mask"]


class TrainSamples(Dataset):
    """The samples of an epoch (see the module's text), keyed ``(epoch, j)``;
    :meth:`__getitems__` reads a whole batch (PyTorch's batched fetch), so a batch is one
    read of the pool in pool order."""

    def __init__(self, split: Split, cfg: TrainConfig) -> None:
        self.split = split
        self.n_aug = cfg.n_aug
        self.seed = cfg.seed
        size = split.pool.size
        self.augment = SeededPipeline(cfg.augment, size)
        # plain copies would add nothing: copies of a run without augmentation use combine
        self.copier = SeededPipeline(cfg.augment if cfg.augment != "none" else "combine",
                                     size) if cfg.n_aug else None

    def __len__(self) -> int:
        return len(self.split) * (1 + self.n_aug)

    @property
    def per_sample_work(self) -> bool:
        """Whether samples are augmented (else a batch is a plain read)."""
        return bool(self.augment) or self.copier is not None

    def __getitem__(self, key: tuple[int, int]) -> tuple[Tensor, Tensor]:
        images, masks = self.__getitems__([key])
        return images[0], masks[0]

    def __getitems__(self, keys: list[tuple[int, int]]) -> tuple[Tensor, Tensor]:
        """Images uint8 (B, H, W, 3) and masks uint8 (B, H, W) of the samples ``keys``."""
        n = len(self.split)
        images, masks = self.split.arrays([j % n for _, j in keys])
        if not self.per_sample_work:  # a plain read of the pool
            return torch.from_numpy(images), torch.from_numpy(masks)
        for b, ((epoch, j), image, mask) in enumerate(zip(keys, images, masks, strict=True)):
            copy = j // n
            if copy:
                image, mask = self.copier(mix(self.seed, 2, copy, int(self.split.index[j % n])),
                                          image, mask)
            if self.augment:
                image, mask = self.augment(mix(self.seed, 1, epoch, j), image, mask)
            images[b], masks[b] = image, mask
        return torch.from_numpy(images), torch.from_numpy(masks)


def batch_bounds(n: int, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of each batch of an epoch of ``n`` samples; a trailing batch of
    one sample joins the batch before it (BatchNorm cannot train on one 1x1 map)."""
    bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


class EpochOrder:
    """The batch sampler: epoch ``epoch``'s samples in an order seeded by ``(seed,
    epoch)``, cut by :func:`batch_bounds`, each key ``(epoch, j)``."""

    def __init__(self, n_samples: int, batch_size: int, seed: int) -> None:
        self.n_samples, self.seed, self.epoch = n_samples, seed, 0
        self.bounds = batch_bounds(n_samples, batch_size)

    def permutation(self) -> Tensor:
        generator = torch.Generator().manual_seed(mix(self.seed, 3, self.epoch) >> 1)
        return torch.randperm(self.n_samples, generator=generator)

    def __len__(self) -> int:
        return len(self.bounds)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        order = self.permutation().tolist()
        for start, stop in self.bounds:
            yield [(self.epoch, j) for j in order[start:stop]]


def loader_workers(cfg: TrainConfig, device: torch.device, per_sample_work: bool) -> int:
    """Worker processes that prepare batches: ``cfg.loader_workers``, or with -1 (auto):
    none on a CPU (the training threads use the cores already: bench/RESULTS.md, "Data at
    scale") or where there is no per-sample work; on CUDA, the cores per GPU up to
    :data:`MAX_GPU_LOADER_WORKERS`."""
    if cfg.loader_workers >= 0:
        return cfg.loader_workers
    if device.type != "cuda" or not per_sample_work:
        return 0
    cores = len(os.sched_getaffinity(0))
    return max(1, min(MAX_GPU_LOADER_WORKERS, cores // max(1, torch.cuda.device_count())))


def _one_thread(worker: int) -> None:
    """A loader worker computes on one core (OpenCV's pool is off: tuner.data.augment)."""
    torch.set_num_threads(1)


def _as_is(batch):
    return batch


class TrainBatches:
    """Each iteration: one epoch of shuffled, augmented ``(x, y)`` train batches on the
    model's device: ``x`` float32 (B, 3, H, W) normalised in the run's memory format,
    ``y`` float32 (B, 1, H, W) in {0, 1}. See the module's text for the draws."""

    def __init__(self, split: Split, cfg: TrainConfig, normalize: Normalizer,
                 device: torch.device | None = None, channels_last: bool = False) -> None:
        if len(split) == 0:
            raise ValueError("TrainBatches needs a non-empty split")
        self.device = device if device is not None else torch.device("cpu")
        self.normalize, self.channels_last = normalize, channels_last
        self.samples = TrainSamples(split, cfg)
        self.order = EpochOrder(len(self.samples), cfg.batch_size, cfg.seed)
        self.epochs_drawn = 0
        self.on_device: DeviceSplit | None = None
        if not self.samples.per_sample_work:
            kept = kept_on_device(split, self.device)
            self.on_device = kept if isinstance(kept, DeviceSplit) else None
        self.workers = 0 if self.on_device is not None else loader_workers(
            cfg, self.device, self.samples.per_sample_work)
        self.loader = None if self.on_device is not None else DataLoader(
            self.samples, batch_sampler=self.order, collate_fn=_as_is,
            num_workers=self.workers, pin_memory=self.device.type == "cuda",
            persistent_workers=self.workers > 0, worker_init_fn=_one_thread if self.workers
            else None, prefetch_factor=PREFETCH if self.workers else None,
            multiprocessing_context="fork" if self.workers else None)

    @property
    def n_samples(self) -> int:
        """Samples per epoch: the split plus its augmented copies."""
        return len(self.samples)

    def __len__(self) -> int:
        return len(self.order)

    def rng_state(self) -> dict:
        """What a checkpoint keeps of the draws: the epochs drawn (every draw is a
        function of the seed and its position)."""
        return {"epochs_drawn": self.epochs_drawn}

    def load_rng_state(self, state: dict) -> None:
        """Go on after :meth:`rng_state`'s epochs: the next epoch draws what it would have."""
        self.epochs_drawn = int(state["epochs_drawn"])

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        self.order.epoch = self.epochs_drawn
        self.epochs_drawn += 1
        if self.on_device is not None:
            yield from self._device_batches()
            return
        for images, masks in self.loader:
            yield (model_input(images, self.normalize, self.device, self.channels_last),
                   model_target(masks, self.device))

    def _device_batches(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = self.order.permutation().to(self.device)
        for start, stop in self.order.bounds:
            images, masks = self.on_device.batch(order[start:stop])
            yield (model_input(images, self.normalize, self.device, self.channels_last),
                   model_target(masks, self.device))

    def close(self) -> None:
        """Let the loader's worker processes go (they also end with this object)."""
        self.loader = None  # its persistent workers end when it is collected
