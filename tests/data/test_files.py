"""Only regular files are opened: FIFOs, sockets, broken and looping symlinks are skipped
and counted by every adapter (a FIFO named .png once hung ``tuner run`` for ever), and a
path of the wrong kind (a file where a folder belongs, a folder in a list) says so."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from tests.data.test_folder import config, rgb, square_mask, write
from tests.data.test_oxford_pet import trimap
from tuner.data.adapters import load as load_dataset
from tuner.data.files import BROKEN_LINK, LINK_LOOP, file_problem, folder_problem, kind_of
from tuner.data.image_io import UnreadableImage, read
from tuner.data.summary import _skipped
from tuner.errors import TunerError

FIFO = "FIFO, not a regular file"


def plant(folder: Path, *, name: str = "pipe.png") -> None:
    """A FIFO, a symlink loop and a broken symlink named like images in ``folder``."""
    os.mkfifo(folder / name)
    os.symlink("loop.png", folder / "loop.png")  # points at itself
    os.symlink(folder / "gone.png", folder / "broken.png")


def pair(root: Path, stem: str, level: int = 100) -> None:
    write(root / "images" / f"{stem}.png", rgb(level=level))
    write(root / "masks" / f"{stem}.png", square_mask())


@pytest.fixture(autouse=True)
def _no_hang():
    """Opening a FIFO blocks: a regression fails here after 30 s instead of hanging."""
    def fail(signum, frame):
        raise TimeoutError("blocked: a FIFO was opened")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def test_kinds_are_told_without_opening(tmp_path):
    plant(tmp_path)
    (tmp_path / "file.png").write_bytes(b"x")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "sock.png"))
        assert kind_of(tmp_path / "sock.png") == "socket, not a regular file"
    assert kind_of(tmp_path / "pipe.png") == FIFO
    assert kind_of(tmp_path / "loop.png") == LINK_LOOP
    assert kind_of(tmp_path / "broken.png") == BROKEN_LINK
    assert kind_of(tmp_path / "file.png") == "file" and kind_of(tmp_path) == "folder"
    assert kind_of(tmp_path / "nothing") == "missing"
    assert folder_problem(tmp_path / "file.png") == "is a file, not a folder"
    assert folder_problem(tmp_path / "pipe.png") == "is a FIFO, not a folder"
    assert file_problem(tmp_path) == "is a folder, not a file"
    assert file_problem(tmp_path / "loop.png") == "is a symlink loop, not a regular file"


def test_a_folder_with_a_fifo_and_symlink_loops_loads_the_rest(tmp_path):
    for stem in "ab":
        pair(tmp_path, stem)
    plant(tmp_path / "images")
    os.mkfifo(tmp_path / "masks" / "c_mask.png")
    pool = load_dataset(config(f"folder:{tmp_path}"))
    assert pool.names == ["a", "b"]
    assert pool.skipped == {FIFO: ["pipe.png", "c_mask.png"], LINK_LOOP: ["loop.png"],
                            BROKEN_LINK: ["broken.png"]}
    line = _skipped(pool.skipped)
    assert line.startswith("4 skipped: ") and "2 FIFO, not a regular file (e.g. pipe.png)" in line


def test_isic_and_oxford_pet_skip_them_too(tmp_path):
    isic = tmp_path / "isic"
    write(isic / "ISIC_0000001.jpg", rgb(), quality=95)
    write(isic / "ISIC_0000001_segmentation.png", square_mask())
    plant(isic, name="ISIC_0000002.jpg")
    pool = load_dataset(config(f"isic:{isic}"))
    assert pool.names == ["ISIC_0000001"]
    assert pool.skipped == {FIFO: ["ISIC_0000002.jpg"], BROKEN_LINK: ["broken.png"],
                            LINK_LOOP: ["loop.png"]}
    pets = tmp_path / "pets"
    for stem in ("Bengal_1", "Bengal_2"):
        write(pets / "images" / f"{stem}.jpg", rgb(), quality=95)
    write(pets / "annotations" / "trimaps" / "Bengal_1.png", trimap())
    os.mkfifo(pets / "annotations" / "trimaps" / "Bengal_2.png")  # a trimap: by its name
    plant(pets / "images")
    pool = load_dataset(config(f"oxford-pet:{pets}"))
    assert pool.names == ["Bengal_1"]
    assert pool.skipped == {FIFO: ["Bengal_2.png", "pipe.png"], BROKEN_LINK: ["broken.png"],
                            LINK_LOOP: ["loop.png"]}


def test_the_reader_never_opens_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(UnreadableImage, match=r"pipe\.png: it is a FIFO, not a regular file"):
        read(tmp_path / "pipe.png", 10_000)


@pytest.mark.parametrize("kind", ["folder", "isic", "oxford-pet"])
def test_a_dataset_folder_that_is_a_file_says_so(kind, tmp_path):
    file = tmp_path / "data.zip"
    file.write_bytes(b"PK")
    with pytest.raises(TunerError, match=r"data\.zip is a file, not a folder; expected"):
        load_dataset(config(f"{kind}:{file}"))


def test_a_subfolder_that_is_a_file_says_so(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").write_text("not a folder")
    with pytest.raises(TunerError, match=r"has no masks/ subfolder \(.*masks is a file, "
                                         r"not a folder\)"):
        load_dataset(config(f"folder:{tmp_path}"))


def test_a_list_naming_a_folder_or_a_fifo_says_so(tmp_path):
    pair(tmp_path, "a")
    os.mkfifo(tmp_path / "pipe.png")
    listed = tmp_path / "list.csv"
    for cell, words in (("images", r"image 'images' is a folder, not a file .*; expected an "
                                   r"image file"),
                        ("pipe.png", r"image 'pipe\.png' is a FIFO, not a regular file")):
        listed.write_text(f"image,mask\n{cell},masks/a.png\n")
        with pytest.raises(TunerError, match=r"list\.csv line 2: " + words):
            load_dataset(config(f"csv:{listed}"))
    with pytest.raises(TunerError, match=r"csv list .* is a folder, not a file; expected a "
                                         r"CSV file"):
        load_dataset(config(f"csv:{tmp_path}"))
