"""The decoded-data cache: built once, reused, rebuilt on new content, atomic, one builder."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tuner.data.cache as cache
from tuner.config import TrainConfig
from tuner.data import build_splits, clear_pool_cache, load_pool
from tuner.data.cache import CACHE_ENV
from tuner.errors import TunerError


def write_folder(root: Path, n: int = 12, size: int = 24) -> Path:
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        image = np.full((size, size, 3), 7 * i % 256, np.uint8)
        Image.fromarray(image).save(root / "images" / f"{i:03d}.png")
        mask = np.zeros((size, size), np.uint8)
        mask[: size // 2] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i:03d}.png")
    return root


def cfg_of(root: Path, **changes) -> TrainConfig:
    return TrainConfig(dataset=f"folder:{root}", image_size=16, **changes)


def fresh(cfg: TrainConfig):
    """The pool as a new process would load it (nothing kept in this process)."""
    clear_pool_cache()
    return load_pool(cfg)


def entries(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_built_once_then_reused_memory_mapped(tmp_path):
    data = write_folder(tmp_path / "d")
    first = fresh(cfg_of(data))
    assert first.cache_note.startswith("built the cache ")
    second = fresh(cfg_of(data))
    assert second.cache_note.startswith("reused the cache ")
    assert isinstance(second.images, np.memmap) and not second.images.flags.writeable
    assert np.array_equal(first.images, second.images)
    assert np.array_equal(first.masks, second.masks) and first.names == second.names
    assert np.array_equal(second.sums.foreground, first.sums.foreground)
    assert len(entries(Path(os.environ[CACHE_ENV]))) == 1


def test_the_cache_holds_what_decoding_in_memory_gives(tmp_path, monkeypatch):
    data = write_folder(tmp_path / "d")
    cached = fresh(cfg_of(data, val_fraction=0.25))
    monkeypatch.setenv(CACHE_ENV, "off")
    in_memory = fresh(cfg_of(data, val_fraction=0.25))
    assert "decoded in memory" in in_memory.cache_note
    assert not isinstance(in_memory.images, np.memmap)
    assert np.array_equal(cached.images, in_memory.images)
    assert np.array_equal(cached.masks, in_memory.masks)
    a, b = cached.everything(), in_memory.everything()
    assert a.channel_stats() == b.channel_stats()


def test_a_changed_mask_is_never_read_from_a_stale_entry(tmp_path):
    data = write_folder(tmp_path / "d")
    before = fresh(cfg_of(data))
    assert before.masks[3].sum() == 16 * 8
    mask = np.zeros((24, 24), np.uint8)  # the same file name, other pixels
    mask[:, :12] = 255
    Image.fromarray(mask).save(data / "masks" / "003.png")
    after = fresh(cfg_of(data))
    assert after.cache_note.startswith("built the cache ")
    assert np.array_equal(after.masks[3][:, :8], np.ones((16, 8), np.uint8))
    assert after.masks[3][:, 8:].sum() == 0
    assert len(entries(Path(os.environ[CACHE_ENV]))) == 1  # the stale entry was removed


def test_other_sizes_and_mask_rules_are_other_entries(tmp_path):
    data = write_folder(tmp_path / "d")
    fresh(cfg_of(data))
    fresh(TrainConfig(dataset=f"folder:{data}", image_size=32))
    fresh(cfg_of(data, data_options={"folder": {"foreground_values": "255"}}))
    assert len(entries(Path(os.environ[CACHE_ENV]))) == 3


def _build_and_die(data: str, cache_root: str) -> None:
    """A build killed half-way: SIGKILL from inside the decoder, after a few images."""
    os.environ[CACHE_ENV] = cache_root
    import tuner.data.pairs as pairs

    original, calls = pairs._decode_pair, []

    def dying(pair, cfg):
        calls.append(pair)
        if len(calls) == 5:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(pair, cfg)

    pairs._decode_pair = dying
    load_pool(TrainConfig(dataset=f"folder:{data}", image_size=16))


def test_a_killed_build_leaves_nothing_that_is_read_later(tmp_path):
    data = write_folder(tmp_path / "d")
    root = Path(os.environ[CACHE_ENV])
    process = multiprocessing.get_context("fork").Process(
        target=_build_and_die, args=(str(data), str(root)))
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    assert entries(root) == []  # only the hidden half-written folder
    assert any(p.name.startswith(".building-") for p in root.iterdir())
    pool = fresh(cfg_of(data))
    assert pool.cache_note.startswith("built the cache ") and len(pool) == 12
    assert not any(p.name.startswith(".building-") for p in root.iterdir())  # cleaned up


def _load_and_report(data: str, cache_root: str, queue) -> None:
    os.environ[CACHE_ENV] = cache_root
    import tuner.data.pairs as pairs

    original = pairs._decode_pair

    def slow(pair, cfg):  # a build long enough for the other process to arrive meanwhile
        time.sleep(0.05)
        return original(pair, cfg)

    pairs._decode_pair = slow
    lines: list[str] = []
    pool = load_pool(TrainConfig(dataset=f"folder:{data}", image_size=16), say=lines.append)
    queue.put((pool.cache_note, lines, int(pool.masks.sum())))


def test_two_processes_starting_at_once_build_one_entry(tmp_path):
    data = write_folder(tmp_path / "d", n=30)
    root = Path(os.environ[CACHE_ENV])
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    processes = [context.Process(target=_load_and_report, args=(str(data), str(root), queue))
                 for _ in range(2)]
    for process in processes:
        process.start()
    results = [queue.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    notes = sorted(note.split(" ")[0] for note, _, _ in results)
    assert notes == ["built", "reused"]
    waiter = next(lines for note, lines, _ in results if note.startswith("reused"))
    reused = next(note for note, _, _ in results if note.startswith("reused"))
    assert ("built by another process" in reused and waiter and "waiting" in waiter[0]) \
        or waiter == []  # or it arrived after the build: reused without waiting
    assert len({total for _, _, total in results}) == 1
    assert len(entries(root)) == 1


def test_an_unwritable_cache_folder_decodes_in_memory(tmp_path, monkeypatch):
    data = write_folder(tmp_path / "d")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(CACHE_ENV, str(blocked / "cache"))
    pool = fresh(cfg_of(data))
    assert "decoded in memory: the cache folder" in pool.cache_note and len(pool) == 12


def test_a_full_disk_while_building_decodes_in_memory_and_leaves_nothing(tmp_path, monkeypatch):
    data = write_folder(tmp_path / "d")
    root = Path(os.environ[CACHE_ENV])

    def full(folder, pool):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache, "_write", full)
    pool = fresh(cfg_of(data))
    assert "could not be written (No space left on device)" in pool.cache_note
    assert len(pool) == 12 and list(root.iterdir()) == [root / (entries_lock(root))]


def entries_lock(root: Path) -> str:
    return next(p.name for p in root.iterdir() if p.name.endswith(".lock"))


def test_a_decoding_error_leaves_no_entry(tmp_path):
    data = write_folder(tmp_path / "d")
    (data / "images" / "007.png").write_bytes(b"not a png at all")
    with pytest.raises(TunerError, match="007"):  # the folder adapter refuses the file
        fresh(cfg_of(data))
    assert not Path(os.environ[CACHE_ENV]).exists()  # a failed command leaves no trace


def test_pairs_skipped_while_decoding_leave_an_entry_of_the_right_length(tmp_path):
    pets = tmp_path / "pets"
    (pets / "images").mkdir(parents=True)
    (pets / "annotations" / "trimaps").mkdir(parents=True)
    for i in range(6):
        Image.fromarray(np.full((20, 20, 3), 30 * i, np.uint8)).save(
            pets / "images" / f"Birman_{i}.jpg")
        trimap = np.full((20, 20), 2, np.uint8)
        trimap[5:15, 5:15] = 1
        Image.fromarray(trimap).save(pets / "annotations" / "trimaps" / f"Birman_{i}.png")
    (pets / "images" / "Birman_2.jpg").write_bytes(b"broken")  # skipped as unreadable
    cfg = TrainConfig(dataset=f"oxford-pet:{pets}", image_size=16)
    built = fresh(cfg)
    reused = fresh(cfg)
    assert reused.cache_note.startswith("reused") and len(reused) == 5
    assert reused.images.shape == (5, 16, 16, 3) and reused.masks.shape == (5, 16, 16)
    assert reused.skipped == built.skipped == {"unreadable": ["Birman_2.jpg"]}
    assert np.array_equal(reused.images, built.images[:5])


def test_large_generated_pools_go_through_the_cache(monkeypatch):
    import tuner.data.datasets as datasets

    cfg = TrainConfig(image_size=32, data_options={"synthetic": {"images": 20}})
    assert "generated in memory" in fresh(cfg).cache_note
    monkeypatch.setattr(datasets, "IN_MEMORY_BYTES", 1000)
    built = fresh(cfg)
    assert built.cache_note.startswith("built the cache ") and len(built) == 20
    monkeypatch.setattr(datasets, "IN_MEMORY_BYTES", 10**9)
    assert np.array_equal(fresh(cfg).images, built.images)


def test_splits_read_batches_from_the_memory_mapped_pool(tmp_path):
    data = write_folder(tmp_path / "d", n=20)
    fresh(cfg_of(data))
    clear_pool_cache()
    splits = build_splits(cfg_of(data))
    assert isinstance(splits.train.pool.images, np.memmap)
    images, masks = splits.val.arrays()
    assert images.dtype == np.uint8 and images.shape == (4, 16, 16, 3)
    assert masks.shape == (4, 16, 16)
    picked, _ = splits.val.arrays([2, 0])
    assert np.array_equal(picked, images[[2, 0]])  # in the order asked


def test_training_holds_a_few_batches_not_the_dataset(tmp_path):
    """Memory that does not grow with the dataset: once the cache is built, a whole run
    (z-score statistics, augmented copies, training, validation, test) on 4x the images
    allocates about what it did on 1x (numpy and Python allocations, traced by
    tracemalloc), far below the growth of the data itself."""
    import tracemalloc

    from tuner.training.loop import fit

    def traced_peak(count: int) -> tuple[int, int]:
        data = write_folder(tmp_path / f"d{count}", n=count, size=64)
        cfg = TrainConfig(dataset=f"folder:{data}", image_size=64, epochs=1,
                          base_channels=2, n_aug=1, augment="combine", batch_size=8,
                          normalize="zscore", checkpoints=False)
        pool = fresh(cfg)
        fit(cfg.replace(train_fraction=0.1))  # lazy imports, per-process caches: once
        clear_pool_cache()
        tracemalloc.start()
        try:
            fit(cfg)
            return tracemalloc.get_traced_memory()[1], pool.nbytes
        finally:
            tracemalloc.stop()

    small, small_bytes = traced_peak(100)
    large, large_bytes = traced_peak(400)
    assert large - small < (large_bytes - small_bytes) / 10, (small, large)
