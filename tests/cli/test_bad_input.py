"""Every user mistake: exit code 2, one line on stderr, and the storage left as it was."""

from __future__ import annotations

import textwrap

import numpy as np
import optuna
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.tiny import TINY_SETS
from tuner.cli import app

runner = CliRunner()
GOOD_STUDY = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="s", sampler="grid", space=dict(lr=categorical([1e-3])))
"""


def png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)


def folder(tmp_path, kind: str) -> str:
    root = tmp_path / "data"
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3))
    mask = np.zeros((32, 32)); mask[8:20, 8:20] = 255  # noqa: E702
    for i in range(6):
        png(root / "images" / f"{i}.png", image)
        if kind == "no_mask" and i == 3:
            continue
        if kind == "size" and i == 2:
            png(root / "masks" / f"{i}.png", np.zeros((16, 16)))
            continue
        if kind == "values" and i == 1:
            png(root / "masks" / f"{i}.png", np.tile([0, 100, 255], (32, 11))[:, :32])
            continue
        png(root / "masks" / f"{i}.png", mask)
    return f"folder:{root}"


CASES = {
    "missing study file": (lambda t: ["missing.py"], "not found"),
    "syntax error": (lambda t: [write(t, "study = (")], "syntax error"),
    "no study": (lambda t: [write(t, "x = 1")], "defines no study"),
    "unknown parameter": (lambda t: [write(t, GOOD_STUDY), "--set", "lrr=1"],
                          "unknown config field 'lrr'"),
    "out of range": (lambda t: [write(t, GOOD_STUDY), "--set", "dropout=1.5"],
                     "'dropout': got 1.5"),
    "bad value in the space": (
        lambda t: [write(t, GOOD_STUDY.replace("lr=categorical([1e-3])",
                                               "optimizer=categorical(['adam', 'sgdd'])"))],
        "'optimizer': got 'sgdd'"),
    "missing dataset folder": (lambda t: [write(t, GOOD_STUDY), "--data", "folder:/nope"],
                               "does not exist"),
    "images without masks": (lambda t: [write(t, GOOD_STUDY), "--data", folder(t, "no_mask")],
                             "masks (3.png); expected masks named <stem>"),
    "mask size mismatch": (lambda t: [write(t, GOOD_STUDY), "--data", folder(t, "size")],
                           "2.png"),
    "more than two mask values": (lambda t: [write(t, GOOD_STUDY), "--data",
                                             folder(t, "values")], "1.png"),
    "empty split": (lambda t: [write(t, GOOD_STUDY), "--set", "synthetic_images=12",
                               "--set", "val_fraction=0.01"], "val"),
}


def write(tmp_path, body: str) -> str:
    path = tmp_path / "study.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


@pytest.mark.parametrize("case", list(CASES))
def test_user_mistake_is_one_line_exit_2_and_storage_untouched(case, tmp_path, sqlite_url):
    # a study that exists already must survive the failed run unchanged
    good = write(tmp_path, GOOD_STUDY.replace('name="s"', 'name="kept"'))
    assert runner.invoke(app, ["run", good, "--storage", sqlite_url, *TINY_SETS]).exit_code == 0
    before = [(t.number, t.state, t.value) for t in
              optuna.load_study(study_name="kept", storage=sqlite_url).get_trials()]
    make_args, expected = CASES[case]
    args = make_args(tmp_path)
    result = runner.invoke(app, ["run", args[0], "--storage", sqlite_url, *args[1:],
                                 *TINY_SETS])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("tuner: error")]
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.output
    names = [s.study_name for s in optuna.get_all_study_summaries(sqlite_url)]
    assert names == ["kept"]
    after = [(t.number, t.state, t.value) for t in
             optuna.load_study(study_name="kept", storage=sqlite_url).get_trials()]
    assert after == before


def test_storage_that_cannot_be_opened(tmp_path):
    result = runner.invoke(app, ["run", write(tmp_path, GOOD_STUDY), "--storage",
                                 "postgresql+psycopg://me:secret@127.0.0.1:1/none"])
    assert result.exit_code == 2
    assert "cannot be opened" in result.stderr and "secret" not in result.output


def test_unknown_study_lists_existing_ones(sqlite_url):
    optuna.create_study(study_name="there", storage=sqlite_url)
    result = runner.invoke(app, ["best", "missing", "--storage", sqlite_url])
    assert result.exit_code == 2 and "studies there: there" in result.stderr
