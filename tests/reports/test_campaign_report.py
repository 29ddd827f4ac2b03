"""tuner.reports.campaign_report: the lineage's "why" writes numbers as the tables do."""

from __future__ import annotations

from tuner.reports.campaign_report import lineage_html, readable_rule

RULE = ("best mean: optimizer=adam, lr_adam=9.062645026053133e-05, dropout=0.30000000000000004, "
        "base_channels=16 (0.873 ± 0.004, n=3); every configuration ran once, so the repeat "
        "noise is unknown")


def test_a_stored_rule_reads_as_the_tables_write_numbers():
    text = readable_rule(RULE)
    assert "lr_adam=9.1e-05" in text and "dropout=0.3," in text
    assert "base_channels=16" in text and "optimizer=adam" in text and "n=3)" in text
    assert "9.062645026053133e-05" not in text and "0.30000000000000004" not in text
    assert readable_rule("weight_decay=1e-4 (0.5, n=1)") == "weight_decay=0.0001 (0.5, n=1)"


def test_the_lineage_why_column_uses_the_readable_rule():
    winner = {"fields": {"lr": 9.062645026053133e-05}, "mean": 0.873, "sd": 0.004, "n": 3,
              "trials": [4, 7, 9], "rule": "best mean: lr=9.062645026053133e-05 (0.873, n=3)"}
    page = lineage_html("c", {"lr": winner}, None)
    assert "lr=9.1e-05" in page and "9.062645026053133e-05" not in page


def test_the_lineage_says_what_each_stage_cost():
    import optuna

    from tuner import records
    from tuner.reports.campaign_report import stage_compute

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    for cpu in ([1.0, 2.0], [3.0, 4.0, 5.0], None):
        trial = study.ask()
        curves = {"val_dice": [0.5] * (len(cpu) if cpu else 1)}
        if cpu:
            curves[records.CPU_SECONDS] = cpu
        trial.set_user_attr(records.CURVES, curves)
        study.tell(trial, 0.5)
    study.tell(study.ask(), state=optuna.trial.TrialState.PRUNED)  # a duplicate: no epoch
    older = stage_compute(study)
    assert older == {"trials": 3, "epochs": 6, "cpu_seconds": None}
    newer = {"trials": 2, "epochs": 5, "cpu_seconds": 15.0}
    winner = {"fields": {"lr": 1e-3}, "mean": 0.8, "sd": 0.0, "n": 1, "trials": [0],
              "rule": "best mean"}
    page = lineage_html("c", {"lr": winner, "loss": winner}, None,
                        {"lr": newer, "loss": older})
    assert "2 trials, 5 epochs, 15 CPU s" in page and "CPU s not recorded" in page
    assert "Compute in all: 5 trials, 11 epochs, CPU s not recorded" in page
    page = lineage_html("c", {"lr": winner}, None, {"lr": newer})
    assert "Compute in all: 2 trials, 5 epochs, 15 CPU s" in page
