"""Honest reports: a partly-run grid says so first, blank pivot cells are explained, and
nothing written for sharing holds an absolute path (the dataset's, a weights file's)."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest
from optuna.distributions import CategoricalDistribution, distribution_to_json

from tests.reports.test_tables import fake_curves
from tuner import records
from tuner.config import TrainConfig
from tuner.reports import analysis, display, export, html_report, tables
from tuner.results import formatting as fmt

optuna.logging.set_verbosity(optuna.logging.WARNING)
DECAYS, FRACTIONS = (0.0, 0.01, 0.1), (0.4, 0.6, 0.8)
SPACE = {"weight_decay": CategoricalDistribution(DECAYS),
         "train_fraction": CategoricalDistribution(FRACTIONS)}


def _trial(study, values: dict, repeat: int, peak: float, state="complete",
           config: dict | None = None, space=SPACE) -> None:
    study.enqueue_trial(values, user_attrs={records.REPEAT: repeat})
    trial = study.ask(space)
    curves = fake_curves(0.01, 0.8, repeat, 4)
    curves["val_dice"] = [peak * e / 4 for e in range(1, 5)]
    attrs = {records.CONFIG: TrainConfig.from_dict({**(config or {}), **values,
                                                     "seed": repeat}).to_dict(),
             records.CURVES: curves, records.BEST_EPOCH: 4, records.EPOCHS_RUN: 4,
             records.SECONDS: 5.0, records.REPEAT: repeat, records.SEED: repeat}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    for step, value in enumerate(curves["val_dice"], start=1):
        trial.report(value, step)
    if state == "pruned":
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    else:
        study.tell(trial, peak)


@pytest.fixture
def partial_grid(sqlite_url, study_name) -> optuna.Study:
    """A 3 x 3 grid x 2 repeats stopped early: two cells completed, one pruned at both
    repeats, two trials still queued, the rest never started."""
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    study.set_user_attr(records.SETUP, {"sampler": "grid", "space": {
        name: json.loads(distribution_to_json(dist)) for name, dist in SPACE.items()}})
    study.set_user_attr(records.REPEATS, 2)
    for repeat in (0, 1):
        _trial(study, {"weight_decay": 0.01, "train_fraction": 0.4}, repeat, 0.70 + repeat / 100)
        _trial(study, {"weight_decay": 0.1, "train_fraction": 0.8}, repeat, 0.60 + repeat / 100)
        _trial(study, {"weight_decay": 0.01, "train_fraction": 0.8}, repeat, 0.3, "pruned")
    for fraction in (0.6, 0.8):
        study.enqueue_trial({"weight_decay": 0.0, "train_fraction": fraction},
                            user_attrs={records.REPEAT: 0})
    return study


def test_a_partly_run_grid_says_so_at_the_top_of_the_conclusion(partial_grid, sqlite_url,
                                                                 tmp_path):
    found = analysis.analyse(partial_grid)
    assert found.coverage == analysis.Coverage(completed=2, total=9, pruned=1, active=2,
                                               units=2, short=0)
    page = html_report.write_report(sqlite_url, [partial_grid.study_name],
                                    tmp_path / "r.html").read_text(encoding="utf-8")
    conclusion = page[page.index("<h3>Conclusion</h3>"):page.index("<h3>Comparison</h3>")]
    assert conclusion.startswith(
        "<h3>Conclusion</h3><ul><li>Partly run: 2 of 9 configurations have a completed run "
        "(1 pruned at every run; 6 not run yet or failed; 2 trials still waiting or running); "
        "the best of those is weight_decay=0.01, train_fraction=0.4, with best validation "
        "Dice 0.705 ± 0.007 (mean ± sd over 2 repeats)")
    finished = analysis.Coverage(completed=9, total=9, pruned=0, active=0, units=2, short=0)
    assert not finished.partial
    ranking = tables.ranking(found.trials, found.params)
    assert html_report.best_in_words(ranking, found.comparison, finished).startswith(
        "Best configuration: weight_decay=0.01, train_fraction=0.4")


def test_blank_pivot_cells_are_explained_in_the_legend(partial_grid, sqlite_url, tmp_path):
    found = analysis.analyse(partial_grid)
    shown = display.pivot_shown(found.comparison, found.params)
    cells = shown.cells.set_index("weight_decay \\ train_fraction")
    assert cells.loc["0.01", "0.8"] == "" and cells.loc["0.1", "0.4"] == ""
    assert cells.loc["0.01", "0.4"] == "0.705 ± 0.007 (2)"
    assert shown.legend.endswith(" Blank cells: 1 whose every run was pruned; 1 not run yet "
                                 "(or every run failed).")
    export.export_study(sqlite_url, partial_grid.study_name, tmp_path / "out", {"md"})
    assert "Blank cells: 1 whose every run was pruned" in (tmp_path / "out" / "pivot.md"
                                                          ).read_text()


def test_shared_paths_are_relative_or_a_folder_name(tmp_path, monkeypatch):
    inside = tmp_path / "work" / "data" / "cells"
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert fmt.shared_path(str(inside)) == "data/cells"
    assert fmt.shared_path("/elsewhere/me/cells") == "cells"
    assert fmt.shared_path("data/x") == "data/x"  # relative: as it is
    assert fmt.shared_path(str(tmp_path / "work")) == "work"  # the working folder itself
    assert fmt.shared_text(f"dataset=folder:{inside}, train_fraction=0.4") == (
        "dataset=folder:data/cells, train_fraction=0.4")
    assert fmt.shared_text("at ~/data/cells.") == "at cells."
    assert fmt.shared_text("a/b 1/2 mean ± sd / n") == "a/b 1/2 mean ± sd / n"
    assert fmt.param(f"folder:{inside}", "dataset") == "folder:data/cells"


def test_nothing_written_for_sharing_holds_an_absolute_path(sqlite_url, study_name, tmp_path,
                                                            monkeypatch):
    """A study whose dataset is searched over two folders by absolute path, with a weights
    file by absolute path and a stored caveat naming a folder: every file of the export,
    the report and the dashboard notes name them by folder, never by the path."""
    from tuner.study.notes import study_note, trial_note
    from tuner.study.spec import StudySpec, categorical

    root = tmp_path / "home" / "me" / "datasets"
    specs = [f"folder:{root / 'cells_a'}", f"folder:{root / 'cells_b'}"]
    weights = str(root / "weights" / "resnet18.safetensors")
    base = {"arch": "Unet", "encoder": "resnet18", "encoder_weights": weights}
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    study.set_user_attr(records.BASE, base)
    study.set_user_attr(records.CAVEATS, [f"3 optimizer step(s) per epoch at dataset="
                                          f"{specs[1]} (12 train images, batch_size 4)"])
    space = {"dataset": CategoricalDistribution(specs)}
    for repeat in (0, 1):
        for i, spec in enumerate(specs):
            _trial(study, {"dataset": spec}, repeat, 0.7 + i / 10 + repeat / 100,
                   config=base, space=space)
    out = tmp_path / "out"
    written = export.export_study(sqlite_url, study_name, out, {"csv", "md", "tex", "html"})
    written.append(html_report.write_report(sqlite_url, [study_name], tmp_path / "r.html"))
    spec = StudySpec(name=study_name, base=base, space={"dataset": categorical(specs)},
                     source=str(root.parent / "studies" / "by_dataset.py"))
    notes = [study_note(spec, {}, study), *(trial_note(t, TrainConfig.from_dict(
        t.user_attrs[records.CONFIG]), 0) for t in study.trials)]
    texts = {str(p): p.read_bytes().decode("utf-8", "replace") for p in written}
    texts |= {f"note {i}": note for i, note in enumerate(notes)}
    assert len(texts) > 20
    leaked = [name for name, text in texts.items() if str(tmp_path) in text or "/home/" in text]
    assert leaked == []
    comparison = pd.read_csv(out / "comparison.csv")
    assert list(comparison["dataset"]) == ["folder:cells_b", "folder:cells_a"]
    report = texts[str(tmp_path / "r.html")]
    assert "folder:cells_b" in report and "resnet18.safetensors" in report
    assert "dataset=folder:cells_b (12 train images" in report  # the stored caveat
    assert "`dataset=folder:cells_a`" in notes[1] and "study file: `by_dataset.py`" in notes[0]
    stored = study.trials[0].user_attrs[records.CONFIG]["dataset"]
    assert stored == specs[0]  # the stored config keeps its path


def _searched(page: str) -> str:
    return page[page.index("<h3>Searched</h3>"):page.index("<h3>Fixed</h3>")]


def test_searched_shows_every_declared_value_beside_what_ran(partial_grid, sqlite_url,
                                                             tmp_path):
    page = html_report.write_report(sqlite_url, [partial_grid.study_name],
                                    tmp_path / "r.html").read_text(encoding="utf-8")
    searched = _searched(page)
    # the grid as declared, though 0.0 never ran and 0.6 only waits in the queue
    assert ("<li><b>weight_decay</b>: declared 0.0, 0.01, 0.1 (3 values); ran: 0.01, 0.1; "
            "not run: 0.0</li>") in searched
    assert ("<li><b>train_fraction</b>: declared 0.4, 0.6, 0.8 (3 values); ran: 0.4, 0.8; "
            "not run: 0.6</li>") in searched
    assert "as stored when the study was created" in searched
    assert "<li><b>seed</b>: 0, 1 (changes with the repeat)</li>" in searched


def test_a_declared_range_shows_its_bounds_and_log_flag(sqlite_url, study_name, tmp_path):
    space = {"lr": optuna.distributions.FloatDistribution(1e-5, 1e-1, log=True),
             "base_channels": optuna.distributions.IntDistribution(8, 32, step=8)}
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    study.set_user_attr(records.SETUP, {"sampler": "tpe", "space": {
        name: json.loads(distribution_to_json(dist)) for name, dist in space.items()}})
    for repeat, (lr, channels) in enumerate(((2e-4, 8), (3e-3, 16), (5e-2, 16))):
        _trial(study, {"lr": lr, "base_channels": channels}, repeat, 0.7 + repeat / 100,
               space=space)
    found = analysis.declared_space(study)
    assert found["lr"].text() == "1.0e-05 to 1.0e-01, log scale"
    assert found["base_channels"].text() == "8 to 32, step 8"
    page = html_report.write_report(sqlite_url, [study_name], tmp_path / "r.html").read_text(
        encoding="utf-8")
    searched = _searched(page)
    assert ("<li><b>lr</b>: declared 1.0e-05 to 1.0e-01, log scale; ran: 3 values, 2.0e-04 to "
            "5.0e-02</li>") in searched
    assert "<li><b>base_channels</b>: declared 8 to 32, step 8; ran: 2 values, 8 to 16</li>" \
        in searched


def test_without_a_declared_list_the_report_says_why(partial_grid):
    partial_grid.set_user_attr(records.SETUP, {"sampler": "grid",
                                               "space": {"function": "def space(trial): ..."}})
    assert analysis.declared_space(partial_grid) == {}
    note = html_report._searched_and_fixed(partial_grid)
    assert "declares its space as a function" in note
    assert "<li><b>weight_decay</b>: 0.01, 0.1 (what ran)</li>" in note
    partial_grid.set_user_attr(records.SETUP, "not a setup")
    assert analysis.declared_space(partial_grid) is None
    assert "No declared space is stored" in html_report._searched_and_fixed(partial_grid)
