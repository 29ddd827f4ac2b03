"""Issue 27, item 7: what the commands say besides errors. Nothing of Optuna's log on stderr
unless ``tuner --verbose``; a campaign's lineage shows the budget a stage ran with; a stop
asked for during a campaign is answered at once and obeyed within seconds, wherever the
campaign is (here: writing its final test scores, which used to finish and exit 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.reports.test_tables import build_study
from tests.tiny import TINY_SETS
from tuner import interrupt
from tuner.cli import app

ROOT = Path(__file__).resolve().parents[2]
OPTUNA_INFO = "[I "  # how Optuna's INFO lines start: "[I 2026-... ] A new study created"


def _tuner(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tuner.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.slow
def test_no_optuna_log_on_stderr_unless_verbose(tmp_path):
    """``tuner export`` draws its plots from an in-memory study: Optuna said "A new study
    created in memory" on every export, report and campaign."""
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    env = {**os.environ, "TUNER_ARTIFACTS": str(tmp_path / "artifacts"), "TUNER_STORAGE": url}
    env.pop("TUNER_VERBOSE", None)
    build_study(url, "fake", tmp_path, galleries=False)
    quiet = _tuner("export", "fake", "--format", "csv,html", "--out", str(tmp_path / "q"),
                   env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert OPTUNA_INFO not in quiet.stderr and "A new study created" not in quiet.stderr
    loud = _tuner("--verbose", "export", "fake", "--format", "html", "--out",
                  str(tmp_path / "v"), env=env)
    assert loud.returncode == 0, loud.stderr
    assert "A new study created in memory" in loud.stderr


def test_verbose_is_what_quiet_optuna_reads(monkeypatch):
    import optuna

    from tuner.cli import common
    from tuner.optuna_internals import VERBOSE_ENV, quiet_optuna

    assert common.VERBOSE_ENV == VERBOSE_ENV
    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    result = CliRunner().invoke(app, ["--verbose", "fields"])
    assert result.exit_code == 0 and os.environ.get(VERBOSE_ENV) == "1"
    quiet_optuna()
    assert optuna.logging.get_verbosity() == optuna.logging.INFO
    monkeypatch.delenv(VERBOSE_ENV)
    quiet_optuna()
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING


SAMPLED_CAMPAIGN = """
    from tuner import Campaign, Stage, float_range
    campaign = Campaign(name="c", stages=[
        Stage("lr", space=dict(lr=float_range(1e-4, 1e-2, log=True)), sampler="tpe",
              n_trials=25),
    ])
"""


def test_the_lineage_shows_the_budget_a_stage_ran_with(tmp_path):
    """A stage run with ``--n-trials 2`` showed its file's "25 trials" in ``--status``."""
    from tuner.api import CampaignResult
    from tuner.cli.campaign import lineage_table
    from tuner.study.campaign import load_campaign

    path = tmp_path / "c.py"
    path.write_text(textwrap.dedent(SAMPLED_CAMPAIGN))
    campaign = load_campaign(path)
    winner = {"fields": {"lr": 1e-3}, "mean": 0.5, "sd": None, "n": 1, "trials": [1],
              "rule": "best mean", "budget": "2 trials (tpe)"}
    frozen = lineage_table(CampaignResult(campaign, {"lr": winner}))
    assert list(frozen.columns[2].cells) == ["2 trials (tpe)"]
    unfrozen = CampaignResult(campaign, {})
    assert list(lineage_table(unfrozen).columns[2].cells) == ["25 trials (tpe)"]
    assert list(lineage_table(unfrozen, 3).columns[2].cells) == ["3 trials (tpe)"]


TWO_STAGES = """
    from tuner import Campaign, Stage, categorical, float_range
    campaign = Campaign(name="s", stages=[
        Stage("lr", space=dict(lr=float_range(1e-4, 1e-2, log=True)), sampler="random",
              n_trials=6, pruner="none"),
        Stage("loss", space=dict(loss=categorical(["bce", "dice"])), pruner="none"),
    ])
"""


@pytest.mark.slow
def test_status_after_a_run_with_n_trials_shows_that_budget(tmp_path):
    path = tmp_path / "s.py"
    path.write_text(textwrap.dedent(TWO_STAGES))
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    runner = CliRunner()
    ran = runner.invoke(app, ["campaign", str(path), "--storage", url, "--n-trials", "2",
                              "--workers", "1", *TINY_SETS])
    assert ran.exit_code == 0, ran.output
    status = runner.invoke(app, ["campaign", str(path), "--storage", url, "--status"])
    assert status.exit_code == 0, status.output
    assert "2 trials" in status.stdout and "6 trials" not in status.stdout  # (random) wraps
    assert "grid 2" in status.stdout


@pytest.fixture
def stop_handlers():
    """Ctrl-C and SIGTERM handled as a command handles them, and as before afterwards."""
    before = {signum: signal.getsignal(signum) for signum in interrupt.EXIT_CODES}
    yield
    interrupt.clear()
    for signum, handler in before.items():
        signal.signal(signum, handler)


def test_a_stop_is_answered_at_once_and_work_that_may_stop_stops(stop_handlers):
    from tuner.stop_notice import StopNotice

    interrupt.install()
    said: list[str] = []
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), StopNotice(said.append, "stopping ({signal})") as n:
        with n.at_once():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # a long step that never checks (kaleido, a C call)
    assert time.monotonic() - started < 5
    assert said == ["stopping (SIGTERM)"] and interrupt.exit_code() == 143


def test_a_stop_outside_work_that_may_stop_waits_for_the_next_safe_point(stop_handlers):
    from tuner.stop_notice import StopNotice

    interrupt.install()
    said: list[str] = []
    with StopNotice(said.append, "stopping ({signal})") as notice:
        os.kill(os.getpid(), signal.SIGINT)  # recorded: a database write is not cut short
        deadline = time.monotonic() + 5
        while not said and time.monotonic() < deadline:
            time.sleep(0.05)
        assert said == ["stopping (SIGINT)"]  # said at once, nothing raised yet
        with pytest.raises(KeyboardInterrupt), notice.at_once():
            pass  # the next safe point


ONE_STAGE = """
    from tuner import Campaign, Stage, categorical
    campaign = Campaign(name="c", stages=[
        Stage("lr", space=dict(lr=categorical([1e-3])), pruner="none"),
    ])
"""


@pytest.mark.slow
def test_ctrl_c_during_the_final_test_scores_ends_the_campaign_at_once(
        tmp_path, monkeypatch, stop_handlers):
    """The final test scores write their files (PNG plots through kaleido: seconds to
    minutes); a Ctrl-C there was recorded and ignored: the campaign finished and exited 0,
    after a long silence."""
    import optuna

    from tuner import records
    from tuner.reports import campaign_final

    asked: list[float] = []

    def slow_files(*args, **kwargs):
        asked.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(60)

    monkeypatch.setattr(campaign_final, "write_evaluation", slow_files)
    path = tmp_path / "c.py"
    path.write_text(textwrap.dedent(ONE_STAGE))
    url = f"sqlite:///{tmp_path / 'tuner.db'}"
    result = CliRunner().invoke(app, ["campaign", str(path), "--storage", url, "--workers",
                                      "1", *TINY_SETS])
    assert result.exit_code == 130, result.output
    assert asked and time.monotonic() - asked[0] < 10  # the sleep was cut short
    assert "stopping (SIGINT) after the current batch" in result.stderr
    record = optuna.load_study(study_name="c", storage=url)
    assert records.CAMPAIGN in record.user_attrs  # the stage stays frozen
    assert records.CAMPAIGN_FINAL not in record.user_attrs  # scored again on the next run
