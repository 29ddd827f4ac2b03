"""The in-memory shapes of a dataset: the decoded :class:`Pool` and its float splits.

A :class:`Pool` holds every decoded, resized pair of a dataset as ``uint8`` arrays, plus
what its loader skipped and why (for the one-line summary of :mod:`tuner.data.summary`);
:meth:`Pool.take` turns a selection of it into a float :class:`Split` for training, and
:attr:`Pool.foreground_shares` (each mask's foreground share) stratifies k-fold splits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch
from torch import Tensor


@dataclass(frozen=True)
class Split:
    """Images float32 (N, 3, H, W) in [0, 1], masks float32 (N, 1, H, W) in {0, 1}, names.

    Treat the tensors as read-only: they may be shared with other holders.
    """

    images: Tensor
    masks: Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split


@dataclass(frozen=True)
class Pool:
    """Every pair of a dataset: images uint8 (N, H, W, 3), masks uint8 (N, H, W) in {0, 1}.

    ``source`` is the ``dataset`` spec it came from; ``skipped`` maps a reason ("not an
    image", "unreadable", ...) to the names of the files the loader left out for it.
    """

    images: np.ndarray
    masks: np.ndarray
    names: list[str]
    source: str = ""
    skipped: dict[str, list[str]] = field(default_factory=dict)
    #: each kept image's files (``tuner.data.pairs.Pair`` by name) and the mask rule that
    #: binarised its masks: what scoring at each image's own size reads again; empty for a
    #: dataset without files (synthetic)
    sources: dict[str, Any] = field(default_factory=dict)
    mask_rule: Any = None

    def __len__(self) -> int:
        return len(self.names)

    @cached_property
    def foreground_shares(self) -> np.ndarray:
        """Each mask's share of foreground pixels, float64 (N,): computed once per pool."""
        if not len(self):
            return np.zeros(0)
        return self.masks.reshape(len(self), -1).mean(axis=1)

    def take(self, index: np.ndarray) -> Split:
        """The pairs at ``index`` as a float :class:`Split`."""
        images = torch.from_numpy(self.images[index]).permute(0, 3, 1, 2).float() / 255
        masks = torch.from_numpy(self.masks[index]).unsqueeze(1).float()
        return Split(images.contiguous(), masks, [self.names[i] for i in index])
