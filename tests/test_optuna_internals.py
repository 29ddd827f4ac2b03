"""Every function of tuner.optuna_internals on the installed Optuna, real SQLite and
PostgreSQL. This file needs only Optuna, SQLAlchemy and pytest (no torch), so that it also
runs on the lowest Optuna release pyproject.toml admits (the last test does that, in the
small environment scripts/setup.sh makes for it)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tuner.optuna_internals import (
    live_trial,
    retry_history,
    sql_engine,
    stale_trial_retry,
    storage_of,
    study_id,
    trial_id,
)
from tuner.storage import open_storage, sqlite_file_of

ROOT = Path(__file__).resolve().parents[1]
LOWEST_ENV = ROOT / ".venv" / "optuna-lowest"


def test_a_waiting_trial_is_claimed_and_run_as_a_live_trial(any_storage_url, study_name):
    study = optuna.create_study(study_name=study_name, storage=open_storage(any_storage_url),
                                direction="maximize")
    study.enqueue_trial({"x": 3})
    storage = storage_of(study)
    (waiting,) = storage.get_all_trials(study_id(study), states=(TrialState.WAITING,))
    assert storage.set_trial_state_values(trial_id(waiting), state=TrialState.RUNNING)
    trial = live_trial(study, trial_id(waiting))
    assert trial.number == waiting.number and trial.suggest_int("x", 0, 9) == 3
    study.tell(trial, 0.5)
    assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]


def test_the_sql_engine_and_the_sqlite_file_behind_a_storage(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    study = optuna.create_study(storage=open_storage(url))
    assert sql_engine(storage_of(study)) is not None
    assert sqlite_file_of(storage_of(study)) == tmp_path / "x.db"
    assert sql_engine(optuna.storages.InMemoryStorage()) is None


def test_a_stale_trial_is_retried_and_its_history_read(any_storage_url, study_name):
    storage = open_storage(any_storage_url, heartbeat_interval=1, grace_period=1,
                           stale_trial_callback=stale_trial_retry(3))
    study = optuna.create_study(study_name=study_name, storage=storage)
    trial = study.ask()
    storage_of(study).record_heartbeat(trial_id(trial))
    time.sleep(2.5)  # older than the grace period: its worker is gone
    optuna.storages.fail_stale_trials(study)
    first, retry = study.get_trials()
    assert first.state == TrialState.FAIL and retry.state == TrialState.WAITING
    assert retry_history(retry) == [first.number] and retry_history(first) == []


def test_the_artifacts_of_a_stored_trial_are_found(tmp_path):
    from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact

    study = optuna.create_study(storage=open_storage(f"sqlite:///{tmp_path / 'a.db'}"))
    trial = study.ask()
    path = tmp_path / "note.txt"
    path.write_text("x")
    (tmp_path / "artifacts").mkdir()
    store = FileSystemArtifactStore(str(tmp_path / "artifacts"))
    upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial)
    study.tell(trial, 1.0)
    metas = get_all_artifact_meta(study.trials[0], storage=storage_of(study))
    assert [m.filename for m in metas] == ["note.txt"]


def lowest_supported() -> str:
    """The lowest Optuna release pyproject.toml admits (``optuna>=X,<Y``)."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    return re.search(r'"optuna>=([0-9.]+),<', text).group(1)


@pytest.mark.skipif(os.environ.get("TUNER_OPTUNA_LOWEST_RUN") == "1",
                    reason="already running on the lowest Optuna")
def test_the_lowest_supported_optuna_passes_these_tests():
    python = LOWEST_ENV / "bin" / "python"
    if not python.exists():
        pytest.skip(f"no {LOWEST_ENV}: scripts/setup.sh makes it (pip could not reach the "
                    "index?)")
    version = subprocess.run([str(python), "-c", "import optuna; print(optuna.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert version == lowest_supported(), f"{LOWEST_ENV} holds Optuna {version}"
    done = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
         str(Path(__file__))],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TUNER_OPTUNA_LOWEST_RUN": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\d+ passed", done.stdout), done.stdout[-2000:]
