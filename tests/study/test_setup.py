"""A study is one setup: every mistake caught before a trial, through the CLI, with the
exit code, the one line on stderr, and the stored study left exactly as it was."""

from __future__ import annotations

import textwrap

import numpy as np
import optuna
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.tiny import TINY_SETS
from tuner import records
from tuner.cli import app

runner = CliRunner()
GRID = """
    from tuner import StudySpec, categorical
    study = StudySpec(name="{name}", sampler="grid", pruner="none",
                      space=dict(weight_decay=categorical([0.0, 0.01])))
"""


def write(tmp_path, body: str, file: str = "study.py", **names) -> str:
    path = tmp_path / file
    path.write_text(textwrap.dedent(body.format(**names)))
    return str(path)


def run(*args: str):
    return runner.invoke(app, ["run", *map(str, args)])


def snapshot(url: str, name: str) -> tuple:
    """Everything a command could change in a stored study."""
    study = optuna.load_study(study_name=name, storage=url)
    trials = [(t.number, t.state, t.value, t.params, t.user_attrs, t.system_attrs)
              for t in study.get_trials()]
    return trials, study.user_attrs, study._storage.get_study_system_attrs(study._study_id)


def one_error_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("tuner: error")]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def folder_dataset(root, count: int = 12) -> str:
    rng = np.random.default_rng(0)
    for i in range(count):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            root / "images" / f"{i}.png")
        mask = np.zeros((32, 32), np.uint8)
        mask[8:24, 8:24] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i}.png")
    return f"folder:{root}"


@pytest.fixture(autouse=True)
def _fingerprints_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNER_FINGERPRINT_CACHE", str(tmp_path / "fingerprints"))


def bmp_dataset(root, foreground: float, count: int = 12) -> str:
    """Images and masks as 8-bit BMP files, whose size does not depend on their pixels:
    masks with another ``foreground`` share keep every name and byte size."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(
            root / "images" / f"{i}.bmp")
        mask = np.zeros((32, 32), np.uint8)
        mask[: round(32 * foreground)] = 255
        Image.fromarray(mask).save(root / "masks" / f"{i}.bmp")
    return f"folder:{root}"


def test_masks_rewritten_in_place_are_another_dataset(tmp_path, sqlite_url):
    data = bmp_dataset(tmp_path / "data", 0.14)
    file = write(tmp_path, GRID, name="s")
    assert run(file, "--storage", sqlite_url, *TINY_SETS, "--data", data).exit_code == 0
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "data").rglob("*.bmp")}
    before = snapshot(sqlite_url, "s")
    bmp_dataset(tmp_path / "data", 0.88)  # same names, same byte sizes, other masks
    assert {p.name: p.stat().st_size for p in (tmp_path / "data").rglob("*.bmp")} == sizes
    result = run(file, "--storage", sqlite_url, *TINY_SETS, "--data", data)
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "created with another setup (dataset content of masks/: the bytes changed" in line
    assert snapshot(sqlite_url, "s") == before


def test_a_fingerprint_stored_before_contents_were_hashed_still_resumes(tmp_path, sqlite_url):
    data = bmp_dataset(tmp_path / "data", 0.14)
    file = write(tmp_path, GRID, name="s")
    args = (file, "--storage", sqlite_url, *TINY_SETS, "--data", data)
    assert run(*args, "--n-trials", "1").exit_code == 0
    study = optuna.load_study(study_name="s", storage=sqlite_url)
    setup = study.user_attrs[records.SETUP]
    old = {**setup, "data": {k: v for k, v in setup["data"].items() if k != "content"}}
    study.set_user_attr(records.SETUP, old)  # as an earlier tuner stored it
    result = run(*args)  # compared by names and sizes: the same
    assert result.exit_code == 0, result.output
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "COMPLETE"]
    (tmp_path / "data" / "masks" / "extra.bmp").write_bytes(b"x")  # the old rule still bites
    result = run(*args)
    assert result.exit_code == 2 and "dataset file count: stored 24, now 25" in \
        one_error_line(result)


def test_data_differences_name_what_changed():
    from tuner.study.setup import data_difference

    base = {"kind": "folder", "files": 3, "sha256": "a", "content": {"images": "i", "masks": "m"}}
    assert data_difference(base, dict(base)) is None
    assert data_difference(base, {**base, "kind": "isic"}).startswith("dataset 'kind'")
    assert data_difference(base, {**base, "sha256": "b"}) == (
        "dataset file names or sizes: the same 3 files, with other names or sizes than when "
        "the study was created")
    assert data_difference(base, {**base, "content": {"images": "i", "masks": "x"}}) == (
        "dataset content of masks/: the bytes changed since the study was created (same "
        "names and sizes)")
    listed = {**base, "list_sha256": "l", "content": {"image": "i", "mask": "m"}}
    assert "content of the list's mask files" in data_difference(
        listed, {**listed, "content": {"image": "i", "mask": "x"}})
    old = {k: v for k, v in base.items() if k != "content"}
    assert data_difference(old, base) is None and data_difference(base, old) is None


@pytest.fixture
def stored(tmp_path, any_storage_url, study_name):
    """A finished two-point grid study in a real storage; (url, name, study file)."""
    file = write(tmp_path, GRID, name=study_name)
    result = run(file, "--storage", any_storage_url, *TINY_SETS)
    assert result.exit_code == 0, result.output
    return any_storage_url, study_name, file


CHANGED_SETUPS = {
    "other data": (lambda t, f: [f, "--data", folder_dataset(t / "data")], "dataset"),
    "other --set": (lambda t, f: [f, "--set", "dropout=0.3"], "fixed field 'dropout'"),
    "grown grid": (lambda t, f: [write(t, open(f).read().replace("0.01]", "0.01, 0.1]"),
                                       "study.py")], "space 'weight_decay'"),
    "other sampler": (lambda t, f: [write(t, open(f).read().replace('"grid"', '"random"'),
                                          "study.py")], "sampler"),
    "edited file": (lambda t, f: [write(t, open(f).read() + "\n# edited\n", "study.py")],
                    "study file content"),
}


@pytest.mark.parametrize("case", CHANGED_SETUPS)
def test_resuming_with_another_setup_is_refused_and_changes_nothing(case, stored, tmp_path):
    url, name, file = stored
    before = snapshot(url, name)
    make_args, named = CHANGED_SETUPS[case]
    args = make_args(tmp_path, file)
    result = run(args[0], "--storage", url, *TINY_SETS, *args[1:])
    assert result.exit_code == 2
    line = one_error_line(result)
    assert "created with another setup" in line and named in line and "--study-name" in line
    assert snapshot(url, name) == before


def test_another_study_file_under_an_existing_name_is_refused(stored, tmp_path):
    url, name, _ = stored
    before = snapshot(url, name)
    other = write(tmp_path, GRID.replace("weight_decay", "dropout"), "other.py", name="x")
    result = run(other, "--storage", url, "--study-name", name, *TINY_SETS)
    assert result.exit_code == 2 and "study file" in one_error_line(result)
    assert snapshot(url, name) == before


def test_how_a_run_computes_may_differ_and_a_finished_study_is_not_rewritten(stored):
    url, name, file = stored
    before = snapshot(url, name)
    result = run(file, "--storage", url, *TINY_SETS, "--set", "threads=1",
                 "--set", "precision=fp32", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "nothing left to run" in result.output
    assert snapshot(url, name) == before  # no attribute, no note rewritten
    assert snapshot(url, name)[1][records.SETUP]["fixed"]["epochs"] == 2


def test_set_on_a_searched_field_is_refused(tmp_path, sqlite_url):
    file = write(tmp_path, GRID, name="s")
    result = run(file, "--storage", sqlite_url, *TINY_SETS, "--set", "weight_decay=0")
    assert result.exit_code == 2
    assert "field 'weight_decay' is searched by this study" in one_error_line(result)
    assert optuna.get_all_study_names(sqlite_url) == []


SPACES = {
    "float range on an integer field": (
        "space=dict(epochs=float_range(1, 2))", "space['epochs'] is a float_range"),
    "fractions that together leave no train images": (
        "space=dict(val_fraction=float_range(0.1, 0.6), test_fraction=float_range(0.1, 0.5))",
        "val_fraction + test_fraction"),
    "a space function that raises": (
        "space=lambda trial: 1 / 0", "space(trial) raised ZeroDivisionError"),
    "cuda on a machine without a GPU": (
        "base=dict(device='cuda')", "config field 'device': got 'cuda'"),
    "fp16 on the CPU": ("base=dict(device='cpu', precision='fp16')", "'fp16', which needs CUDA"),
    "a learning rate that is no number": ("base=dict(lr=float('nan'))", "expected a finite"),
}


@pytest.mark.parametrize("case", SPACES)
def test_every_configuration_is_checked_before_the_study_exists(case, tmp_path, sqlite_url):
    argument, expected = SPACES[case]
    body = f"""
        from tuner import StudySpec, float_range
        study = StudySpec(name="s", sampler="random", n_trials=3, {argument})
    """
    result = run(write(tmp_path, body), "--storage", sqlite_url, *TINY_SETS)
    assert result.exit_code == 2
    assert expected in one_error_line(result)
    assert optuna.get_all_study_names(sqlite_url) == []


def test_a_machine_that_cannot_run_an_existing_study_leaves_its_waiting_trials(stored):
    url, name, file = stored
    before = snapshot(url, name)
    result = run(file, "--storage", url, *TINY_SETS, "--set", "device=cuda")
    assert result.exit_code == 2 and "no CUDA device" in one_error_line(result)
    assert snapshot(url, name) == before


def test_a_run_that_only_fails_stops_and_exits_1(tmp_path, sqlite_url, monkeypatch):
    """Trials that fail at run time (here: training raises) end the run after 3 in a row,
    with exit 1 and one line; a sampled study does not loop on new failures."""
    from tuner.study import objective

    def broken_fit(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(objective, "fit", broken_fit)
    body = """
        from tuner import StudySpec, float_range
        study = StudySpec(name="s", sampler="random", n_trials=50,
                          space=dict(lr=float_range(1e-4, 1e-2, log=True)))
    """
    result = run(write(tmp_path, body), "--storage", sqlite_url, *TINY_SETS)
    assert result.exit_code == 1, result.output
    assert "3 of 3 trials failed (last, trial 2: RuntimeError: boom)" in result.stderr
    assert "tuner best s --state fail" in result.stderr
    assert "stopped after 3 failed trials in a row" in result.stderr
    study = optuna.load_study(study_name="s", storage=sqlite_url)
    assert [t.state.name for t in study.trials] == ["FAIL"] * 3
    listed = runner.invoke(app, ["best", "s", "--storage", sqlite_url, "--state", "fail",
                                 "--format", "csv"])
    assert listed.exit_code == 0 and listed.stdout.count("RuntimeError: boom") == 3


def test_a_missing_sampler_package_is_caught_before_the_study(tmp_path, sqlite_url,
                                                              monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "cmaes" else real(name, *a))
    body = """
        from tuner import StudySpec, float_range
        study = StudySpec(name="s", sampler="cmaes", space=dict(lr=float_range(1e-4, 1e-2)))
    """
    result = run(write(tmp_path, body), "--storage", sqlite_url, *TINY_SETS)
    assert result.exit_code == 2
    assert "sampler 'cmaes' needs the Python package 'cmaes'" in one_error_line(result)
    assert optuna.get_all_study_names(sqlite_url) == []


def test_workers_are_capped_at_the_work_left(tmp_path, sqlite_url):
    file = write(tmp_path, GRID.replace("[0.0, 0.01]", "[0.0]"), name="s")
    result = run(file, "--storage", sqlite_url, *TINY_SETS, "--workers", "1000")
    assert result.exit_code == 0, result.output
    assert "on 1 worker(s) (as asked; capped at the" in result.stderr


def test_a_bad_workers_value_is_a_user_mistake(tmp_path, sqlite_url):
    result = run(write(tmp_path, GRID, name="s"), "--storage", sqlite_url, "--workers", "0")
    assert result.exit_code == 2 and "--workers: got '0'" in one_error_line(result)


def test_a_pruner_that_cannot_act_says_so_and_no_run_is_pruned_at_its_last_epoch(
        tmp_path, sqlite_url):
    body = """
        from tuner import StudySpec, categorical
        study = StudySpec(name="s", sampler="grid", space=dict(lr=categorical([1e-3])),
                          pruner="threshold", pruner_options=dict(lower=1.01, min_steps=0))
    """
    file = write(tmp_path, body)
    result = run(file, "--storage", sqlite_url, *TINY_SETS, "--set", "epochs=1")
    assert result.exit_code == 0, result.output
    assert "pruner 'threshold' cannot act in this run" in result.stderr
    study = optuna.load_study(study_name="s", storage=sqlite_url)
    assert [t.state.name for t in study.trials] == ["COMPLETE"]  # Dice < 1.01, yet kept


def test_a_study_whose_trials_were_all_pruned_says_so(tmp_path, sqlite_url):
    body = """
        from tuner import StudySpec, categorical
        study = StudySpec(name="s", sampler="grid", space=dict(lr=categorical([1e-3, 1e-2])),
                          pruner="threshold", pruner_options=dict(lower=1.01, min_steps=0))
    """
    result = run(write(tmp_path, body), "--storage", sqlite_url, *TINY_SETS)
    assert result.exit_code == 0, result.output
    assert "no trial of this study completed: all 2 run now were pruned" in result.stderr
    listed = runner.invoke(app, ["best", "s", "--storage", sqlite_url, "--state", "pruned"])
    assert listed.exit_code == 0 and "pruned at epoch 1" in listed.stdout


@pytest.mark.parametrize("command", [["studies"], ["best", "s"], ["export", "s"],
                                     ["report", "s"], ["evaluate", "s"]])
def test_read_only_commands_on_a_mistyped_path_create_nothing(command, tmp_path):
    url = f"sqlite:///{tmp_path / 'typo' / 'tuner.db'}"
    result = runner.invoke(app, [*command, "--storage", url])
    assert result.exit_code == 2 and "nothing was stored there" in one_error_line(result)
    assert not (tmp_path / "typo").exists()


def test_a_read_only_database_is_one_line(tmp_path, monkeypatch):
    db = tmp_path / "tuner.db"
    file = write(tmp_path, GRID, name="s")
    assert run(file, "--storage", f"sqlite:///{db}", *TINY_SETS).exit_code == 0
    monkeypatch.setattr("os.access", lambda path, mode: str(path) != str(db))
    result = run(file, "--storage", f"sqlite:///{db}", *TINY_SETS)
    assert result.exit_code == 2 and "is read-only" in one_error_line(result)


@pytest.mark.parametrize("gallery", ["x.xyz", "folder"])
def test_evaluate_refuses_a_gallery_it_cannot_write(gallery, tmp_path, sqlite_url):
    file = write(tmp_path, GRID, name="s")
    assert run(file, "--storage", sqlite_url, *TINY_SETS, "--save-weights").exit_code == 0
    (tmp_path / "folder").mkdir()
    result = runner.invoke(app, ["evaluate", "s", "--storage", sqlite_url,
                                 "--gallery", str(tmp_path / gallery)])
    assert result.exit_code == 2
    assert "--gallery" in one_error_line(result)
