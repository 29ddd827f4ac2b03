"""Datasets: special files, paths of the wrong kind, mask values and model fields that the
data or the network cannot honour (`tuner train` where it fits: it stores no study)."""

import os

import numpy as np
from PIL import Image

from tests.cli.hostile import Case, Place
from tests.tiny import TINY_SETS

STUDY = """from tuner import StudySpec, categorical
study = StudySpec(name="s", sampler="grid", space=dict(lr=categorical([1e-3])))
"""


def folder(p: Place, fifo: bool = False) -> str:
    """Six 32 px pairs with {0, 255} masks; ``fifo``: plus a FIFO named like an image and a
    symlink loop in images/ (opening the FIFO would block for ever)."""
    root = p.folder / "data"
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    mask = np.zeros((32, 32), np.uint8)
    mask[8:20, 8:20] = 255
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            root / "images" / f"{i}.png")
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    if fifo:
        os.mkfifo(root / "images" / "pipe.png")
        os.symlink("loop.png", root / "images" / "loop.png")
    return f"folder:{root}"


def train(data, *sets: str):
    """``tuner train`` on ``data(place)`` with the tiny sizes and ``sets``."""
    return lambda p: ["train", *TINY_SETS, "--data", data(p),
                      *[a for s in sets for a in ("--set", s)]]


def run(*sets: str):
    """``tuner run`` of a one-point grid with the tiny sizes and ``sets`` (the model check
    runs before the study is stored; ``tuner train`` says what the data is first)."""
    return lambda p: ["run", p.file("study.py", STUDY), *TINY_SETS,
                      *[a for s in sets for a in ("--set", s)]]


def listing(p: Place) -> str:
    """A list whose row names a folder as its image."""
    folder(p)
    return f"csv:{p.file('data/list.csv', 'image,mask' + chr(10) + 'images,masks/0.png')}"


CASES = [
    Case("train on a folder with a FIFO and a symlink loop", train(lambda p: folder(p, True)),
         "2 skipped: 1 symlink loop (e.g. loop.png), 1 FIFO, not a regular file (e.g. "
         "pipe.png)", exit_code=0),
    Case("train on a folder that is a file",
         train(lambda p: f"folder:{p.file('data.zip', 'PK')}"),
         "data.zip is a file, not a folder; expected a folder with images/ and masks/"),
    Case("train on a list naming a folder", train(listing),
         "image 'images' is a folder, not a file"),
    Case("train with foreground_values no mask holds", train(folder, "foreground_values=999"),
         "no mask under"),
    Case("run the classic UNet with encoder weights", run("encoder_weights=imagenet"),
         "config field 'encoder_weights': got 'imagenet', but arch 'unet' (the classic UNet) "
         "has no encoder"),
    Case("run the classic UNet with a frozen encoder", run("freeze_encoder=true"),
         "config field 'freeze_encoder': got True, but arch 'unet'"),
]
