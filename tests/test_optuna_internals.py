"""Every function of tuner.optuna_internals on the installed Optuna, real SQLite and
PostgreSQL. This file needs only Optuna, SQLAlchemy and pytest (no torch), so that it also
runs on the lowest Optuna release pyproject.toml admits (the last test does that, in the
small environment scripts/setup.sh makes for it)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from tuner.optuna_internals import (
    DATABASE_METHODS,
    PARTIAL,
    RDB_LOGGER,
    drop_schema,
    grpc_proxy_class,
    live_trial,
    quiet_optuna,
    rdb_storage_class,
    replace_artifact,
    retry_history,
    sql_engine,
    stale_trial_retry,
    storage_of,
    study_id,
    trial_id,
)
from tuner.storage import engine_kwargs, open_storage, sqlite_file_of

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


def test_every_database_method_of_the_rdb_storage_is_wrapped(tmp_path):
    """The names exist on this release (the private ones Optuna's cache calls among them),
    and the class is still an RDBStorage: Optuna caches it as its own."""
    RDBStorage = optuna.storages.RDBStorage
    present = [name for name in DATABASE_METHODS if hasattr(RDBStorage, name)]
    assert set(DATABASE_METHODS) - set(present) <= {"_get_best_trial_id", "_set_trial_param"}
    for private in ("_get_trials", "_create_new_trial", "_get_stale_trial_ids"):
        assert private in present
    calls: list[str] = []

    def wrap(name, method):
        def wrapped(*args, **kwargs):
            calls.append(name)
            return method(*args, **kwargs)
        return wrapped

    storage = rdb_storage_class(wrap)(f"sqlite:///{tmp_path / 'x.db'}")
    assert isinstance(storage, RDBStorage)
    study = optuna.create_study(storage=storage, study_name="s")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(study.get_trials()) == 2
    assert {"create_new_study", "_create_new_trial", "set_trial_state_values",
            "_get_trials"} <= set(calls)


def _kill_statements(engine, admin_url: str, pattern: str, times: int) -> list[str]:
    """Terminate the server backend of ``engine``'s connection just before each of the next
    ``times`` statements matching ``pattern`` (mid-transaction, as an admin or a restart
    would); returns the statements killed."""
    killed: list[str] = []
    admin = sqlalchemy.create_engine(admin_url, poolclass=sqlalchemy.pool.NullPool)

    @sqlalchemy.event.listens_for(engine, "before_cursor_execute")
    def kill(conn, cursor, statement, *args):
        if len(killed) < times and re.search(pattern, statement):
            killed.append(statement)
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.connect() as other:
                other.execute(sqlalchemy.text("select pg_terminate_backend(:p)"), {"p": pid})
            time.sleep(0.05)  # the server has closed it before the statement is sent

    return killed


def test_calls_killed_mid_transaction_are_retried(postgres_url, study_name):
    """Pre-ping cannot save a connection that dies in the middle of a call: the storage's
    retry does, for reads (the progress poll) and for a trial's end alike."""
    storage = open_storage(postgres_url)
    try:
        study = optuna.create_study(storage=storage, study_name=study_name)
        trial = study.ask()
        killed = _kill_statements(storage.engine, postgres_url, r"^UPDATE trials|^SELECT "
                                  r"trials\.trial_id", times=2)
        study.tell(trial, 1.0)
        assert [t.state for t in study.get_trials()] == [TrialState.COMPLETE]
        assert len(killed) == 2
    finally:
        optuna.delete_study(study_name=study_name, storage=storage)
        storage.engine.dispose()


def test_without_the_retry_a_killed_call_fails(postgres_url, study_name):
    """The control: Optuna's own storage, even with pre-ping, raises the defect's error."""
    plain = optuna.storages.RDBStorage(postgres_url, engine_kwargs=engine_kwargs(postgres_url))
    try:
        study = optuna.create_study(storage=plain, study_name=study_name)
        trial = study.ask()
        _kill_statements(plain.engine, postgres_url, r"^UPDATE trials", times=1)
        with pytest.raises(optuna.exceptions.StorageInternalError):
            study.tell(trial, 1.0)
    finally:
        optuna.delete_study(study_name=study_name, storage=plain)
        plain.engine.dispose()


def test_quiet_optuna_drops_the_storage_fallback_notice(caplog):
    quiet_optuna()
    quiet_optuna()  # twice: one filter
    logger = logging.getLogger(RDB_LOGGER)
    assert len(logger.filters) == 1
    with caplog.at_level(logging.WARNING, logger=RDB_LOGGER):
        logger.warning("Caught an error from sqlalchemy: (psycopg.errors.AdminShutdown) ...")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]


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


def test_has_stale_trials_sees_a_trial_whose_heartbeat_stopped(tmp_path):
    from tuner.optuna_internals import has_stale_trials

    url = f"sqlite:///{tmp_path / 'stale.db'}"
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    storage.record_heartbeat(trial._trial_id)
    assert not has_stale_trials(study)
    time.sleep(2.5)
    assert has_stale_trials(study)
    assert not has_stale_trials(optuna.create_study(storage=url, study_name="plain"))


def test_an_artifact_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    import io

    from optuna.artifacts import FileSystemArtifactStore

    store = FileSystemArtifactStore(str(tmp_path))
    replace_artifact(store, "a", io.BytesIO(b"old content"))
    seen = []
    write = FileSystemArtifactStore.write

    def cut_short(self, artifact_id, body):  # the disk fills (or a kill) mid-write
        seen.append(artifact_id)
        write(self, artifact_id, io.BytesIO(body.read()[:3]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(FileSystemArtifactStore, "write", cut_short)
    with pytest.raises(OSError):
        replace_artifact(store, "a", io.BytesIO(b"new content"))
    assert seen == ["a" + PARTIAL]  # Optuna's write, aimed beside the artifact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]
    with store.open_reader("a") as reader:
        assert reader.read() == b"old content"
    monkeypatch.undo()
    replace_artifact(store, "a", io.BytesIO(b"new content"))
    assert (tmp_path / "a").read_bytes() == b"new content"

    class ObjectStore:  # S3, GCS: an object is put whole, written directly
        def __init__(self):
            self.objects = {}

        def write(self, artifact_id, body):
            self.objects[artifact_id] = body.read()

    other = ObjectStore()
    replace_artifact(other, "a", io.BytesIO(b"x"))
    assert other.objects == {"a": b"x"}


def test_dropping_optuna_schema_leaves_no_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    optuna.storages.RDBStorage(url).engine.dispose()  # Optuna creates its tables
    engine = sqlalchemy.create_engine(url)
    assert sqlalchemy.inspect(engine).get_table_names()
    with engine.begin() as conn:
        drop_schema(conn)
    assert sqlalchemy.inspect(engine).get_table_names() == []
    engine.dispose()


def test_a_grpc_proxy_clients_calls_go_through_the_wrapper():
    pytest.importorskip("grpc")
    wrapped = []

    def wrap(stub):
        wrapped.append(stub)
        return ("wrapped", stub)

    proxy = grpc_proxy_class(wrap)(host="127.0.0.1", port=9)  # no server needed to build
    try:
        assert proxy._stub == ("wrapped", wrapped[0])
        assert proxy._cache.grpc_client is proxy._stub  # the trial cache's calls too
    finally:
        proxy.close()
