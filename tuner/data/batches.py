"""From uint8 pool pixels to model input: normalisation, evaluation batches, device copies.

A split's pixels stay uint8 (in memory or memory-mapped: :mod:`tuner.data.pool`) until a
batch of them reaches the model's device; there :func:`model_input` converts it to float
in [0, 1], normalises it and lays it out in the run's memory format, and
:func:`model_target` makes the float masks. So no float copy of a split exists anywhere,
and a host-to-GPU copy moves a quarter of a float batch's bytes.

Normalisation statistics of the train split come from the pool's exact per-image sums
(:meth:`tuner.data.pool.Split.channel_stats`): no pass over the pixels. Train batches are
:mod:`tuner.data.loader`'s; validation and test batches are read in order here
(:func:`eval_batches`). On a CUDA GPU, a split that needs no per-sample augmentation is
copied to the GPU once as uint8 when it takes at most :data:`DEVICE_POOL_SHARE` of the
free memory (:func:`kept_on_device`), and batches are then device indexing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.transforms import Normalize

from tuner.config import TrainConfig
from tuner.data.pool import Split

Normalizer = Callable[[Tensor], Tensor]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: a split is kept on the GPU when it takes at most this share of the GPU's free memory
#: (the model, its activations and the other workers' trials need the rest)
DEVICE_POOL_SHARE = 0.25
#: images copied to the GPU per step when a split is kept there (bounded host memory)
COPY_CHUNK = 256


def fits_on_device(nbytes: int, free_bytes: int, share: float | None = None) -> bool:
    """Whether ``nbytes`` of data may stay on a device with ``free_bytes`` free (at most
    ``share``, default :data:`DEVICE_POOL_SHARE`, of it)."""
    return nbytes <= (DEVICE_POOL_SHARE if share is None else share) * free_bytes


@dataclass(frozen=True)
class DeviceSplit:
    """A split's uint8 pixels on a GPU: images (N, H, W, 3), masks (N, H, W)."""

    images: Tensor
    masks: Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    def batch(self, positions) -> tuple[Tensor, Tensor]:
        return self.images[positions], self.masks[positions]


def split_bytes(split: Split) -> int:
    """The bytes of a split's uint8 pixels (images and masks)."""
    pool = split.pool
    return len(split) * pool.size * pool.size * 4


def kept_on_device(split: Split | DeviceSplit, device: torch.device) -> Split | DeviceSplit:
    """``split`` as a :class:`DeviceSplit` on ``device`` when that is a CUDA GPU with room
    for its uint8 pixels (:func:`fits_on_device`), copied :data:`COPY_CHUNK` images at a
    time; elsewhere (the CPU, a full GPU) ``split`` itself."""
    if device.type != "cuda" or isinstance(split, DeviceSplit):
        return split
    if not fits_on_device(split_bytes(split), torch.cuda.mem_get_info(device)[0]):
        return split
    size = split.pool.size
    images = torch.empty((len(split), size, size, 3), dtype=torch.uint8, device=device)
    masks = torch.empty((len(split), size, size), dtype=torch.uint8, device=device)
    for start in range(0, len(split), COPY_CHUNK):
        chunk_images, chunk_masks = split.arrays(slice(start, start + COPY_CHUNK))
        images[start:start + len(chunk_images)] = torch.from_numpy(chunk_images).to(device)
        masks[start:start + len(chunk_masks)] = torch.from_numpy(chunk_masks).to(device)
    return DeviceSplit(images, masks, split.names)


def model_input(images: Tensor, normalize: Normalizer, device: torch.device,
                channels_last: bool = False) -> Tensor:
    """uint8 images (B, H, W, 3) -> float32 (B, 3, H, W) on ``device``: [0, 1], normalised,
    channels_last or contiguous as the run computes."""
    x = images.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    x = normalize(x)
    return x.contiguous(memory_format=torch.channels_last if channels_last
                        else torch.contiguous_format)


def model_target(masks: Tensor, device: torch.device) -> Tensor:
    """uint8 masks (B, H, W) in {0, 1} -> float32 (B, 1, H, W) on ``device``."""
    return masks.to(device, non_blocking=True).unsqueeze(1).float()


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
    mean, std = train_split.channel_stats()
    return mean, [max(s, 1e-6) for s in std]


def normalizer_from_stats(stats: tuple[list[float], list[float]] | None) -> Normalizer:
    """``(B, 3, H, W) -> (B, 3, H, W)``: subtract ``mean`` and divide by ``std`` per
    channel; identity for None."""
    if stats is None:
        return nn.Identity()
    return Normalize(*stats)


def make_normalizer(cfg: TrainConfig, train_split: Split | None) -> Normalizer:
    """The normaliser of ``cfg`` (:func:`normalize_stats`) for raw [0, 1] images."""
    return normalizer_from_stats(normalize_stats(cfg, train_split))


def eval_batches(split: Split | DeviceSplit, batch_size: int, normalize: Normalizer,
                 device: torch.device | None = None, channels_last: bool = False
                 ) -> Iterator[tuple[Tensor, Tensor]]:
    """Unshuffled, unaugmented ``(x, y)`` batches of ``split`` in order, for validation and
    test: read ``batch_size`` images at a time, converted on ``device`` (default the CPU)
    by :func:`model_input` / :func:`model_target`."""
    device = device if device is not None else torch.device("cpu")
    for start in range(0, len(split), batch_size):
        positions = slice(start, start + batch_size)
        if isinstance(split, DeviceSplit):
            images, masks = split.batch(positions)
        else:
            images, masks = (torch.from_numpy(a) for a in split.arrays(positions))
        yield (model_input(images, normalize, device, channels_last),
               model_target(masks, device))

