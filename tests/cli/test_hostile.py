"""Runs the hostile-case table (tests/cli/hostile/): every user mistake ends as the README
promises, with the stored study left byte-identical and nothing left behind."""

from __future__ import annotations

import hashlib
import shutil
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.cli.hostile import KEPT, Case, Place, all_cases
from tests.tiny import TINY_SETS
from tuner.cli import app

runner = CliRunner()
CASES = all_cases()
KEPT_STUDY = f"""
    from tuner import StudySpec, categorical
    study = StudySpec(name="{KEPT}", sampler="grid", space=dict(lr=categorical([1e-3, 2e-3])))
"""


@pytest.fixture(scope="module")
def kept_storage(tmp_path_factory) -> Path:
    """A SQLite file holding the kept study, trained once for every case."""
    folder = tmp_path_factory.mktemp("kept")
    study = folder / "kept.py"
    study.write_text(textwrap.dedent(KEPT_STUDY))
    db = folder / "tuner.db"
    result = runner.invoke(app, ["run", str(study), "--storage", f"sqlite:///{db}",
                                 "--workers", "1", *TINY_SETS])
    assert result.exit_code == 0, result.output
    return db


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_case(case: Case, kept_storage, tmp_path, monkeypatch):
    db = tmp_path / "storage" / "tuner.db"
    db.parent.mkdir()
    shutil.copy(kept_storage, db)
    place = Place(tmp_path, f"sqlite:///{db}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TUNER_STORAGE", place.storage)
    monkeypatch.setenv("TUNER_ARTIFACTS", str(db.parent / "artifacts"))
    for key, value in case.env:
        monkeypatch.setenv(key, value)
    args = case.args(place)
    before, digest = _tree(tmp_path), _digest(db)
    result = runner.invoke(app, args)
    assert result.exit_code == case.exit_code, (args, result.output)
    assert "Traceback" not in result.output, result.output
    if case.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("tuner: error"), result.stderr
        assert case.words in lines[0], lines[0]
    else:
        assert case.words in result.output, result.output
    assert _digest(db) == digest, "the storage changed"
    left = _tree(tmp_path) - before - {f"storage/{n}" for n in ("tuner.lock",)}
    # the user's cache of file hashes (~/.cache) may grow; a command that ran may keep the
    # data it decoded (the decoded-data cache), one that failed may not
    left = {p for p in left if not p.startswith("fingerprints")
            and not (case.exit_code != 2 and p.startswith("data-cache"))}
    assert left <= set(case.leaves), f"left behind: {sorted(left - set(case.leaves))}"
