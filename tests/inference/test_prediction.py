"""``tuner predict``: masks for new images at their own sizes, skipped files, exit codes."""

from __future__ import annotations

import textwrap

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
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
    study = optuna.load_study(study_name="pr", storage=sqlite_url)
    for state in (TrialState.PRUNED, TrialState.FAIL):
        study.add_trial(optuna.trial.create_trial(state=state))
    images = tmp_path / "new"
    new_images(images)
    (tmp_path / "empty").mkdir()
    plain = tmp_path / "plain.txt"
    plain.write_text("a file")
    out = tmp_path / "deep" / "out"
    cases = {
        (tmp_path / "nowhere", out, ()): "is not a folder",
        (tmp_path / "empty", out, ()): "no image files",
        (images, images, ()): "is the --images folder",
        (images, plain, ()): "exists and is not a folder",
        (images, plain / "out", ()): "plain.txt is a file, not a folder",
        (images, out, ("--threshold", "1.5")): "expected a probability",
        (images, out, ("--max-image-pixels", "0")): "expected a number of pixels >= 1",
        (images, out, ("--trial", "7")): "has no such trial",
        (images, out, ("--trial", "1")): "the trial is pruned; expected a completed trial",
        (images, out, ("--trial", "2")): "the trial is fail; expected a completed trial",
        (images, out, ("--trial", "0", "--best")): "got both",
        (images, out, ("--storage", f"sqlite:///{tmp_path / 'nope.db'}")): "nope.db",
        (images, out, ()): "no saved weights; run the study with --save-weights",
    }
    for (folder, target, args), message in cases.items():
        result = predict(sqlite_url, folder, target, *args)
        assert result.exit_code == 2 and message in result.stderr, (message, result.output)
        assert len(result.stderr.strip().splitlines()) == 1
    unknown = runner.invoke(app, ["predict", "nope", "--storage", sqlite_url, "--images",
                                  str(images), "--out", str(out)])
    assert unknown.exit_code == 2 and "'nope' not found" in unknown.stderr
    assert not (tmp_path / "deep").exists() and not (tmp_path / "nope.db").exists()


def test_a_too_large_image_names_predicts_own_option(tmp_path, sqlite_url):
    run_study(tmp_path, sqlite_url, "--save-weights")
    expected = new_images(tmp_path / "new")  # the largest: 45 x 45 = 2025 pixels
    small = predict(sqlite_url, tmp_path / "new", tmp_path / "small",
                    "--max-image-pixels", "2000")
    assert small.exit_code == 1, small.output
    assert "gray.jpg" in small.stderr and "--set" not in small.stderr
    assert "tuner predict --max-image-pixels 2025" in small.stderr
    assert sorted(p.name for p in (tmp_path / "small").iterdir()) == sorted(
        set(expected) - {"gray.png"})
    enough = predict(sqlite_url, tmp_path / "new", tmp_path / "enough",
                     "--max-image-pixels", "2025")
    assert enough.exit_code == 0, enough.output
    assert sorted(p.name for p in (tmp_path / "enough").iterdir()) == sorted(expected)
