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
