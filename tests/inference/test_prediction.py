"""``tuner predict``: masks for new images at their own sizes, skipped files, exit codes."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.tiny import TINY_SETS
from tuner.cli import app
from tuner.data.image_io import fit
from tuner.inference.prediction import PROBABILITIES, output_names, restore

runner = CliRunner()
STUDY = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="pr", sampler="grid", pruner="none",
                      space=dict(lr=categorical([1e-3])))
"""


def run_study(tmp_path, url: str, *args: str) -> None:
    path = tmp_path / "study.py"
    path.write_text(textwrap.dedent(STUDY))
    result = runner.invoke(app, ["run", str(path), "--storage", url, "--no-galleries",
                                 *TINY_SETS, *args])
    assert result.exit_code == 0, result.output


def new_images(folder) -> dict[str, tuple[int, int]]:
    """Images of mixed sizes and kinds in ``folder``; their mask names -> (width, height)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 50, 3), np.uint8)).save(folder / "wide.png")
    Image.fromarray(rng.integers(0, 255, (45, 45), np.uint8)).save(folder / "gray.jpg")
    Image.fromarray(rng.integers(0, 65535, (70, 20), np.uint16)).save(folder / "deep.png")
    Image.fromarray(rng.integers(0, 255, (8, 90, 3), np.uint8)).save(folder / "strip.bmp")
    return {"wide.png": (50, 30), "gray.png": (45, 45), "deep.png": (20, 70),
            "strip.png": (90, 8)}


def predict(url: str, images, out, *args: str):
    return runner.invoke(app, ["predict", "pr", "--storage", url, "--images", str(images),
                               "--out", str(out), *args])


@pytest.mark.parametrize("resize", ["squash", "pad"])
def test_masks_come_back_at_each_images_own_size(tmp_path, sqlite_url, resize):
    run_study(tmp_path, sqlite_url, "--save-weights", "--set", f"resize={resize}")
    expected = new_images(tmp_path / "new")
    (tmp_path / "new" / "notes.txt").write_text("not an image: ignored")
    out = tmp_path / "masks"
    result = predict(sqlite_url, tmp_path / "new", out, "--probabilities")
    assert result.exit_code == 0, result.output
    assert f"wrote 4 masks to {out}" in result.stdout
    for name, size in expected.items():
        mask = Image.open(out / name)
        assert mask.size == size and mask.mode == "L", name
        assert set(np.unique(np.asarray(mask))) <= {0, 255}, name
        assert Image.open(out / PROBABILITIES / name).size == size, name
    # an unreadable file is named and skipped; the others are still written; exit 1
    (tmp_path / "new" / "broken.png").write_bytes(b"not a png")
    again = predict(sqlite_url, tmp_path / "new", tmp_path / "again", "--threshold", "0.3")
    assert again.exit_code == 1, again.output
    assert "broken.png" in again.stderr and "1 file(s) skipped" in again.stdout
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(expected)


def test_restore_drops_the_padding_and_resizes():
    image = Image.new("RGB", (64, 16))  # wide: padded above and below in a square
    square, box = fit(image, 32, "pad", Image.BILINEAR)
    assert (box.top, box.height, box.width) == (12, 8, 32)
    probs = np.zeros((32, 32), np.float32)
    probs[box.top:box.top + box.height, :] = 0.9  # the picture; the padding says 0
    back = restore(probs, box, (64, 16))
    assert back.shape == (16, 64) and np.allclose(back, 0.9)


def test_colliding_stems_get_distinct_names(tmp_path):
    files = [tmp_path / "a.jpg", tmp_path / "a.PNG", tmp_path / "b.tif"]
    assert list(output_names(files).values()) == ["a_jpg.png", "a_png.png", "b.png"]


def test_mistakes_exit_2_before_any_work(tmp_path, sqlite_url):
    run_study(tmp_path, sqlite_url)  # no --save-weights
    images = tmp_path / "new"
    new_images(images)
    (tmp_path / "empty").mkdir()
    cases = {
        (tmp_path / "nowhere", tmp_path / "out", ()): "is not a folder",
        (tmp_path / "empty", tmp_path / "out", ()): "no image files",
        (images, images, ()): "is the --images folder",
        (images, tmp_path / "out", ("--threshold", "1.5")): "expected a probability",
        (images, tmp_path / "out", ("--trial", "7")): "has no such trial",
        (images, tmp_path / "out", ()): "no saved weights; run the study with --save-weights",
    }
    for (folder, out, args), message in cases.items():
        result = predict(sqlite_url, folder, out, *args)
        assert result.exit_code == 2 and message in result.stderr, (message, result.output)
        assert len(result.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "out").glob("*.png"))
