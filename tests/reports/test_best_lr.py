"""A learning rate searched per optimizer (``lr_adam``, ``lr_sgd``): one ``lr`` column, the
optimizer x loss -> best lr table, its files, the scatter over lr and the terminal table."""

from __future__ import annotations

import io
import re

import optuna
import pytest
from rich.console import Console

from tests.reports.test_tables import fake_curves
from tuner import records
from tuner.config import TrainConfig
from tuner.reports import display, export, plots, tables
from tuner.reports.console import best_trials_table

optuna.logging.set_verbosity(optuna.logging.WARNING)

RATES = {"adam": (1e-4, 1e-3), "sgd": (1e-2, 1e-1)}
LOSSES = ("bce", "dice")


def value(optimizer: str, lr: float, loss: str) -> float:
    """adam likes 1e-3 with bce and 1e-4 with dice; sgd 1e-1 with bce, 1e-2 with dice."""
    high = lr == max(RATES[optimizer])
    return 0.6 + (0.1 if high == (loss == "bce") else 0.0) + (0.05 if optimizer == "adam" else 0)


def build_lr_study(url: str, name: str) -> optuna.Study:
    """2 optimizers x 2 rates x 2 losses, one completed trial each, as lr_by_optimizer
    records them: parameter ``lr_<optimizer>``, config field ``lr``."""
    study = optuna.create_study(study_name=name, storage=url, direction="maximize")
    for optimizer, rates in RATES.items():
        for lr in rates:
            for loss in LOSSES:
                space = {"optimizer": optuna.distributions.CategoricalDistribution(list(RATES)),
                         f"lr_{optimizer}": optuna.distributions.FloatDistribution(
                             rates[0] / 10, rates[1] * 10, log=True),
                         "loss": optuna.distributions.CategoricalDistribution(LOSSES)}
                study.enqueue_trial({"optimizer": optimizer, f"lr_{optimizer}": lr,
                                     "loss": loss})
                trial = study.ask(space)
                peak = value(optimizer, lr, loss)
                curves = fake_curves(0.01, 0.8, 0, 4)
                curves["val_dice"] = [peak * e / 4 for e in range(1, 5)]
                config = TrainConfig(optimizer=optimizer, lr=lr, loss=loss).to_dict()
                for key, stored in {records.CONFIG: config, records.CURVES: curves,
                                    records.BEST_EPOCH: 4, records.EPOCHS_RUN: 4,
                                    records.SECONDS: 10.0, records.REPEAT: 0}.items():
                    trial.set_user_attr(key, stored)
                study.tell(trial, peak)
    return study


@pytest.fixture(scope="module")
def lr_url(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("best_lr")
    url = f"sqlite:///{folder / 'tuner.db'}"
    build_lr_study(url, "lr_per_optimizer")
    return url


@pytest.fixture
def lr_study(lr_url) -> optuna.Study:
    return optuna.load_study(study_name="lr_per_optimizer", storage=lr_url)


def test_per_optimizer_rates_fold_into_one_lr_column(lr_study):
    assert tables.param_columns(lr_study) == {"optimizer": "optimizer", "lr_adam": "lr",
                                              "loss": "loss", "lr_sgd": "lr"}
    assert tables.continuous_columns(lr_study) == {"lr"}
    frame = tables.trials_frame(lr_study)
    assert not [c for c in frame.columns if c.startswith("lr_")]
    for trial, lr in zip(lr_study.trials, frame["lr"], strict=True):
        assert lr == trial.user_attrs[records.CONFIG]["lr"]


def test_a_suffix_that_is_not_the_config_value_is_not_folded(sqlite_url, study_name):
    study = optuna.create_study(study_name=study_name, storage=sqlite_url)
    trial = study.ask({"lr_scale": optuna.distributions.FloatDistribution(0.1, 1.0)})
    trial.set_user_attr(records.CONFIG, TrainConfig(lr=0.5).to_dict())
    study.tell(trial, 0.5)
    assert tables.param_columns(study) == {"lr_scale": "lr_scale"}


def test_best_lr_per_optimizer_and_loss(lr_study):
    params = tables.searched_columns(lr_study)
    comparison = tables.comparison_frame(tables.trials_frame(lr_study), params)
    best = tables.best_value_frame(comparison, params, "lr")
    chosen = {(row.optimizer, row.loss): row.lr for row in best.itertuples()}
    assert chosen == {("adam", "bce"): 1e-3, ("adam", "dice"): 1e-4,
                      ("sgd", "bce"): 1e-1, ("sgd", "dice"): 1e-2}
    shown = display.best_value_shown(best, params, "lr")
    assert list(shown.cells.columns) == ["optimizer \\ loss", "bce", "dice"]
    assert shown.cells.iloc[0].tolist() == ["adam", "1.0e-03 (0.750)", "1.0e-04 (0.750)"]
    assert shown.cells.iloc[1].tolist() == ["sgd", "1.0e-01 (0.700)", "1.0e-02 (0.700)"]


def test_no_best_lr_table_when_there_is_nothing_to_choose():
    import pandas as pd

    comparison = pd.DataFrame({"lr": [1e-3, 1e-4], "loss": ["bce", "dice"], "n": [1, 1],
                               "best_val_dice_mean": [0.7, 0.6]})
    assert tables.best_value_frame(comparison, ["lr", "loss"]) is None  # one lr per loss
    assert tables.best_value_frame(comparison, ["loss"]) is None


def test_export_writes_the_best_lr_table_and_readable_rates(lr_url, tmp_path):
    out = tmp_path / "out"
    export.export_study(lr_url, "lr_per_optimizer", out, {"csv", "md", "tex"})
    text = (out / "best_lr.md").read_text()
    assert "| adam" in text and "1.0e-03 (0.750)" in text
    comparison = (out / "comparison.md").read_text()
    header = comparison.splitlines()[0]
    assert [c.strip() for c in header.strip("|").split("|")][:3] == ["optimizer", "lr", "loss"]
    assert not re.search(r"\d\.\d{5,}", comparison)  # no 0.004734989304499477
    assert "1.0e-03" in comparison
    assert (out / "best_lr.tex").read_text().count(r"\multicolumn{2}{c}{loss}") == 1


def test_dice_by_param_puts_a_searched_rate_on_a_log_axis(lr_study):
    trials = tables.trials_frame(lr_study)
    params = tables.searched_columns(lr_study)
    comparison = tables.comparison_frame(trials, params)
    fig = plots.dice_by_param(comparison, trials, params, tables.continuous_columns(lr_study))
    assert {t.type for t in fig.data} == {"scatter"}
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis.title.text == "lr"
    assert sorted(t.name for t in fig.data) == ["adam, bce", "adam, dice", "sgd, bce",
                                                "sgd, dice"]


def test_terminal_table_folds_lr_and_fits_80_columns(lr_study):
    buffer = io.StringIO()
    Console(file=buffer, width=80, soft_wrap=True).print(best_trials_table(lr_study))
    lines = buffer.getvalue().splitlines()
    assert max(map(len, lines)) <= 80
    header = next(line for line in lines if " val " in f" {line} ")
    assert header.split() == ["#", "mark", "opt", "lr", "loss", "val", "n", "best", "ep", "cpu",
                              "trial"]
    assert "1.0e-03" in buffer.getvalue() and "…" not in buffer.getvalue()
    assert any(line.startswith("opt: optimizer; #: place by mean validation Dice")
               for line in lines)


def test_report_shows_the_best_lr_table(lr_url, tmp_path):
    from tuner.reports import html_report

    page = html_report.write_report(lr_url, ["lr_per_optimizer"],
                                    tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h3>Best lr per optimizer x loss</h3>" in page
    assert "<td>1.0e-03 (0.750)</td>" in page
