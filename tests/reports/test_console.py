"""The terminal tables: configurations ranked by the winner rule (mean over repeats and
folds, the winner and its ties marked, as in the report), never by one trial's value; 80
columns hold them, headers whole, a legend spells them out."""

from __future__ import annotations

import io

import optuna
import pytest
from rich.console import Console

from tuner import records
from tuner.reports.console import best_trials_table, standing_row, standings, studies_table
from tuner.results import formatting

optuna.logging.set_verbosity(optuna.logging.WARNING)

WIDE = {  # the widest names and values the bundled studies search
    "arch": optuna.distributions.CategoricalDistribution(["UnetPlusPlus", "unet"]),
    "encoder": optuna.distributions.CategoricalDistribution(["mobilenet_v2", "resnet18"]),
    "freeze_encoder": optuna.distributions.CategoricalDistribution([False, True]),
    "weight_decay": optuna.distributions.CategoricalDistribution([0.1, 0.001]),
    "train_fraction": optuna.distributions.CategoricalDistribution([0.2, 0.8]),
}
DECAY = {"weight_decay": optuna.distributions.CategoricalDistribution([0.1, 0.01, 0.001])}


def _render(table) -> list[str]:
    buffer = io.StringIO()
    Console(file=buffer, width=80, soft_wrap=True).print(table)
    return buffer.getvalue().splitlines()


def _tell(study: optuna.Study, params: dict, repeat: int, value: float, **attrs) -> None:
    study.enqueue_trial(params)
    trial = study.ask(DECAY)
    trial.set_user_attr(records.REPEAT, repeat)
    trial.set_user_attr(records.BEST_EPOCH, attrs.get("epoch", 4))
    trial.set_user_attr(records.EPOCHS_RUN, 5)
    trial.set_user_attr(records.SECONDS, 10.0)
    study.tell(trial, value)


@pytest.fixture
def lucky_study(sqlite_url, study_name) -> optuna.Study:
    """wd 0.01 is steady at 0.80; wd 0.1 has the single best trial (0.85, one lucky seed)
    but a worse mean; wd 0.001 is far behind. Three repeats each, paired by repeat."""
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    for repeat in range(3):
        _tell(study, {"weight_decay": 0.1}, repeat, (0.85, 0.70, 0.72)[repeat])
        _tell(study, {"weight_decay": 0.01}, repeat, (0.80, 0.81, 0.79)[repeat], epoch=3)
        _tell(study, {"weight_decay": 0.001}, repeat, (0.60, 0.61, 0.59)[repeat])
    return study


def test_configurations_rank_by_their_mean_not_by_the_luckiest_trial(lucky_study):
    found = standings(lucky_study)
    assert [s.configuration.values for s in found] == [
        {"weight_decay": 0.01}, {"weight_decay": 0.1}, {"weight_decay": 0.001}]
    assert [s.mark for s in found] == ["best", "tie", ""]  # 0.1: the paired test can't tell
    assert found[0].configuration.mean == pytest.approx(0.80)
    assert found[1].top_trial == 0  # the lucky trial is still there, as 0.1's best run
    lines = _render(best_trials_table(lucky_study))
    text = "\n".join(lines)
    assert "best configurations of" in text and max(map(len, lines)) <= 80
    rows = [line.split() for line in lines if line.split()[:1] in (["1"], ["2"], ["3"])]
    assert rows[0][:5] == ["1", "best", "0.01", "0.800±0.010", "3"]
    assert rows[1][:5] == ["2", "tie", "0.1", "0.757±0.081", "3"]
    assert rows[0][-1] == "4" and rows[0][-4] == "3"  # its best run, trial 4; best epoch 3
    assert "mark best: the winner by the winner rule" in " ".join(lines)


def test_the_winner_is_shown_even_beyond_top(sqlite_url, study_name):
    """A cheaper configuration within the noise wins though its mean ranks lower."""
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    for repeat in range(3):
        for wd, value, work in ((0.1, 0.801, 300.0), (0.01, 0.800, 200.0), (0.001, 0.799, 1.0)):
            study.enqueue_trial({"weight_decay": wd})
            trial = study.ask(DECAY)
            trial.set_user_attr(records.REPEAT, repeat)
            trial.set_user_attr(records.WORK, work)
            study.tell(trial, value + (0.01, -0.01, 0.0)[repeat])
    found = standings(study, top=1)
    assert [(s.place, s.mark, s.configuration.values["weight_decay"]) for s in found] == [
        (1, "tie", 0.1), (3, "best", 0.001)]


def test_rows_for_json_and_csv_carry_the_mean_its_n_and_the_runs(lucky_study):
    row = standing_row(standings(lucky_study)[0])
    assert row["place"] == 1 and row["mark"] == "best" and row["weight_decay"] == 0.01
    assert row["val_dice"] == pytest.approx(0.80) and row["n"] == 3
    assert row["val_dice_sd"] == pytest.approx(0.01)
    assert row["best_epoch"] == 3 and row["trials"] == [1, 4, 7] and row["top_trial"] == 4
    assert row["test_dice"] is None


def test_the_table_shows_cpu_seconds_and_says_where_they_were_not_recorded(
        lucky_study, sqlite_url, study_name):
    caption = " ".join(_render(best_trials_table(lucky_study)))
    assert "cpu: not recorded" in caption  # trials stored before CPU seconds were
    row = standing_row(standings(lucky_study)[0])
    assert row["cpu_seconds"] is None and row["wall_seconds"] == 10.0 and row["load"] is None
    study = optuna.create_study(study_name=f"{study_name}-cpu", storage=sqlite_url,
                                direction="maximize")
    for repeat, cpu in enumerate((30.0, 50.0)):
        study.enqueue_trial({"weight_decay": 0.01})
        trial = study.ask(DECAY)
        trial.set_user_attr(records.REPEAT, repeat)
        trial.set_user_attr(records.SECONDS, 900.0)  # wall: a loaded machine
        trial.set_user_attr(records.BEST_EPOCH, 2)
        trial.set_user_attr(records.EPOCHS_RUN, 2)
        trial.set_user_attr(records.CURVES, {"val_dice": [0.7, 0.8],
                                             records.CPU_SECONDS: [cpu / 2] * 2,
                                             records.STEPS: [4, 4], records.LOAD: [9.0, 11.0]})
        study.tell(trial, 0.8)
    lines = _render(best_trials_table(study))
    header = next(line for line in lines if " val " in f" {line} ").split()
    cells = next(line for line in lines if line.split()[:1] == ["1"]).split()
    assert cells[header.index("cpu")] == "40" and "900" not in " ".join(lines)
    assert "cpu: mean process CPU seconds of a run" in " ".join(lines)
    row = standing_row(standings(study)[0])
    assert (row["cpu_seconds"], row["steps"], row["wall_seconds"], row["load"]) == (
        40.0, 8.0, 900.0, 10.0)


def test_studies_show_the_winners_mean_and_runs(lucky_study, sqlite_url):
    storage = optuna.storages.RDBStorage(sqlite_url)
    text = "\n".join(_render(studies_table(storage)))
    assert "0.8000 (3)" in text and "0.8500" not in text  # not the luckiest trial


def test_a_study_without_completed_runs_says_so(sqlite_url, study_name):
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    trial = study.ask(DECAY)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    assert standings(study) == []
    assert "No completed run yet" in "\n".join(_render(best_trials_table(study)))


def test_wide_study_fits_80_columns_with_whole_headers(sqlite_url, study_name):
    """The widest values the bundled studies search, each configuration with two repeats
    (``mean ± sd`` cells): the table leaves out columns rather than fold a number."""
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    configurations = [dict(arch="UnetPlusPlus", encoder="mobilenet_v2", freeze_encoder=False,
                           weight_decay=0.001, train_fraction=0.8),
                      dict(arch="unet", encoder="resnet18", freeze_encoder=True,
                           weight_decay=0.1, train_fraction=0.2)]
    for number in range(4):
        study.enqueue_trial(configurations[number // 2])
        trial = study.ask(WIDE)
        trial.set_user_attr(records.REPEAT, number % 2)
        trial.set_user_attr(records.TEST, {"dice": 0.5})
        trial.set_user_attr(records.BEST_EPOCH, 12)
        trial.set_user_attr(records.EPOCHS_RUN, 15)
        trial.set_user_attr(records.SECONDS, 1234.56)
        study.tell(trial, 0.8 + number / 100)
    lines = _render(best_trials_table(study))
    assert max(map(len, lines)) <= 80
    heads = formatting.short(WIDE)
    header = next(line for line in lines if " val " in f" {line} ")
    shown = header.split()
    assert shown[:2 + len(heads)] == ["#", "mark", *heads.values()]
    assert shown[-1] == "trial" and {"val", "n"} <= set(shown)
    text = "\n".join(lines)
    assert "…" not in text and "0.825±0.007" in text and "mobilenet_v2" in text
    legend = " ".join(line for line in lines if ": " in line)
    for name, short in heads.items():
        if short != name:
            assert f"{short}: {name}" in legend
    assert ("ep: mean epochs run" in legend) == ("ep" in shown)  # no legend of a left column


def test_short_names_are_unique_and_readable():
    names = formatting.short(["weight_decay", "train_fraction", "lr", "optimizer",
                              "tversky_alpha", "tversky_beta", "switch_threshold"])
    assert names["weight_decay"] == "wd" and names["lr"] == "lr" and names["optimizer"] == "opt"
    assert len(set(names.values())) == len(names)
    assert formatting.legend({"lr": "lr", "weight_decay": "wd"}) == "wd: weight_decay"
