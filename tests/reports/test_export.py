"""``tuner export``: files, their contents against the storage, errors, PNGs, the command."""

from __future__ import annotations

import io
import os
import re
import sys
import warnings
from pathlib import Path

import optuna
import pandas as pd
import pytest
import typer
from choreographer.browsers.chromium import Chromium
from PIL import Image
from typer.testing import CliRunner

from tests.reports.test_latex import PDFLATEX, compile_fragments, parse_tabular
from tests.reports.test_tables import N_TRIALS, build_study
from tuner import records
from tuner.cli.reports import export_command
from tuner.errors import TunerError
from tuner.inference import gallery
from tuner.reports import export, plots, tables

DOCS = Path(__file__).resolve().parents[2] / "docs" / "exports.md"
TEXT_FORMATS = {"csv", "md", "tex", "html"}


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Path, optuna.Study]:
    """One study with galleries for the module (building it costs seconds of SQLite commits)."""
    folder = tmp_path_factory.mktemp("export")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNER_ARTIFACTS", str(folder / "artifacts"))
        return folder, build_study(f"sqlite:///{folder / 'tuner.db'}", "fake", folder)


@pytest.fixture
def study(shared, monkeypatch) -> optuna.Study:
    monkeypatch.setenv("TUNER_ARTIFACTS", str(shared[0] / "artifacts"))
    return shared[1]


@pytest.fixture
def sqlite_url(shared) -> str:
    """The shared study's storage (overrides conftest's fresh file for this module)."""
    return f"sqlite:///{shared[0] / 'tuner.db'}"


def test_export_writes_every_file_into_the_default_folder(study, sqlite_url, shared):
    paths = export.export_study(sqlite_url, study.study_name, None, TEXT_FORMATS)
    out = shared[0] / "exports" / study.study_name  # exports/ beside artifacts/
    names = {p.relative_to(out).as_posix() for p in paths}
    assert {"trials.csv", "curves.csv", "comparison.csv", "comparison.md", "comparison.tex",
            "pivot.csv", "pivot.md", "pivot.tex", "cost.csv", "cost.md", "cost.tex",
            "plots/plotly.min.js"} <= names
    assert "best_lr.md" not in names  # lr is not searched here
    curves = [f"learning_curves_{m}" for m in plots.CURVE_METRICS]
    assert {f"plots/{n}.html" for n in ("dice_by_param", *curves, "optimization_history",
                                        "intermediate_values", "parallel_coordinates")} <= names
    assert "plots/param_importances.html" not in names  # 4 configurations: too few
    assert "fewer than 5" in (out / "plots" / "notes.txt").read_text()
    assert all(p.is_file() for p in paths)
    assert not list(out.glob(".partial-*"))


def test_trials_csv_rows_equal_the_storage_trials(study, sqlite_url, tmp_path):
    export.export_study(sqlite_url, study.study_name, tmp_path / "out", {"csv"})
    frame = pd.read_csv(tmp_path / "out" / "trials.csv")
    stored = study.get_trials()
    assert len(frame) == len(stored) == N_TRIALS
    for (_, row), trial in zip(frame.iterrows(), stored, strict=True):
        assert row["number"] == trial.number and row["state"] == trial.state.name
        for name, value in trial.params.items():
            assert row[name] == pytest.approx(value)
        attrs = trial.user_attrs
        for column in ("best_val_dice", "best_epoch", "epochs_run", "repeat", "seed",
                       "seconds", "pruned_at"):
            expected = attrs.get(column)
            assert (pd.isna(row[column]) if expected is None
                    else row[column] == pytest.approx(expected)), column
        if "curves" in attrs:
            assert row["final_train_loss"] == pytest.approx(attrs["curves"]["train_loss"][-1])


def test_trials_csv_columns_are_documented(study, sqlite_url, tmp_path):
    export.export_study(sqlite_url, study.study_name, tmp_path / "out", {"csv"})
    columns = pd.read_csv(tmp_path / "out" / "trials.csv").columns
    documented = set(re.findall(r"`([a-z_<>]+)`", DOCS.read_text(encoding="utf-8")))
    params = {"weight_decay", "train_fraction"}
    missing = [c for c in columns if c not in documented and c not in params
               and not (c.startswith("test_") and "test_<metric>" in documented)]
    assert missing == []


def _markdown_ok(text: str, rows: int) -> list[list[str]]:
    """A GitHub pipe table of ``rows`` rows, then a blank line and one legend line."""
    table, legend = text.strip().split("\n\n")
    assert "|" not in legend and legend.count("\n") == 0
    lines = table.splitlines()
    assert len(lines) == rows + 2
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert len({len(re.findall(r"(?<!\\)\|", line)) for line in lines}) == 1
    assert re.fullmatch(r"\|(:?-+:?\|)+", lines[1])
    return [[c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))] for line in lines]


def test_markdown_and_latex_tables_are_well_formed(study, sqlite_url, tmp_path):
    out = tmp_path / "out"
    export.export_study(sqlite_url, study.study_name, out, {"md", "tex"})
    table = _markdown_ok((out / "comparison.md").read_text(), rows=4)
    assert table[0] == ["weight_decay", "train_fraction", "val Dice", "Δ val Dice [95% CI]",
                        "p (paired t)", "test Dice", "train Dice", "train loss", "val loss",
                        "best epoch", "epochs", "wall s", "pruned"]
    assert table[2][:6] == ["0.01", "0.8", "**0.715 ± 0.007 (2)**", "reference", "",
                            "0.705 ± 0.007"]
    # 0.08 behind in both repeats: far outside the spread, and the paired test says so
    assert table[3][2:5] == ["0.635 ± 0.007 (2)", "-0.080 [-0.080, -0.080]", "<0.001"]
    assert table[2][-4:] == ["4", "4", "10", "0"]  # best epoch, epochs, wall s (10.5), pruned
    legend = (out / "comparison.md").read_text()
    assert "paired t-test (scipy.stats.ttest_rel) over 2 pairs" in legend
    parsed = parse_tabular((out / "comparison.tex").read_text())
    assert parsed["header"] == [r"weight\_decay", r"train\_fraction", "val Dice",
                                r"$\Delta$ val Dice [95\% CI]", "p (paired t)", "test Dice",
                                "train Dice", "val loss", "best epoch", "wall s"]
    assert parsed["spec"] == "llrrrrrrrr" and len(parsed["rows"]) == 4
    assert parsed["rows"][0][2] == r"\textbf{0.715 $\pm$ 0.007 (2)}"
    assert parsed["rows"][1][3:5] == ["-0.080 [-0.080, -0.080]", r"\textless{}0.001"]


def test_pivot_cells_carry_sd_and_n_and_mark_best_and_ties(study, sqlite_url, tmp_path):
    out = tmp_path / "out"
    export.export_study(sqlite_url, study.study_name, out, {"csv", "md", "tex"})
    pivot = _markdown_ok((out / "pivot.md").read_text(), rows=2)
    assert pivot[0] == ["weight_decay \\ train_fraction", "0.4", "0.8"]
    assert pivot[1 + 1] == ["0.01", "0.635 ± 0.007 (2)", "**0.715 ± 0.007 (2)**"]
    assert pivot[3] == ["0.1", "0.507 ± 0.006 (2)", "0.576 ± 0.006 (2)"]  # no ties here
    for row in pivot[2:]:
        assert all(re.search(r"\d ± \d\.\d{3} \(\d\)", cell) for cell in row[1:])
    assert "italic: not distinguishable from the best mean by the two-sided paired t-test" \
        in (out / "pivot.md").read_text()
    parsed = parse_tabular((out / "pivot.tex").read_text())
    assert parsed["over"] == r"train\_fraction" and parsed["spec"] == "lrr"
    assert parsed["rows"][0] == ["0.01", r"0.635 $\pm$ 0.007 (2)",
                                 r"\textbf{0.715 $\pm$ 0.007 (2)}"]
    numbers = pd.read_csv(out / "pivot.csv")
    assert list(numbers.columns[:4]) == ["weight_decay", "train_fraction=0.4 mean",
                                         "train_fraction=0.4 sd", "train_fraction=0.4 n"]
    assert numbers.loc[0, "train_fraction=0.8 n"] == 2


def test_metric_picks_the_pivot_value(study, sqlite_url, tmp_path):
    out = tmp_path / "out"
    export.export_study(sqlite_url, study.study_name, out, {"md"}, metric="test_dice")
    text = (out / "pivot.md").read_text()
    assert "Cells: test Dice" in text and "**0.705 ± 0.007 (2)**" in text
    export.export_study(sqlite_url, study.study_name, out, {"md"}, metric="val_loss")
    pivot = _markdown_ok((out / "pivot.md").read_text(), rows=2)
    assert pivot[2][2].startswith("**")  # the lowest loss is the best
    with pytest.raises(TunerError, match="--metric: got 'f1'"):
        export.export_study(sqlite_url, study.study_name, out, {"md"}, metric="f1")


def test_curves_csv_is_tidy_and_holds_every_stored_metric(study, sqlite_url, tmp_path):
    export.export_study(sqlite_url, study.study_name, tmp_path / "out", {"csv"})
    frame = pd.read_csv(tmp_path / "out" / "curves.csv", keep_default_na=False)
    assert list(frame.columns) == ["trial", "configuration", "repeat", "epoch", "split",
                                   "metric", "value"]
    stored = {(split, metric) for split in records.CURVE_SPLITS for metric in records.METRICS}
    per_epoch = ("lr", records.WALL_SECONDS, records.CPU_SECONDS, records.DEVICE_SECONDS,
                 records.STEPS, records.LOAD)  # curves of the epoch itself: no split
    assert stored | {("", name) for name in per_epoch} == set(zip(
        frame["split"], frame["metric"], strict=True))
    trial = study.trials[0]
    rows = frame[(frame["trial"] == 0) & (frame["split"] == "val") & (frame["metric"] == "iou")]
    assert list(pd.to_numeric(rows["value"])) == pytest.approx(  # empty cells: CPU runs'
        trial.user_attrs[records.CURVES]["val_iou"])  # device seconds, so values read as text
    assert set(rows["configuration"]) == {"weight_decay=0.1, train_fraction=0.4"}


def test_export_and_report_print_no_library_warnings(study, sqlite_url, tmp_path):
    from tuner.reports import html_report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export.export_study(sqlite_url, study.study_name, tmp_path / "out", TEXT_FORMATS)
        html_report.write_report(sqlite_url, [study.study_name], tmp_path / "r.html")
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []


def test_html_plots_open_offline_and_contain_the_figures(study, sqlite_url, tmp_path):
    out = tmp_path / "out"
    export.export_study(sqlite_url, study.study_name, out, {"html"})
    assert (out / "plots" / "plotly.min.js").stat().st_size > 1_000_000
    page = (out / "plots" / "dice_by_param.html").read_text()
    assert '<script charset="utf-8" src="plotly.min.js"></script>' in page
    assert "Plotly.newPlot" in page and "Best validation Dice by weight_decay" in page
    assert not re.search(r"<script[^>]+src=\"https?:", page)
    assert "Learning curves" in (out / "plots" / "learning_curves_dice.html").read_text()


def test_galleries_of_the_best_trials_are_copied(study, sqlite_url, tmp_path):
    out = tmp_path / "out"
    export.export_study(sqlite_url, study.study_name, out, {"csv"})
    best = study.best_trial.number  # wd=0.01, tf=0.8, repeat 1
    copied = sorted(p.name for p in (out / "galleries").iterdir())
    assert copied[:3] == [f"rank1_trial{best:04d}_epoch{e:03d}.png" for e in (1, 2, 4)]
    assert len(copied) == 3 * export.TOP_GALLERIES
    original = dict(gallery.find_galleries(study, study.best_trial, sqlite_url))[4]
    assert (out / "galleries" / copied[2]).read_bytes() == original


def test_unknown_study_lists_existing_ones(study, sqlite_url, tmp_path):
    with pytest.raises(TunerError, match=f"'nope'.*studies there: {study.study_name}$"):
        export.export_study(sqlite_url, "nope", tmp_path / "out", {"csv"})
    assert not (tmp_path / "out").exists()


def test_study_without_finished_trials_is_refused(study_name, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    empty = optuna.create_study(study_name=study_name, storage=url)
    empty.ask()
    with pytest.raises(TunerError, match=r"no finished trials yet \(1 running\)"):
        export.export_study(url, study_name, tmp_path / "out", {"csv"})


def test_unwritable_output_folder_is_one_clear_error(study, sqlite_url, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(TunerError, match="output folder .*a_file: exists and is not a folder"):
        export.export_study(sqlite_url, study.study_name, blocker, {"csv"})
    with pytest.raises(TunerError, match="output folder .*a_file/sub: cannot write there"):
        export.export_study(sqlite_url, study.study_name, blocker / "sub", {"csv"})
    with pytest.raises(TunerError, match="--format: got 'csv,jpg'"):
        export.export_study(sqlite_url, study.study_name, tmp_path / "o", "csv,jpg")


def test_failure_midway_leaves_nothing_half_written(study, sqlite_url, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")

    def broken(*args, **kwargs):
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(plots, "study_figures", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        export.export_study(sqlite_url, study.study_name, out, TEXT_FORMATS)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]  # no tables, no staging folder
    with pytest.raises(RuntimeError, match="plotting failed"):  # folders it made: gone
        export.export_study(sqlite_url, study.study_name, tmp_path / "new" / "out",
                            TEXT_FORMATS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_every_study_has_its_own_folder(study, sqlite_url, tmp_path, monkeypatch):
    """Names whose slugs collide, unicode, 600 characters: one folder each, never shared;
    a plain name keeps its folder (exports made before the hash keep their place)."""
    monkeypatch.setenv("TUNER_ARTIFACTS", str(tmp_path / "artifacts"))
    url = f"sqlite:///{tmp_path / 'names.db'}"
    names = ["col_x", "col/x", "col x", "Ünïcødé 日本語 🚀", "s" * 600, "s" * 601, "a.b-c"]
    for name in names:
        optuna.copy_study(from_study_name=study.study_name, from_storage=sqlite_url,
                          to_storage=url, to_study_name=name)
    folders = {}
    for name in names:
        paths = export.export_study(url, name, None, {"csv"})
        folders[name] = paths[0].parent
        assert paths[0] == export.default_out(url, name) / "trials.csv"
    assert len(set(folders.values())) == len(names)
    assert {f.parent for f in folders.values()} == {tmp_path / "exports"}
    assert folders["col_x"].name == "col_x" and folders["a.b-c"].name == "a.b-c"
    assert re.fullmatch(r"col_x-[0-9a-f]{8}", folders["col/x"].name)
    assert re.fullmatch(r"Unic_de-[0-9a-f]{8}", folders["Ünïcødé 日本語 🚀"].name)
    assert all(len(f.name) <= export.NAME_LIMIT for f in folders.values())
    assert export.folder_name(".") != export.folder_name("..") != "study"
    from tuner.reports import html_report

    page = html_report.write_report(url, ["s" * 600],
                                    html_report.default_report_path(url, ["s" * 600]))
    assert page == folders["s" * 600] / "report.html" and page.is_file()


def test_outputs_are_checked_before_any_work(study, sqlite_url, tmp_path, monkeypatch):
    """A read-only place is one error line before the analysis, and leaves nothing."""
    import errno

    from tuner.reports import analysis

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def no_work(*args, **kwargs):
        raise AssertionError("the analysis ran before the output was checked")

    monkeypatch.setattr(export, "temp_file", read_only)
    monkeypatch.setattr(export, "analyse", no_work)
    monkeypatch.setattr(analysis, "analyse", no_work)
    with pytest.raises(TunerError, match=r"^output folder .*/ro/out: cannot write there "
                                         r"\(Read-only file system\); expected"):
        export.export_study(sqlite_url, study.study_name, tmp_path / "ro" / "out", {"csv"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(study, sqlite_url, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(TunerError, match="cannot write there .Permission denied"):
            export.export_study(sqlite_url, study.study_name, locked / "out", {"csv"})
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_failed_trials_print_their_numbers_like_every_table():
    """``tuner best --state fail``: a learning rate reads 3.4e-03, not 0.0034192116619781968."""
    from optuna.distributions import FloatDistribution
    from rich.console import Console

    from tuner.reports.unfinished import unfinished_table

    study = optuna.create_study()
    space = {"lr": FloatDistribution(1e-4, 1e-2, log=True),
             "weight_decay": FloatDistribution(0, 0.1)}
    study.add_trial(optuna.trial.create_trial(
        params={"lr": 0.0034192116619781968, "weight_decay": 0.012345678},
        distributions=space, state=optuna.trial.TrialState.FAIL,
        user_attrs={records.FAIL_REASON: "CUDA out of memory"}))
    console = Console(record=True, width=120)
    console.print(unfinished_table(study, "fail"))
    text = console.export_text()
    assert "3.4e-03" in text and "0.0123" in text and "CUDA out of memory" in text
    assert "0.00341" not in text and "0.012345678" not in text


def test_default_pngs_without_a_browser_are_a_one_line_note(study, sqlite_url, tmp_path,
                                                            monkeypatch):
    """No format asked for: the PNGs only where kaleido can draw them, else a note that
    names the cause (issue 27)."""
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    paths = export.export_study(sqlite_url, study.study_name, tmp_path / "out")
    note = tmp_path / "out" / "plots" / export.PNG_NOTE
    assert note in paths and not list((tmp_path / "out" / "plots").glob("*.png"))
    text = note.read_text()
    assert text.count("\n") == 1 and "chromium" in text and "kaleido" in text
    assert "no-such-chrome" in text  # the browser it looked for, not a generic hint


# -- issue 27 (messages): plots asked for and not drawn ----------------------------------
def test_asked_for_svg_without_a_browser_is_an_error_and_writes_nothing(study, sqlite_url,
                                                                         tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-such-chrome"))
    with pytest.raises(TunerError, match=r"^--format svg: cannot draw the svg plots: kaleido "
                       r"found no Chrome or Chromium at BROWSER_PATH=.*no-such-chrome"):
        export.export_study(sqlite_url, study.study_name, tmp_path / "out", {"csv", "svg"})
    assert not (tmp_path / "out").exists()


def test_asked_for_plots_without_kaleido_name_kaleido(study, sqlite_url, tmp_path,
                                                      monkeypatch):
    monkeypatch.setitem(sys.modules, "kaleido", None)  # import kaleido fails
    with pytest.raises(TunerError, match=r"^--format png,pdf: .*kaleido is not installed "
                       r"\(pip install"):
        export.export_study(sqlite_url, study.study_name, tmp_path / "out", "csv,png,pdf")
    assert not (tmp_path / "out").exists()
    paths = export.export_study(sqlite_url, study.study_name, tmp_path / "out")  # default
    text = (tmp_path / "out" / "plots" / export.PNG_NOTE).read_text()
    assert "kaleido is not installed" in text and "Chrome" not in text
    assert not [p for p in paths if p.suffix == ".png" and p.parent.name == "plots"]


def _browser() -> str | None:
    return Chromium.find_browser(skip_local=False)


@pytest.mark.skipif(_browser() is None, reason="no Chrome/Chromium for kaleido on this "
                    "machine (apt-get install chromium, or plotly_get_chrome)")
def test_png_export_rendered_with_the_machines_chromium(study, sqlite_url, tmp_path):
    paths = export.export_study(sqlite_url, study.study_name, tmp_path / "out", {"png"})
    pngs = [p for p in paths if p.parent.name == "plots" and p.suffix == ".png"]  # + notes
    assert {p.name for p in pngs} >= {"dice_by_param.png", "learning_curves_dice.png"}
    for path in pngs:
        picture = Image.open(io.BytesIO(path.read_bytes())).convert("RGB")
        assert picture.size == (1000, 650)
        assert len(picture.getcolors(1_000_000) or []) > 20  # drawn, not blank


@pytest.mark.skipif(_browser() is None, reason="no Chrome/Chromium for kaleido on this "
                    "machine (apt-get install chromium, or plotly_get_chrome)")
def test_svg_and_pdf_plots_beside_png(study, tmp_path):
    """``--format svg,pdf``: vector plots for print, drawn like the PNGs (one browser)."""
    assert export.parse_formats("csv,svg,pdf") == {"csv", "svg", "pdf"}
    trials = tables.trials_frame(study)
    params = ["weight_decay", "train_fraction"]
    figures, _ = plots.study_figures(study, trials, tables.comparison_frame(trials, params),
                                     tables.curves_frame(study), params, ("loss",))
    chosen = {k: figures[k] for k in ("dice_by_param", "learning_curves_loss")}
    paths = export.write_figures(chosen, tmp_path / "plots", {"svg", "pdf"})
    assert sorted(p.name for p in paths) == ["dice_by_param.pdf", "dice_by_param.svg",
                                             "learning_curves_loss.pdf",
                                             "learning_curves_loss.svg"]
    svg = (tmp_path / "plots" / "dice_by_param.svg").read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<svg") and "Best validation Dice by weight_decay" in svg
    assert "train_fraction" in svg  # the legend's title, as text
    for path in tmp_path.glob("plots/*.pdf"):
        data = path.read_bytes()
        assert data.startswith(b"%PDF") and len(data) > 5_000
    assert not list((tmp_path / "plots").glob("*.png"))


def test_export_command_prints_paths_and_exits_2_on_errors(study, sqlite_url, tmp_path,
                                                           monkeypatch):
    app = typer.Typer()
    app.command("export")(export_command)
    app.command("noop")(lambda: None)  # two commands: typer keeps the subcommand name
    runner = CliRunner()
    monkeypatch.setenv("TUNER_STORAGE", sqlite_url)
    result = runner.invoke(app, ["export", study.study_name, "--out", str(tmp_path / "o"),
                                 "--format", "csv,md"])
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "o" / "trials.csv") in result.output
    result = runner.invoke(app, ["export", "missing", "--storage", sqlite_url])
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("tuner: error: study 'missing' not found in")
    assert len(result.stderr.strip().splitlines()) == 1


def test_tables_helpers_match_the_export(study):
    trials = tables.trials_frame(study)
    comparison = tables.comparison_frame(trials, ["weight_decay", "train_fraction"])
    params = ["weight_decay", "train_fraction"]
    best = export.representative_trials(trials, comparison, params, top=1)
    worst = export.representative_trials(trials, comparison, params, top=1, worst=True)
    assert best == [study.best_trial.number]
    done = trials[trials["state"] == "COMPLETE"]
    assert worst == [int(done.loc[done["best_val_dice"].idxmin(), "number"])]


@pytest.mark.slow
def test_export_of_a_real_tiny_study(tmp_path, monkeypatch):
    """A real study run here (2 grid trials of a 4-channel UNet on 24 synthetic 32 px
    images, 2 epochs), exported: rows, tables and the galleries the objective uploaded."""
    from tests.tiny import TINY
    from tuner import StudySpec, categorical
    from tuner.workers.runner import RunOptions, prepare_study, run_worker

    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    spec = StudySpec(name="tiny", base=TINY, space=dict(lr=categorical([1e-3, 1e-2])),
                     sampler="grid", pruner="none", question="which learning rate?")
    options = RunOptions(storage=url)
    prepare_study(spec, options)
    run_worker(spec, options)
    out = tmp_path / "out"
    paths = export.export_study(url, "tiny", out, {"csv", "md", "html"})
    study = optuna.load_study(study_name="tiny", storage=url)
    frame = pd.read_csv(out / "trials.csv")
    assert list(frame["number"]) == [t.number for t in study.trials]
    assert sorted(frame["lr"]) == [1e-3, 1e-2] and set(frame["state"]) == {"COMPLETE"}
    assert list(frame["best_val_dice"]) == pytest.approx([t.value for t in study.trials])
    assert (frame["epochs_run"] == 2).all() and frame["test_dice"].notna().all()
    _markdown_ok((out / "comparison.md").read_text(), rows=2)
    assert (out / "plots" / "learning_curves_dice.html").is_file()
    galleries = sorted(p.name for p in paths if p.parent.name == "galleries")
    best = study.best_trial.number
    assert galleries[:2] == [f"rank1_trial{best:04d}_epoch001.png",
                             f"rank1_trial{best:04d}_epoch002.png"]
    picture = Image.open(out / "galleries" / galleries[1])
    assert picture.size == (3 * 128 + 4 * gallery.GAP, gallery.HEADER + 4 * (128 + 4) + 4)


def test_trials_csv_on_every_storage_kind(any_storage_url, study_name, tmp_path):
    """SQLite and the real PostgreSQL give the same export of the same trials."""
    stored = build_study(any_storage_url, study_name, tmp_path, repeats=1, galleries=False)
    export.export_study(any_storage_url, study_name, tmp_path / "out", {"csv", "md"})
    frame = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert list(frame["number"]) == [t.number for t in stored.get_trials()]
    assert list(frame["state"]) == [t.state.name for t in stored.get_trials()]
    _markdown_ok((tmp_path / "out" / "comparison.md").read_text(), rows=4)


def test_export_command_metric_and_target_options(study, sqlite_url, tmp_path):
    from tuner.cli import reports as cli_reports

    app = typer.Typer()
    app.command("export")(export_command)
    app.command("noop")(lambda: None)
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["export", study.study_name, "--storage", sqlite_url,
                                      "--out", str(out), "--format", "md",
                                      "--metric", "val_loss", "--target-dice", "0.5"])
    assert result.exit_code == 0, result.output
    assert "Cells: val loss" in (out / "pivot.md").read_text()
    assert re.search(r"\| +CPU s to Dice 0.500 +\|", (out / "cost.md").read_text())
    result = CliRunner().invoke(app, ["export", study.study_name, "--storage", sqlite_url,
                                      "--metric", "dice"])
    assert result.exit_code == 2 and "--metric: got 'dice'" in result.stderr
    help_text = str(cli_reports.MetricOption.__metadata__[0].help)
    assert all(name in help_text for name in tables.METRICS)


@pytest.mark.skipif(PDFLATEX is None, reason="no TeX engine (pdflatex) on this machine: "
                    "the exported tables are parsed as tabulars instead")
def test_exported_latex_compiles_and_fits_the_page(study, sqlite_url, tmp_path):
    out = tmp_path / "out"
    export.export_study(sqlite_url, study.study_name, out, {"tex"})
    fragments = [path.read_text() for path in sorted(out.glob("*.tex"))]
    assert len(fragments) == 3  # comparison, cost, pivot
    compile_fragments(tmp_path, fragments)
