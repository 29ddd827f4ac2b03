"""Mini-batches for training and evaluation, and input normalisation.

The data sit in memory as tensors (a few MB at 64 px), so batches are tensor indexing, not
a ``DataLoader`` with worker processes: at this size worker start-up and inter-process
copies would cost more than the batches. Augmentation runs per sample on the [0, 1] images
(albumentations needs numpy ``(H, W, C)``) and only when ``augment`` is not ``none``;
normalisation comes last, on the batch. On a GPU, a split that needs no per-sample
augmentation is copied to the GPU once (:func:`kept_on_device`) instead of batch by batch.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.transforms import Normalize

from tuner.config import TrainConfig
from tuner.data.augment import augment_batch, make_pipeline
from tuner.data.pool import Split

Normalizer = Callable[[Tensor], Tensor]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: a split is kept on the GPU when it takes at most this share of the GPU's free memory
#: (the model, its activations and the other workers' trials need the rest)
DEVICE_POOL_SHARE = 0.25


def fits_on_device(nbytes: int, free_bytes: int, share: float | None = None) -> bool:
    """Whether ``nbytes`` of data may stay on a device with ``free_bytes`` free (at most
    ``share``, default :data:`DEVICE_POOL_SHARE`, of it)."""
    return nbytes <= (DEVICE_POOL_SHARE if share is None else share) * free_bytes


def kept_on_device(split: Split, device: torch.device) -> Split:
    """``split`` with its tensors on ``device`` when that is a CUDA GPU with room for them
    (:func:`fits_on_device`): batches are then indexed where the model runs, with no copy
    from the host per step. Elsewhere (the CPU, a full GPU) ``split`` itself."""
    if device.type != "cuda" or split.images.device == device:
        return split
    nbytes = split.images.nbytes + split.masks.nbytes
    if not fits_on_device(nbytes, torch.cuda.mem_get_info(device)[0]):
        return split
    return Split(split.images.to(device), split.masks.to(device), split.names)


def normalize_kind(cfg: TrainConfig) -> str:
    """``cfg.normalize`` with ``auto`` resolved: ``imagenet`` where a pretrained smp encoder
    expects its statistics (``encoder_weights`` other than ``none``), else ``zscore``: the
    training images' own statistics suit X-rays, micrographs and natural images alike."""
    if cfg.normalize != "auto":
        return cfg.normalize
    pretrained = cfg.arch != "unet" and cfg.encoder_weights != "none"
    return "imagenet" if pretrained else "zscore"


def normalize_stats(cfg: TrainConfig, train_split: Split | None
                    ) -> tuple[list[float], list[float]] | None:
    """Channel ``(mean, std)`` of the normalisation of ``cfg`` (None for ``none``):
    ImageNet's, or those of the train split's pixels (never validation's: no leak)."""
    kind = normalize_kind(cfg)
    if kind == "none":
        return None
    if kind == "imagenet":
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    if train_split is None or not len(train_split):
        raise ValueError("zscore normalisation needs the train split's images")
    std, mean = torch.std_mean(train_split.images, dim=(0, 2, 3), correction=0)
    return mean.tolist(), std.clamp_min(1e-6).tolist()


def normalizer_from_stats(stats: tuple[list[float], list[float]] | None) -> Normalizer:
    """``(B, 3, H, W) -> (B, 3, H, W)``: subtract ``mean`` and divide by ``std`` per
    channel; identity for None."""
    if stats is None:
        return nn.Identity()
    return Normalize(*stats)


def make_normalizer(cfg: TrainConfig, train_split: Split | None) -> Normalizer:
    """The normaliser of ``cfg`` (:func:`normalize_stats`) for raw [0, 1] images."""
    return normalizer_from_stats(normalize_stats(cfg, train_split))


def _seed(*words: int) -> int:
    """An int seed for albumentations derived from several ints (independent streams)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1)[0])


class TrainBatches:
    """One epoch of shuffled, augmented ``(x, y)`` train batches per iteration.

    ``x`` float32 (B, 3, H, W) normalised, ``y`` float32 (B, 1, H, W) in {0, 1}. Shuffling
    uses a ``torch.Generator`` seeded from ``cfg.seed`` and augmentation a seeded
    albumentations pipeline, so a run is repeatable and each epoch differs from the last.
    ``n_aug > 0`` adds that many augmented copies of the split, drawn once here (with the
    ``augment`` pipeline, or ``combine`` when ``augment`` is ``none``: plain copies would
    add nothing). A trailing batch of one sample joins the batch before it (BatchNorm
    cannot train on a single 1x1 feature map).
    """

    def __init__(self, split: Split, cfg: TrainConfig, normalize: Normalizer,
                 device: torch.device | None = None) -> None:
        if len(split) == 0:
            raise ValueError("TrainBatches needs a non-empty split")
        size = split.images.shape[-1]
        self.batch_size = cfg.batch_size
        self.normalize = normalize
        self.images, self.masks = split.images, split.masks
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.pipeline = make_pipeline(cfg.augment, size, _seed(cfg.seed, 1))
        # the pipeline's own streams, held here so that a checkpoint can save and restore
        # them (the same seeds as make_pipeline's: the same draws)
        self._streams = (np.random.default_rng(_seed(cfg.seed, 1)),
                         random.Random(_seed(cfg.seed, 1)))
        if self.pipeline is not None:
            self.pipeline.set_random_state(*self._streams)
        if cfg.n_aug:
            name = cfg.augment if cfg.augment != "none" else "combine"
            copier = make_pipeline(name, size, _seed(cfg.seed, 2))
            copies = [_augment(copier, self.images, self.masks) for _ in range(cfg.n_aug)]
            self.images = torch.cat([self.images, *(c[0] for c in copies)])
            self.masks = torch.cat([self.masks, *(c[1] for c in copies)])
        if device is not None and self.pipeline is None:  # no per-sample numpy work left
            kept = kept_on_device(Split(self.images, self.masks, []), device)
            self.images, self.masks = kept.images, kept.masks

    def rng_state(self) -> dict:
        """The shuffling and augmentation streams' state (what a checkpoint keeps)."""
        numpy_rng, python_rng = self._streams
        return {"shuffle": self.generator.get_state(),
                "numpy": numpy_rng.bit_generator.state, "python": python_rng.getstate()}

    def load_rng_state(self, state: dict) -> None:
        """Continue the streams from :meth:`rng_state` (a resumed run draws what the
        uninterrupted one would have drawn)."""
        numpy_rng, python_rng = self._streams
        self.generator.set_state(state["shuffle"])
        numpy_rng.bit_generator.state = state["numpy"]
        python_rng.setstate(state["python"])

    @property
    def n_samples(self) -> int:
        """Samples per epoch: the split plus its augmented copies."""
        return len(self.images)

    def __len__(self) -> int:
        return len(self._bounds())

    def _bounds(self) -> list[tuple[int, int]]:
        n, size = self.n_samples, self.batch_size
        bounds = [(start, min(start + size, n)) for start in range(0, n, size)]
        if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
            bounds[-2:] = [(bounds[-2][0], n)]
        return bounds

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        order = torch.randperm(self.n_samples, generator=self.generator)
        for start, stop in self._bounds():
            index = order[start:stop]
            x, y = self.images[index], self.masks[index]
            if self.pipeline is not None:
                x, y = _augment(self.pipeline, x, y)
            yield self.normalize(x), y


def _augment(pipeline, images: Tensor, masks: Tensor) -> tuple[Tensor, Tensor]:
    """``pipeline`` applied per sample to images (B, 3, H, W) and masks (B, 1, H, W)."""
    x = images.permute(0, 2, 3, 1).contiguous().numpy()
    y = masks[:, 0].to(torch.uint8).numpy()
    x, y = augment_batch(pipeline, x, y)
    return (torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(),
            torch.from_numpy(y).unsqueeze(1).float())


def eval_batches(split: Split, batch_size: int,
                 normalize: Normalizer) -> Iterator[tuple[Tensor, Tensor]]:
    """Unshuffled, unaugmented ``(x, y)`` batches of ``split`` in order, for val and test."""
    for start in range(0, len(split), batch_size):
        stop = start + batch_size
        yield normalize(split.images[start:stop]), split.masks[start:stop]
