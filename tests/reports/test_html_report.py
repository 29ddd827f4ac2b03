"""``tuner report``: one offline HTML page; the sentences about noise, checked by hand."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tests.reports.test_tables import build_study
from tuner.cli.reports import report_command
from tuner.errors import TunerError
from tuner.reports import html_report as report

PARAMS = ["weight_decay", "train_fraction"]


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Path, str]:
    """Two studies with galleries in one storage, built once for the module."""
    folder = tmp_path_factory.mktemp("report")
    url = f"sqlite:///{folder / 'tuner.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNER_ARTIFACTS", str(folder / "artifacts"))
        build_study(url, "first", folder)
        build_study(url, "second", folder, repeats=1)
    return folder, url


@pytest.fixture
def url(shared, monkeypatch) -> str:
    monkeypatch.setenv("TUNER_ARTIFACTS", str(shared[0] / "artifacts"))
    return shared[1]


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_report_is_one_offline_page_with_tables_plots_and_galleries(url, tmp_path):
    path = report.write_report(url, ["first"], tmp_path / "r" / "report.html")
    page = path.read_text(encoding="utf-8")
    parser = Tags()
    parser.feed(page)
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert scripts and all("src" not in attrs for attrs in scripts)
    assert not [tag for tag, _ in parser.tags if tag == "link"]
    images = [attrs["src"] for tag, attrs in parser.tags if tag == "img"]
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert len(images) == 2 * 3  # best and worst trial, epochs 1, 2, 4
    # 4 as exported (4 configurations: no importances, and the note says why) + loss and
    # Dice curves
    assert page.count("Plotly.newPlot") == 6
    assert "param_importances left out: 4 completed configurations, fewer than 5" in page
    assert page.count("* plotly.js v") == 1  # the library itself, inlined
    assert "which weight decay at which train fraction?" in page
    # one trial is left running: the conclusion says so first, then names the best
    assert ("<h3>Conclusion</h3><ul><li>Partly run: 4 of 4 configurations have a completed "
            "run (1 trial still waiting or running; 3 of the completed with fewer than 3 "
            "finished runs); the best of those is weight_decay=0.01, train_fraction=0.8") in page
    assert '<td class="best">0.715 ± 0.007 (2)</td>' in page  # comparison and pivot
    assert page.count('<td class="best">') == 2
    assert ("<li>Two-sided paired t-test (scipy.stats.ttest_rel) against the best mean "
            "(weight_decay=0.01, train_fraction=0.8), over 2 pairs: every other configuration "
            "is distinguishable from it (p &lt; 0.05); the closest: weight_decay=0.01, "
            "train_fraction=0.4 (Δ -0.080 [-0.080, -0.080] by t, p &lt; 0.001).</li>") in page
    assert "<li>Δ vs best: the mean over paired runs" in page  # the method, and why
    assert "below 10 pairs (t): the two-sided paired t-test" in page
    assert "sd between repeats): 0.010.</li>" in page  # the winner rule's noise
    assert "<h3>Cost</h3>" in page and "s to Dice 0.67" in page  # 95 % of 0.715
    assert not list((tmp_path / "r").glob(".*partial*"))


def test_report_of_several_studies_inlines_plotly_once(url, tmp_path):
    path = report.write_report(url, ["first", "second"], tmp_path / "both.html")
    page = path.read_text(encoding="utf-8")
    assert page.count("<section") == 2
    assert page.count("* plotly.js v") == 1
    assert page.count("Plotly.newPlot") == 6 + 6
    assert page.count("Study first") == 1 and page.count("Study second") == 1
    assert "Each configuration ran once" in page  # the second study has no repeats
    assert "No paired test against the best: no configuration has 2 or more runs" in page


def test_report_errors_are_one_line(url, tmp_path):
    with pytest.raises(TunerError, match="'nope'.*studies there: first, second$"):
        report.write_report(url, ["first", "nope"], tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(TunerError, match="report file .*file/x.html: cannot write there "
                                         r"\(.*file is a file, not a folder\)"):
        report.write_report(url, ["second"], blocker / "x.html")
    with pytest.raises(TunerError, match="report file .*: is a folder; expected a file name"):
        report.write_report(url, ["second"], tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_failed_write_keeps_the_old_page_and_leaves_no_temporary_file(url, tmp_path,
                                                                         monkeypatch):
    import errno
    import os

    out = tmp_path / "r.html"
    out.write_text("the old page")

    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(TunerError, match=r"report file .*r.html: cannot write there \(No "
                                         "space left on device"):
        report.write_report(url, ["second"], out)
    assert out.read_text() == "the old page" and [p.name for p in tmp_path.iterdir()] == [
        "r.html"]


def test_a_read_only_place_is_refused_before_any_work(url, tmp_path, monkeypatch):
    import errno

    from tuner.reports import export

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    def no_work(*args, **kwargs):
        raise AssertionError("the page was drawn before its file was checked")

    monkeypatch.setattr(export, "temp_file", read_only)
    monkeypatch.setattr(report, "analyse", no_work)
    with pytest.raises(TunerError, match=r"report file .*/ro/r.html: cannot write there "
                                         r"\(Read-only file system\)"):
        report.write_report(url, ["first"], tmp_path / "ro" / "r.html")
    assert list(tmp_path.iterdir()) == []


def _ranking(*scores: list[float]):
    """The winner rule's ranking of configurations lr=0.1, 0.01, ... with these runs."""
    from tuner.results.winner import Configuration, rank

    return rank([Configuration({"lr": lr}, list(runs), list(range(len(runs))))
                 for lr, runs in zip([0.1, 0.01, 0.001, 0.0001], scores, strict=False)])


def test_noise_sentences_compare_differences_with_the_repeat_noise():
    ranking = _ranking([0.78, 0.80, 0.82], [0.77, 0.79, 0.81], [0.68, 0.70, 0.72],
                       [0.67, 0.69, 0.71])
    sentences = report.noise_sentences(ranking)
    assert sentences[0].startswith("Repeat noise of best validation Dice") \
        and sentences[0].endswith(": 0.024.")  # sd 0.02, scaled to sigma for n = 3
    assert sentences[1] == ("Within the repeat noise of the best mean (the winner rule's "
                            "ties): lr=1.0e-02 (-0.010).")


def test_noise_sentences_clear_winner_and_no_repeats():
    sentences = report.noise_sentences(_ranking([0.79, 0.81], [0.70]))
    assert "ahead of the runner-up (lr=1.0e-02) by 0.100, more than the noise" in sentences[1]
    once = report.noise_sentences(_ranking([0.8], [0.7]))
    assert once[0].startswith("Each configuration ran once")
    assert report.noise_sentences(_ranking([0.7, 0.9]))[0].startswith("Only one configuration")


def test_best_in_words():
    comparison = pd.DataFrame({"lr": [0.1, 0.01], "best_val_dice_mark": ["best", ""],
                               "best_epoch_mean": [5.0, 4.0]})
    ranking = _ranking([0.8023, 0.8123, 0.8223], [0.7, 0.7, 0.7])
    assert report.best_in_words(ranking, comparison) == (
        "Best configuration: lr=1.0e-01, with best validation Dice 0.812 ± 0.010 (mean ± sd "
        "over 3 repeats), reached at epoch 5 on average.")
    assert "(one run)" in report.best_in_words(_ranking([0.8], [0.7]), comparison)
    assert report.best_in_words(None, comparison).startswith("No configuration completed")


def test_report_command_default_path_and_exit_code(url, shared, tmp_path, monkeypatch):
    app = typer.Typer()
    app.command("report")(report_command)
    app.command("noop")(lambda: None)
    runner = CliRunner()
    result = runner.invoke(app, ["report", "first", "second", "--storage", url])
    assert result.exit_code == 0, result.output
    expected = shared[0] / "exports" / "report_first+second.html"
    assert result.output.strip() == str(expected) and expected.is_file()
    monkeypatch.setenv("TUNER_STORAGE", url)
    result = runner.invoke(app, ["report", "missing", "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 2 and result.stderr.startswith("tuner: error: study 'missing'")


def test_default_report_path_of_one_study(url, shared):
    assert report.default_report_path(url, ["a_b"]) == (
        shared[0] / "exports" / "a_b" / "report.html")
    assert re.fullmatch(r"a_b-[0-9a-f]{8}", report.default_report_path(url, ["a b"]).parent.name)
    assert report.default_report_path(url, ["a b"]) != report.default_report_path(url, ["a/b"])


def test_default_report_path_of_several_studies_is_one_short_name_each(url, shared):
    exports = shared[0] / "exports"
    assert report.default_report_path(url, ["a", "b_c"]) == exports / "report_a+b_c.html"
    assert report.default_report_path(url, ["a_b", "c"]) != report.default_report_path(
        url, ["a/b", "c"])
    long = [report.default_report_path(url, ["x" * 600, f"y{k}"]) for k in range(2)]
    assert long[0] != long[1] and all(len(p.name) <= 100 for p in long)
    assert long[0].parent == exports and long[0].name.startswith("report_xxx")


def test_paired_sentences_name_the_test_the_ties_and_a_costly_cheaper_winner():
    from tuner.results.winner import Configuration, rank

    best = Configuration({"lr": 0.1}, [0.80, 0.82, 0.81], [0, 1, 2], [200.0] * 3, [0, 1, 2])
    cheaper = Configuration({"lr": 0.01}, [0.795, 0.815, 0.805], [3, 4, 5], [100.0] * 3,
                            [0, 1, 2])  # 0.005 behind in every repeat: the test sees it
    noisy = Configuration({"lr": 0.001}, [0.79, 0.83, 0.80], [6, 7, 8], [300.0] * 3, [0, 1, 2])
    once = Configuration({"lr": 0.0001}, [0.70], [9], [300.0], [0])
    ranking = rank([best, cheaper, noisy, once])
    assert ranking.winner is cheaper
    sentences = report.paired_sentences(ranking)
    assert sentences[0].startswith(
        "Two-sided paired t-test (scipy.stats.ttest_rel) against the best mean (lr=1.0e-01), "
        "over 3 pairs: not distinguishable from it (p >= 0.05): lr=1.0e-03 (Δ -0.003 [")
    assert "by t, p 0." in sentences[0]  # each interval names the procedure that gave it
    assert sentences[1].startswith("Δ vs best: the mean over paired runs")
    assert "excludes 0 exactly when p < 0.05; below 10 pairs (t)" in sentences[1]
    assert "(bootstrap)" not in sentences[1]  # no configuration had 10 pairs
    assert sentences[2] == ("Too few pairs for the test: lr=1.0e-04 (Δ -0.100, 1 pair: the "
                            "test needs 2 or more).")
    assert sentences[3].startswith("The winner is a cheaper configuration that the paired "
                                   "test tells from the best mean (lr=1.0e-02 (Δ -0.005 "
                                   "[-0.005, -0.005] by t, p < 0.001)")
