"""The decoded-data cache: a dataset decoded once per machine, read by every process.

Decoding thousands of JPEG/PNG pairs and resizing them takes minutes, and a float copy of
the result per process would not fit in memory: so a dataset read from files is decoded
once into uint8 ``.npy`` files (images (N, S, S, 3), masks (N, S, S), the per-image sums
of :class:`~tuner.data.pool.PixelSums`) plus ``meta.json`` (names, what was skipped, the
files of each pair), and every trial, worker process and later run opens them
memory-mapped: they share the pages of the operating system's page cache, and a worker's
own memory holds a few batches, whatever the dataset's size (the nnU-Net habit of a
preprocessed dataset on disk).

- **Key.** An entry is named by what decides its content: the pool's fields
  (:func:`tuner.data.datasets.pool_key`: kind, absolute path, image size, resize rule,
  mask options), the decoding limit, and the dataset's content fingerprint
  (:mod:`tuner.data.fingerprint`: every file's bytes), so a changed mask is never read
  from a stale entry. An entry of the same pool with another fingerprint is removed when
  the new one is built (a process still reading it keeps its open files).
- **Atomic.** An entry is decoded into a temporary folder and renamed into place when
  complete: a killed build or a full disk leaves no entry that is read later (its
  leftovers are removed by the next build).
- **One builder.** A lock file per entry (``filelock``): the first process builds, others
  starting at the same time wait for it and then read its entry.
- **Where.** ``$TUNER_DATA_CACHE`` (a folder, or ``off``: decode in memory per process),
  else the folder of the run's storage (:func:`use_root`; ``cache/`` beside a SQLite
  database), else ``storage/cache``. Delete it at any time: it is rebuilt on use.

A folder that cannot be written (read-only, full) is no error: the pool is decoded into
memory for this process, and the line that describes the data says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from tuner.data.pool import PixelSums, Pool, allocating_with

CACHE_ENV = "TUNER_DATA_CACHE"
OFF = "off"
DEFAULT_ROOT = Path("storage") / "cache"
#: bumped when an entry's files change meaning: older entries are then never read
FORMAT = 1
_ARRAYS = ("images", "masks")
_root: Path | None = None


def use_root(folder: str | Path | None) -> None:
    """This process's cache folder when ``$TUNER_DATA_CACHE`` is unset (the run's storage
    folder); None goes back to :data:`DEFAULT_ROOT`."""
    global _root
    _root = Path(folder) if folder is not None else None


def cache_root() -> Path | None:
    """The cache folder now in force; None when the cache is off."""
    chosen = os.environ.get(CACHE_ENV, "").strip()
    if chosen.lower() == OFF:
        return None
    if chosen:
        return Path(chosen).expanduser()
    return _root if _root is not None else DEFAULT_ROOT


def entry_name(key: tuple, fingerprint: dict[str, Any]) -> tuple[str, str]:
    """(the pool's prefix, the entry's folder name): ``<slug>-<pool hash>`` names every
    entry of one pool, ``-<content hash>`` the one of this content."""
    kind, argument, size = key[0], key[1], key[2]
    slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{kind}-{Path(str(argument)).name}").strip("-")
    pool_hash = _digest({"format": FORMAT, "key": key})
    content_hash = _digest(fingerprint)
    prefix = f"{slug[:40]}-{size}px-{pool_hash}"
    return prefix, f"{prefix}-{content_hash}"


def cached_pool(key: tuple, fingerprint: Callable[[], dict[str, Any]],
                decode: Callable[[], Pool], rebuild_rule: Callable[[], Any],
                say: Callable[[str], None] | None = None) -> Pool:
    """The pool of ``key`` from the cache, built by ``decode`` when its entry is missing.

    ``fingerprint`` gives the dataset's content fingerprint (part of the entry's name);
    ``rebuild_rule`` the mask rule of a pool read back (rules are code, not data); ``say``
    gets a line while another process builds the entry. Without a cache folder, or when
    it cannot be written, ``decode`` runs in memory and the pool's note says why.
    """
    root = cache_root()
    if root is None:
        return noted(decode(), f"decoded in memory ({CACHE_ENV}={OFF})")
    start = time.perf_counter()
    try:
        content = fingerprint()
    except Exception as error:  # noqa: BLE001  (a path the adapter refuses in its own words)
        return noted(decode(), f"decoded in memory: no fingerprint of the data ({error})")
    prefix, name = entry_name(key, content)
    entry = root / name
    if _complete(entry):  # the common case: no lock needed to read a finished entry
        return _opened(entry, rebuild_rule, f"reused the cache {entry} in "
                                            f"{time.perf_counter() - start:.2f} s")
    new_folders = [folder for folder in (root, *root.parents) if not folder.exists()]
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(root / f"{name}.lock"))
        if not _try_lock(lock):
            if say is not None:
                say(f"data: another process is building the cache {entry}; waiting for it")
            lock.acquire()
    except OSError as error:
        return noted(decode(), f"decoded in memory: the cache folder {root} cannot be "
                      f"used ({error.strerror or error})")
    try:
        if _complete(entry):  # built by the process that held the lock
            return _opened(entry, rebuild_rule, f"reused the cache {entry} (built by "
                           f"another process; waited {time.perf_counter() - start:.1f} s)")
        return _build(root, prefix, entry, decode, rebuild_rule, start)
    except BaseException:  # a failed command leaves no trace: its lock, the new folders
        Path(lock.lock_file).unlink(missing_ok=True)
        for folder in new_folders:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: another process may use it
        raise
    finally:
        lock.release()


def _build(root: Path, prefix: str, entry: Path, decode: Callable[[], Pool],
           rebuild_rule: Callable[[], Any], start: float) -> Pool:
    """Decode into a temporary folder, rename it to ``entry``; on a write error (a full
    disk) the folder is removed and the pool decoded in memory instead."""
    _remove_leftovers(root, entry.name)
    building = Path(tempfile.mkdtemp(prefix=f".building-{entry.name}-", dir=root))
    try:
        with allocating_with(_file_allocator(building)):
            pool = decode()
        _write(building, pool)
        os.rename(building, entry)
    except OSError as error:
        shutil.rmtree(building, ignore_errors=True)
        return noted(decode(), f"decoded in memory: the cache {entry} could not be "
                      f"written ({error.strerror or error})")
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _remove_stale(root, prefix, entry.name)
    seconds = time.perf_counter() - start
    size_mb = sum(f.stat().st_size for f in entry.iterdir()) / 2**20
    return _opened(entry, rebuild_rule, f"built the cache {entry} ({size_mb:,.0f} MB) in "
                                        f"{seconds:.1f} s")


def _file_allocator(folder: Path) -> Callable[[str, tuple[int, ...], Any], np.ndarray]:
    """Arrays as memory-mapped ``.npy`` files in ``folder`` (zero-filled, sparse)."""
    def allocate(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        file = folder / f"{name}.npy"
        counter = 1
        while file.exists():  # a second array of the same name (scratch arrays)
            counter += 1
            file = folder / f"{name}-{counter}.npy"
        return np.lib.format.open_memmap(file, mode="w+", dtype=dtype, shape=shape)

    return allocate


def _write(folder: Path, pool: Pool) -> None:
    """The entry's files: the pool's arrays (written already when they are its files,
    else copied, a chunk at a time), its per-image sums and ``meta.json`` last."""
    for name in _ARRAYS:
        array = getattr(pool, name)[:len(pool)]
        target = folder / f"{name}.npy"
        if isinstance(array, np.memmap):
            array.flush()
        if target.exists() and np.load(target, mmap_mode="r").shape == array.shape:
            continue  # decoded into its file, nothing skipped
        _copy_to(array, folder / f"{name}.whole")  # skipped pairs: the file is too long
        os.replace(folder / f"{name}.whole", target)
    sums = pool.sums
    np.save(folder / "sums.npy", np.stack([sums.sums, sums.squares]))
    np.save(folder / "foreground.npy", sums.foreground)
    for scratch in folder.glob("*.npy"):
        if scratch.stem not in (*_ARRAYS, "sums", "foreground"):
            scratch.unlink()
    meta = {"format": FORMAT, "names": pool.names, "source": pool.source,
            "skipped": pool.skipped, "pixels": sums.pixels,
            "mask_values": [int(v) for v in pool.mask_values],
            "sources": {name: {"image": str(pair.image), "masks": [str(m) for m in pair.masks]}
                        for name, pair in pool.sources.items()}}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


def _copy_to(array: np.ndarray, file: Path, chunk: int = 256) -> None:
    """``array`` as the ``.npy`` file ``file`` (a truncated or in-memory array), a chunk
    at a time."""
    out = np.lib.format.open_memmap(file, mode="w+", dtype=array.dtype, shape=array.shape)
    for start in range(0, len(array), chunk):
        out[start:start + chunk] = array[start:start + chunk]
    out.flush()
    del out


def _opened(entry: Path, rebuild_rule: Callable[[], Any], note: str) -> Pool:
    """The pool of a finished entry, its arrays memory-mapped read-only."""
    from tuner.data.pairs import Pair

    meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    images = np.load(entry / "images.npy", mmap_mode="r")
    masks = np.load(entry / "masks.npy", mmap_mode="r")
    sums, squares = np.load(entry / "sums.npy")
    known = PixelSums(sums, squares, np.load(entry / "foreground.npy"), meta["pixels"])
    sources = {name: Pair(name, Path(files["image"]), tuple(Path(m) for m in files["masks"]))
               for name, files in meta["sources"].items()}
    return Pool(images, masks, meta["names"], meta["source"], meta["skipped"],
                sources=sources, mask_rule=rebuild_rule() if sources else None,
                mask_values=tuple(meta["mask_values"]),
                cache_note=note, known_sums=known)


def _complete(entry: Path) -> bool:
    """An entry is complete when its folder exists (it is renamed into place whole) and
    its meta says this format."""
    try:
        meta = json.loads((entry / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("format") == FORMAT


def _try_lock(lock: FileLock) -> bool:
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


def _remove_leftovers(root: Path, name: str) -> None:
    """Temporary folders of earlier builds of ``name`` (killed, or out of disk): only the
    lock holder builds, so every one found is abandoned."""
    for folder in root.glob(f".building-{name}-*"):
        shutil.rmtree(folder, ignore_errors=True)


def _remove_stale(root: Path, prefix: str, keep: str) -> None:
    """Entries of the same pool with other content (the dataset changed since): a process
    still reading one keeps its open files (POSIX), no later one will open it."""
    for folder in root.glob(f"{prefix}-*"):
        if folder.name != keep and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            Path(f"{folder}.lock").unlink(missing_ok=True)


def noted(pool: Pool, note: str) -> Pool:
    from dataclasses import replace

    return replace(pool, cache_note=note)


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
