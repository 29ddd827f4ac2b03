"""Shared fixtures: storages of every kind (real SQLite files and the real PostgreSQL)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import uuid
from pathlib import Path

import pytest
import sqlalchemy

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

POSTGRES_URL = os.environ.get(
    "TUNER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> str | None:
    """None when the test server answers, else why not (the skip reason)."""
    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"PostgreSQL at {POSTGRES_URL} unreachable ({type(exc).__name__}); start it"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """URL of the real PostgreSQL test database (skips, with the reason, where it is down)."""
    reason = _postgres_reachable()
    if reason:
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'tuner.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def any_storage_url(request, tmp_path) -> str:
    """Every storage kind in turn, like Optuna's own storage tests."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tuner.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def study_name() -> str:
    """A study name no other test (or earlier run against the same server) uses."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(autouse=True)
def _artifacts_in_tmp(tmp_path, monkeypatch):
    """Artifacts of server storages land in the test's folder, not in the repo."""
    monkeypatch.setenv("TUNER_ARTIFACTS", str(tmp_path / "artifacts"))


@pytest.fixture(autouse=True)
def _fingerprints_in_tmp(tmp_path, monkeypatch):
    """The data fingerprints' and precision calibrations' caches land in the test's
    folder, not in ~/.cache."""
    monkeypatch.setenv("TUNER_FINGERPRINT_CACHE", str(tmp_path / "fingerprints"))
    # beside the test's folder, not in it (tests compare what a command leaves there):
    # other tuner processes on the machine (benchmarks, another suite) change no test's
    # thread count, as a test counts only its own training processes
    machine = tmp_path.with_name(f"{tmp_path.name}-machine")
    monkeypatch.setenv("TUNER_PRECISION_CACHE", str(machine / "precision"))
    monkeypatch.setenv("TUNER_TRAINING_MARKERS", str(machine / "training-markers"))


@pytest.fixture(autouse=True)
def _data_cache_in_tmp(tmp_path, monkeypatch):
    """The decoded-data cache lands in the test's folder, not in storage/cache."""
    monkeypatch.setenv("TUNER_DATA_CACHE", str(tmp_path / "data-cache"))


@pytest.fixture(autouse=True)
def _one_worker_unless_asked(monkeypatch):
    """``tuner run`` defaults to --workers auto (one per core); a spawned worker costs a
    few seconds of imports, so tests run one worker unless they pass --workers."""
    monkeypatch.setenv("TUNER_WORKERS", "1")


#: the test processes (pytest -n 2) share one PostgreSQL server: a test that restarts it
#: holds this lock exclusively, every test on the server holds it shared
SERVER_LOCK = Path(tempfile.gettempdir()) / f"tuner-tests-postgres-{os.getuid()}.lock"
SERVER_FIXTURES = {"postgres_url", "any_storage_url", "own_postgres", "empty_postgres"}


@pytest.fixture(autouse=True)
def _one_server_restart_at_a_time(request):
    """A test marked ``restarts_server`` waits until no other test uses the server, and
    the others wait while it runs; tests without the server run as they are."""
    if not SERVER_FIXTURES & set(request.fixturenames):
        yield
        return
    exclusive = request.node.get_closest_marker("restarts_server") is not None
    with open(SERVER_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(handle, fcntl.LOCK_UN)
