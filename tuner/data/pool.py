"""The shapes of a dataset in memory: the decoded :class:`Pool` and its :class:`Split` views.

A :class:`Pool` holds every decoded, resized pair of a dataset as ``uint8`` arrays: in
memory for a small generated pool, or memory-mapped from the decoded-data cache on disk
(:mod:`tuner.data.cache`), where every process of the machine reads the same pages through
the page cache. Beside the pixels it keeps per-image sums that whole-split statistics are
made of without reading a pixel again: each image's channel sums and sums of squares
(exact integers: z-score statistics of any split) and its foreground pixel count
(foreground shares, the trivial Dice, fold strata, galleries).

A :class:`Split` is a pool and the sorted indices of its images: no pixel is copied until
a batch asks for it (:meth:`Split.arrays`), and a float copy of a whole split is never
made (a few batches at a time, converted where the model runs: :mod:`tuner.data.batches`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

#: ``(name, shape, dtype) -> array``: where the arrays of a pool being made are allocated
#: (:func:`allocate`); the decoded-data cache points it at memory-mapped files
Allocator = Callable[[str, tuple[int, ...], Any], np.ndarray]
_ALLOCATOR: contextvars.ContextVar[Allocator | None] = contextvars.ContextVar(
    "pool_allocator", default=None)
#: images summed per chunk when a pool's per-image sums are computed (bounded memory)
SUM_CHUNK = 64


def allocate(name: str, shape: tuple[int, ...], dtype: Any = np.uint8) -> np.ndarray:
    """A new array for the pool being made: in memory, or where :func:`allocating_with`
    says (files of the decoded-data cache: a dataset larger than memory is decoded into
    them image by image). ``name`` says which array it is (``images``, ``masks``, ...)."""
    chosen = _ALLOCATOR.get()
    if chosen is None:
        return np.zeros(shape, dtype)
    return chosen(name, shape, dtype)


@contextlib.contextmanager
def allocating_with(allocator: Allocator) -> Iterator[None]:
    """Pools made inside this block allocate their arrays with ``allocator``."""
    token = _ALLOCATOR.set(allocator)
    try:
        yield
    finally:
        _ALLOCATOR.reset(token)


@dataclass(frozen=True)
class PixelSums:
    """Per image: channel sums and sums of squares of the uint8 pixels (exact int64, (N, 3)
    each) and the foreground pixel count (N,): whole-split statistics as row sums."""

    sums: np.ndarray
    squares: np.ndarray
    foreground: np.ndarray
    pixels: int  # per image (H x W)

    @classmethod
    def of(cls, images: np.ndarray, masks: np.ndarray) -> PixelSums:
        """The sums of ``images`` (N, H, W, 3) and ``masks`` (N, H, W), :data:`SUM_CHUNK`
        images at a time (a memory-mapped pool is read once, never held)."""
        n = len(images)
        sums, squares = np.zeros((n, 3), np.int64), np.zeros((n, 3), np.int64)
        foreground = np.zeros(n, np.int64)
        for start in range(0, n, SUM_CHUNK):
            chunk = np.asarray(images[start:start + SUM_CHUNK], np.int64)
            sums[start:start + len(chunk)] = chunk.sum(axis=(1, 2))
            squares[start:start + len(chunk)] = (chunk * chunk).sum(axis=(1, 2))
            foreground[start:start + len(chunk)] = np.count_nonzero(
                masks[start:start + SUM_CHUNK].reshape(len(chunk), -1), axis=1)
        pixels = int(images.shape[1] * images.shape[2]) if n else 0
        return cls(sums, squares, foreground, pixels)


@dataclass(frozen=True)
class Pool:
    """Every pair of a dataset: images uint8 (N, H, W, 3), masks uint8 (N, H, W) in {0, 1}.

    ``source`` is the ``dataset`` spec it came from; ``skipped`` maps a reason ("not an
    image", "unreadable", ...) to the names of the files the loader left out for it.
    ``cache_note`` says where its pixels live (built or reused from the cache on disk, or
    in memory, and why) for the line that describes a run's data.
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
    #: every raw value the dataset's mask files hold (sorted; empty without files)
    mask_values: tuple[int, ...] = ()
    cache_note: str = ""
    #: per-image sums, when known already (read from the cache); else computed on first use
    known_sums: PixelSums | None = None

    def __len__(self) -> int:
        return len(self.names)

    @property
    def size(self) -> int:
        """The side of every image in pixels."""
        return int(self.images.shape[1])

    @property
    def nbytes(self) -> int:
        """The pixels' bytes (images and masks)."""
        return int(self.images.nbytes + self.masks.nbytes)

    @cached_property
    def sums(self) -> PixelSums:
        """Per-image channel sums and foreground counts (:class:`PixelSums`)."""
        return self.known_sums or PixelSums.of(self.images, self.masks)

    @cached_property
    def foreground_shares(self) -> np.ndarray:
        """Each mask's share of foreground pixels, float64 (N,)."""
        if not len(self):
            return np.zeros(0)
        return self.sums.foreground / self.sums.pixels

    def split(self, index: np.ndarray) -> Split:
        """The pairs at ``index`` (pool indices) as a :class:`Split` view."""
        return Split(self, np.asarray(index, dtype=np.int64))

    def everything(self) -> Split:
        """Every pair of the pool, in order."""
        return self.split(np.arange(len(self)))


@dataclass(frozen=True)
class Split:
    """Some pairs of a :class:`Pool`, by pool index: a view, no pixel copied.

    Positions ``0 .. len - 1`` are the split's own; :meth:`arrays` reads the pairs at some
    positions as uint8 arrays (a batch), :meth:`tensors` as float tensors (a handful of
    images: galleries), never the whole split at once.
    """

    pool: Pool
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    @cached_property
    def names(self) -> list[str]:
        return [self.pool.names[i] for i in self.index]

    def arrays(self, positions: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Images uint8 (B, H, W, 3) and masks uint8 (B, H, W) at ``positions`` (a slice,
        a list or an array of split positions; None: all of them), read in pool order
        (a memory-mapped pool is read forward) and returned in the order asked."""
        chosen = self.index if positions is None else np.atleast_1d(self.index[positions])
        order = np.argsort(chosen, kind="stable")
        ascending = chosen[order]
        images, masks = self.pool.images[ascending], self.pool.masks[ascending]
        if np.all(order[:-1] < order[1:]):  # already in pool order
            return images, masks
        back = np.empty_like(order)
        back[order] = np.arange(len(order))
        return images[back], masks[back]

    def tensors(self, positions: Any = None):
        """Images float32 (B, 3, H, W) in [0, 1] and masks float32 (B, 1, H, W) in {0, 1}
        at ``positions``: for a few images (galleries), not for a whole split."""
        import torch

        images, masks = self.arrays(positions)
        return (torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(255).contiguous(),
                torch.from_numpy(masks).unsqueeze(1).float())

    @property
    def foreground_shares(self) -> np.ndarray:
        """Each image's foreground share, float64 (N,), in split order."""
        return self.pool.foreground_shares[self.index]

    @property
    def foreground_share(self) -> float:
        """The share of foreground pixels over the whole split (images are one size)."""
        return float(self.foreground_shares.mean()) if len(self) else 0.0

    def channel_stats(self) -> tuple[list[float], list[float]]:
        """Channel mean and standard deviation (population) of the split's pixels on the
        [0, 1] scale, from the pool's exact per-image sums: no pixel is read."""
        sums = self.pool.sums
        count = len(self) * sums.pixels * 255.0
        total = sums.sums[self.index].sum(axis=0) / count
        squares = sums.squares[self.index].sum(axis=0) / (count * 255.0)
        variance = np.maximum(squares - total * total, 0.0)
        return total.tolist(), np.sqrt(variance).tolist()


@dataclass(frozen=True)
class Splits:
    train: Split
    val: Split
    test: Split
