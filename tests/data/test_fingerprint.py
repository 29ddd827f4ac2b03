"""A dataset's fingerprint sees its files' bytes, caches them by size and times in the
user's cache (never beside the data), survives a cache it cannot use, and keeps the names
and sizes hash of earlier releases exactly (stored studies compare by it)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from tests.data.test_folder import rgb, square_mask, write
from tuner.data import fingerprint
from tuner.data.fingerprint import cache_dir, dataset_fingerprint


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(fingerprint.CACHE_ENV, str(folder))
    return folder


@pytest.fixture
def data(tmp_path) -> Path:
    root = tmp_path / "data"
    for i in range(4):
        write(root / "images" / f"{i}.png", rgb(level=40 * i))
        write(root / "masks" / f"{i}.png", square_mask())
    (root / "README.txt").write_text("notes")
    return root


def rewrite_in_place(file: Path, keep_mtime: bool = True) -> None:
    """Other bytes, the same name and size (and, as ``cp -p`` leaves it, the same mtime)."""
    before = file.stat()
    data = bytearray(file.read_bytes())
    data[-13] ^= 0xFF
    file.write_bytes(bytes(data))
    if keep_mtime:
        os.utime(file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert file.stat().st_size == before.st_size


def counting(monkeypatch) -> list[str]:
    read: list[str] = []
    real = fingerprint.file_digest
    monkeypatch.setattr(fingerprint, "file_digest", lambda f: read.append(str(f)) or real(f))
    return read


def old_rule(path: Path) -> dict:
    """The fingerprint of tuner before the contents were hashed (names and sizes)."""
    digest, count = hashlib.sha256(), 0
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            file = Path(root) / name
            digest.update(f"{file.relative_to(path)}\0{file.stat().st_size}\n".encode())
            count += 1
    return {"files": count, "sha256": digest.hexdigest()}


def test_masks_rewritten_in_place_change_the_content_of_masks_only(data):
    before = dataset_fingerprint(f"folder:{data}")
    assert set(before["content"]) == {"images", "masks"}
    rewrite_in_place(data / "masks" / "2.png")
    after = dataset_fingerprint(f"folder:{data}")
    assert after["files"] == before["files"] and after["sha256"] == before["sha256"]
    assert after["content"]["masks"] != before["content"]["masks"]
    assert after["content"]["images"] == before["content"]["images"]


def test_names_and_sizes_are_hashed_as_before(data):
    (data / "masks" / "extra").mkdir()
    (data / "masks" / "extra" / "x.bin").write_bytes(b"123")
    (data / ".hidden").write_text("h")
    os.symlink(data / "images", data / "linked")  # a symlinked folder: not entered
    new = dataset_fingerprint(f"folder:{data}")
    assert {k: new[k] for k in ("files", "sha256")} == old_rule(data)


def test_a_rerun_reads_no_file_and_a_change_reads_only_that_one(data, monkeypatch, cache):
    first = dataset_fingerprint(f"folder:{data}")
    assert len(list(cache.iterdir())) == 1
    read = counting(monkeypatch)
    assert dataset_fingerprint(f"folder:{data}") == first and read == []
    rewrite_in_place(data / "images" / "1.png")  # mtime kept: the ctime tells
    assert dataset_fingerprint(f"folder:{data}") != first
    assert read == [str(data / "images" / "1.png")]


def test_only_image_files_are_hashed(data, monkeypatch):
    read = counting(monkeypatch)
    dataset_fingerprint(f"folder:{data}")
    assert sorted(Path(f).name for f in read) == sorted([f"{i}.png" for i in range(4)] * 2)


@pytest.mark.parametrize("broken", ["a file", "read-only", "garbage"])
def test_a_cache_it_cannot_use_is_skipped(broken, data, cache, monkeypatch):
    expected = dataset_fingerprint(f"folder:{data}")
    if broken == "a file":
        for file in cache.iterdir():
            file.unlink()
        cache.rmdir()
        cache.write_text("in the way")
    elif broken == "read-only":
        for file in cache.iterdir():
            file.unlink()
        cache.chmod(stat.S_IRUSR | stat.S_IXUSR)
        monkeypatch.setattr(fingerprint.tempfile, "mkstemp",  # root ignores chmod
                            lambda *a, **k: (_ for _ in ()).throw(PermissionError("ro")))
    else:
        next(cache.iterdir()).write_text("{not json")
    try:
        assert dataset_fingerprint(f"folder:{data}") == expected
    finally:
        if cache.is_dir():
            cache.chmod(stat.S_IRWXU)


def test_the_data_folder_is_left_alone(data):
    before = {p: p.stat().st_mtime_ns for p in data.rglob("*")}
    dataset_fingerprint(f"folder:{data}")
    assert {p: p.stat().st_mtime_ns for p in data.rglob("*")} == before


def test_the_cache_lives_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(fingerprint.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "tuner" / "fingerprints"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "tuner" / "fingerprints"


def test_a_fifo_or_a_symlink_loop_is_never_opened(data, monkeypatch):
    os.mkfifo(data / "images" / "pipe.png")
    os.symlink("loop.png", data / "images" / "loop.png")
    read = counting(monkeypatch)
    dataset_fingerprint(f"folder:{data}")  # would block for ever on opening the FIFO
    assert {Path(f).name for f in read}.isdisjoint({"pipe.png", "loop.png"}) and read


def test_a_list_file_hashes_the_files_it_names_by_column(tmp_path):
    write(tmp_path / "scans" / "a.png", rgb())
    write(tmp_path / "labels" / "a.png", square_mask())
    write(tmp_path / "unrelated" / "big.png", np.zeros((64, 64), np.uint8))
    listed = tmp_path / "list.csv"
    listed.write_text("image,mask\nscans/a.png,labels/a.png\n")
    before = dataset_fingerprint(f"csv:{listed}")
    assert set(before["content"]) == {"image", "mask"} and before["list_sha256"]
    rewrite_in_place(tmp_path / "unrelated" / "big.png")
    assert dataset_fingerprint(f"csv:{listed}")["content"] == before["content"]
    rewrite_in_place(tmp_path / "labels" / "a.png")
    after = dataset_fingerprint(f"csv:{listed}")
    assert after["content"]["mask"] != before["content"]["mask"]
    assert after["content"]["image"] == before["content"]["image"]


def test_synthetic_and_missing_paths_carry_no_content():
    assert dataset_fingerprint("synthetic") == {"kind": "synthetic", "argument": ""}
    assert "content" not in dataset_fingerprint("folder:/no/such/place")
