"""A conditional space (parameters that only some trials have): every table and plot."""

from __future__ import annotations

import optuna
import pandas as pd

from tests.reports.test_tables import fake_curves
from tuner import records
from tuner.config import TrainConfig
from tuner.reports import export, tables

optuna.logging.set_verbosity(optuna.logging.WARNING)
Cat = optuna.distributions.CategoricalDistribution
CHOICES = {"base_channels": Cat([8, 16]), "encoder": Cat(["resnet18", "mobilenet_v2"])}


def test_export_of_a_conditional_space(sqlite_url, study_name, tmp_path):
    """Like studies/encoder.py: the classic unet searches base_channels, smp Unet an
    encoder; two repeats each, so every table and figure has something to draw."""
    study = optuna.create_study(study_name=study_name, storage=sqlite_url,
                                direction="maximize")
    branches = [("unet", {"base_channels": 8}), ("unet", {"base_channels": 16}),
                ("Unet", {"encoder": "resnet18"})]
    for repeat in (0, 1):
        for i, (arch, extra) in enumerate(branches):
            space = {"arch": Cat(["unet", "Unet"]), **{k: CHOICES[k] for k in extra}}
            study.enqueue_trial({"arch": arch, **extra})
            trial = study.ask(space)
            curves = fake_curves(0.01, 0.4 + 0.2 * i, repeat, 4)
            config = TrainConfig(arch=arch, **extra, seed=repeat).to_dict()
            for key, value in {records.CONFIG: config, records.CURVES: curves,
                               records.BEST_EPOCH: 4, records.EPOCHS_RUN: 4,
                               records.SECONDS: 5.0, records.REPEAT: repeat}.items():
                trial.set_user_attr(key, value)
            study.tell(trial, max(curves["val_dice"]))
    out = tmp_path / "out"
    paths = export.export_study(sqlite_url, study_name, out, {"csv", "md", "tex", "html"})
    assert (out / "plots" / "learning_curves_dice.html") in paths
    table = pd.read_csv(out / "comparison.csv")
    assert len(table) == 3 and list(table["n"]) == [2, 2, 2]
    assert table.loc[0, "encoder"] == "resnet18" and pd.isna(table.loc[0, "base_channels"])
    curves = pd.read_csv(out / "curves.csv")
    assert set(curves["configuration"]) == {"arch=unet, base_channels=8",
                                            "arch=unet, base_channels=16",
                                            "arch=Unet, encoder=resnet18"}
    assert tables.searched_columns(study) == ["arch", "base_channels", "encoder"]
