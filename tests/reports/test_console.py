"""The end-of-run terminal table: 80 columns hold it, headers whole, a legend spells them."""

from __future__ import annotations

import io

import optuna
from rich.console import Console

from tuner import records
from tuner.reports.console import best_trials_table
from tuner.results import formatting

optuna.logging.set_verbosity(optuna.logging.WARNING)

WIDE = {  # the widest names and values the bundled studies search
    "arch": optuna.distributions.CategoricalDistribution(["UnetPlusPlus", "unet"]),
    "encoder": optuna.distributions.CategoricalDistribution(["mobilenet_v2", "resnet18"]),
    "freeze_encoder": optuna.distributions.CategoricalDistribution([False, True]),
    "weight_decay": optuna.distributions.CategoricalDistribution([0.1, 0.001]),
    "train_fraction": optuna.distributions.CategoricalDistribution([0.2, 0.8]),
}


def _render(study: optuna.Study) -> list[str]:
    buffer = io.StringIO()
    Console(file=buffer, width=80, soft_wrap=True).print(best_trials_table(study))
    return buffer.getvalue().splitlines()


def test_wide_study_fits_80_columns_with_whole_headers(sqlite_url, study_name):
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    for number in range(4):
        trial = study.ask(WIDE)
        trial.set_user_attr(records.REPEAT, number % 2)
        trial.set_user_attr(records.TEST, {"dice": 0.5})
        trial.set_user_attr(records.BEST_EPOCH, 12)
        trial.set_user_attr(records.EPOCHS_RUN, 15)
        trial.set_user_attr(records.SECONDS, 1234.56)
        study.tell(trial, 0.8 + number / 100)
    lines = _render(study)
    assert max(map(len, lines)) <= 80
    heads = formatting.short(WIDE)
    header = next(line for line in lines if " val " in f" {line} ")
    assert header.split() == ["#", *heads.values(), "rep", "val", "test", "best", "ep", "s"]
    text = "\n".join(lines)
    assert "…" not in text and "1235" in text and "0.830" in text
    legend = " ".join(line for line in lines if ": " in line)
    for name, short in heads.items():
        if short != name:
            assert f"{short}: {name}" in legend


def test_short_names_are_unique_and_readable():
    names = formatting.short(["weight_decay", "train_fraction", "lr", "optimizer",
                              "tversky_alpha", "tversky_beta", "switch_threshold"])
    assert names["weight_decay"] == "wd" and names["lr"] == "lr" and names["optimizer"] == "opt"
    assert len(set(names.values())) == len(names)
    assert formatting.legend({"lr": "lr", "weight_decay": "wd"}) == "wd: weight_decay"
