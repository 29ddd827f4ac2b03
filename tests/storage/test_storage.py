"""tuner.storage: URLs, opening (SQLite files, the real PostgreSQL), errors, artifacts.

PostgreSQL tests run against the real server of ``TUNER_TEST_POSTGRES_URL`` (see
conftest.py) and skip, with the reason, where it is down.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from typer.testing import CliRunner

from tuner import records
from tuner.cli import app
from tuner.errors import TunerError
from tuner.storage import (
    ARTIFACTS_ENV,
    DEFAULT_STORAGE,
    STORAGE_ENV,
    artifact_dir,
    artifact_store,
    engine_kwargs,
    holds_no_studies,
    is_transient,
    open_storage,
    redact,
    storage_url,
    with_retries,
)

SECRET = "s3cret-pw"


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    monkeypatch.delenv(ARTIFACTS_ENV, raising=False)


# ---------------------------------------------------------------- URLs
def test_url_precedence(no_env, monkeypatch):
    assert storage_url() == DEFAULT_STORAGE == "sqlite:///storage/tuner.db"
    monkeypatch.setenv(STORAGE_ENV, "sqlite:///from/env.db")
    assert storage_url() == "sqlite:///from/env.db"
    assert storage_url("sqlite:///explicit.db") == "sqlite:///explicit.db"


@pytest.mark.parametrize(("url", "shown"), [
    (f"postgresql+psycopg://alice:{SECRET}@db.lab:5432/tuner",
     "postgresql+psycopg://alice:***@db.lab:5432/tuner"),
    ("postgresql+psycopg://alice@db.lab/tuner", "postgresql+psycopg://alice@db.lab/tuner"),
    ("sqlite:///storage/tuner.db", "sqlite:///storage/tuner.db"),
    ("sqlite:////data/a@b:c/tuner.db", "sqlite:////data/a@b:c/tuner.db"),  # '@' in a path
    (f"postgresql://alice:{SECRET}@more@db.lab/t", "postgresql://alice:***@db.lab/t"),
    (f"postgresql://db.lab/t?user=alice&password={SECRET}",
     "postgresql://db.lab/t?user=alice&password=***"),
    (f"failed: postgresql://alice:{SECRET}@db.lab/t", "failed: postgresql://alice:***@db.lab/t"),
])
def test_redact(url, shown):
    assert redact(url) == shown


# ---------------------------------------------------------------- SQLite files
def test_default_sqlite_file_is_created_under_storage(no_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    open_storage()
    assert (tmp_path / "storage" / "tuner.db").is_file()


def test_env_storage_is_opened_and_folders_created(no_env, tmp_path, monkeypatch):
    db = tmp_path / "a" / "b" / "runs.db"
    monkeypatch.setenv(STORAGE_ENV, f"sqlite:///{db}")
    storage = open_storage()
    optuna.create_study(storage=storage, study_name="s")
    assert db.is_file()
    assert [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{db}")] == ["s"]


def test_garbage_sqlite_file_is_a_tuner_error(tmp_path):
    db = tmp_path / "notes.db"
    db.write_text("not a database\n" * 200)
    with pytest.raises(TunerError, match=r"notes\.db: cannot be opened .*not a database"):
        open_storage(f"sqlite:///{db}")


def test_a_folder_where_the_database_should_be_is_a_tuner_error(tmp_path):
    (tmp_path / "tuner.db").mkdir()
    with pytest.raises(TunerError, match=r"tuner\.db is a folder; expected a database file"):
        open_storage(f"sqlite:///{tmp_path / 'tuner.db'}")


def test_reading_a_missing_sqlite_file_creates_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'typo' / 'tuner.db'}"
    with pytest.raises(TunerError, match=r"no database file at .*typo/tuner\.db; nothing "):
        open_storage(url, create=False)
    assert not (tmp_path / "typo").exists()


def test_a_read_only_database_file_is_refused_before_writing(tmp_path, monkeypatch):
    """Root may write any file, so the permission is simulated where os.access asks."""
    db = tmp_path / "tuner.db"
    open_storage(f"sqlite:///{db}")
    monkeypatch.setattr("os.access", lambda path, mode: Path(path) != db)
    with pytest.raises(TunerError, match=r"the database file .*tuner\.db is read-only"):
        open_storage(f"sqlite:///{db}")
    open_storage(f"sqlite:///{db}", create=False)  # reading it is fine


@pytest.mark.parametrize("url", ["storage/tuner.db", "nosuchdb://host/x", "mysql://a@h/x"])
def test_bad_url_is_a_tuner_error(url):
    with pytest.raises(TunerError, match="storage"):
        open_storage(url)


@pytest.mark.parametrize("url", [
    f"postgresql+psycopg://alice:{SECRET}@127.0.0.1:1/tuner",  # nobody listens on port 1
    f"postgresql+psycopg://alice:{SECRET}@127.0.0.1:notaport/tuner",  # not even a URL
    f"postgresql+psycopg://alice:{SECRET}@with-an-at@127.0.0.1:1/tuner",  # '@' not escaped
])
def test_password_never_in_errors(url):
    with pytest.raises(TunerError) as info:
        open_storage(url)
    message = str(info.value)
    assert "\n" not in message and "alice" in message
    assert SECRET not in message and "with-an-at" not in message


def test_unescaped_at_in_password_is_explained():
    with pytest.raises(TunerError, match="password contains '@'; write it as %40"):
        open_storage(f"postgresql+psycopg://alice:{SECRET}@x@127.0.0.1:1/tuner")


def test_percent_encoded_password_connects(postgres_url):
    """The test server trusts every password, so this checks only that '%40' is decoded."""
    url = sqlalchemy.engine.make_url(postgres_url).set(password="p@ss")
    encoded = url.render_as_string(hide_password=False)
    assert "p%40ss@" in encoded
    open_storage(encoded).engine.dispose()


def test_engine_options():
    assert engine_kwargs("sqlite:///x.db") == {"connect_args": {"timeout": 60}}
    server = engine_kwargs("postgresql+psycopg://u:p@h/db")
    assert server["pool_pre_ping"] is True and server["pool_recycle"] > 0
    # a worker process holds two pooled connections at most (main thread and heartbeat),
    # not Optuna's 5 + 10: 40 processes fit a server's default 100 connections
    assert server["pool_size"] + server["max_overflow"] <= 2 and server["pool_timeout"] >= 30


# ---------------------------------------------------------------- artifacts
def test_artifact_dir(no_env, tmp_path, monkeypatch):
    assert artifact_dir(f"sqlite:///{tmp_path}/x/tuner.db") == tmp_path / "x" / "artifacts"
    assert artifact_dir("postgresql+psycopg://u@h/db") == Path("storage") / "artifacts"
    monkeypatch.setenv(ARTIFACTS_ENV, str(tmp_path / "shared"))
    assert artifact_dir("postgresql+psycopg://u@h/db") == tmp_path / "shared"
    artifact_store("postgresql+psycopg://u@h/db")
    assert (tmp_path / "shared").is_dir()


# ---------------------------------------------------------------- both kinds, for real
@pytest.fixture
def cleanup(study_name):
    """Deletes ``study_name`` from every storage a test registered (PostgreSQL persists)."""
    urls: list[str] = []
    yield urls
    for url in urls:
        try:
            optuna.delete_study(study_name=study_name, storage=open_storage(url))
        except KeyError:  # never created
            pass


def test_round_trip(any_storage_url, study_name, cleanup, tmp_path):
    """What one worker writes, a second connection (another worker, an export) reads back."""
    cleanup.append(any_storage_url)
    study = optuna.create_study(storage=open_storage(any_storage_url), study_name=study_name,
                                direction="maximize")
    trial = study.ask()
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    loss = trial.suggest_categorical("loss", ["bce", "dice"])
    trial.set_user_attr(records.CONFIG, {"lr": lr, "loss": loss, "epochs": 2})
    trial.set_user_attr(records.CURVES, {"val_dice": [0.5, 0.75]})
    trial.report(0.5, 1)
    trial.report(0.75, 2)
    png = tmp_path / "gallery_epoch002.png"
    png.write_bytes(b"\x89PNG fake")
    artifact_id = optuna.artifacts.upload_artifact(
        artifact_store=artifact_store(any_storage_url), file_path=str(png), study_or_trial=trial)
    study.tell(trial, 0.75)

    again = optuna.load_study(study_name=study_name, storage=open_storage(any_storage_url))
    (done,) = again.trials
    assert done.state == optuna.trial.TrialState.COMPLETE and done.value == 0.75
    assert done.params == {"lr": lr, "loss": loss}
    assert done.user_attrs[records.CONFIG] == {"lr": lr, "loss": loss, "epochs": 2}
    assert done.user_attrs[records.CURVES] == {"val_dice": [0.5, 0.75]}
    assert done.intermediate_values == {1: 0.5, 2: 0.75}
    with artifact_store(any_storage_url).open_reader(artifact_id) as reader:
        assert reader.read() == b"\x89PNG fake"


def _terminate(url: str, application_name: str) -> int:
    """Kill every server connection named ``application_name``, as an admin or a NAT would."""
    admin = sqlalchemy.create_engine(url, connect_args={"application_name": "tuner-test-admin"})
    try:
        with admin.connect() as conn:
            return conn.execute(sqlalchemy.text(
                "select count(pg_terminate_backend(pid)) from pg_stat_activity "
                "where application_name = :name and pid <> pg_backend_pid()"
            ), {"name": application_name}).scalar_one()
    finally:
        admin.dispose()


def _one_trial(study: optuna.Study, value: float) -> None:
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    study.tell(trial, value)


def test_postgres_connections_survive_being_dropped(postgres_url, study_name, cleanup,
                                                    monkeypatch):
    """Pre-ping replaces pooled connections the server killed; without it the next call fails."""
    cleanup.append(postgres_url)
    app_name = f"tuner-{study_name}"  # libpq names this process's connections: kill only ours
    monkeypatch.setenv("PGAPPNAME", app_name)
    storage = open_storage(postgres_url)
    study = optuna.create_study(storage=storage, study_name=study_name)
    _one_trial(study, 1.0)
    assert _terminate(postgres_url, app_name) >= 1

    _one_trial(study, 2.0)  # same storage, same pool: pre-ping reconnects silently
    values = [t.value for t in optuna.load_study(study_name=study_name, storage=storage).trials]
    assert values == [1.0, 2.0]

    # The control: Optuna's plain engine (no pre-ping) fails on the dead connections.
    storage.engine.dispose()
    plain = optuna.storages.RDBStorage(postgres_url)
    plain_study = optuna.load_study(study_name=study_name, storage=plain)
    _one_trial(plain_study, 3.0)
    assert _terminate(postgres_url, app_name) >= 1
    with pytest.raises((optuna.exceptions.StorageInternalError, sqlalchemy.exc.DBAPIError)):
        _one_trial(plain_study, 4.0)
    plain.engine.dispose()


# ---------------------------------------------------------------- in-memory, empty, dropped
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
@pytest.mark.parametrize("create", [True, False])
def test_in_memory_sqlite_is_refused_and_leaves_nothing(url, create, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TunerError, match=r"in-memory SQLite .* expected a file path like "
                                         r"sqlite:///storage/tuner\.db") as info:
        open_storage(url, create=create)
    assert "\n" not in str(info.value) and list(tmp_path.iterdir()) == []


READ_ONLY = [(["studies"], 0, "no studies in"), (["best", "s"], 2, "studies there: none yet"),
             (["dashboard", "--port", "0"], 2, "no studies there yet")]


@pytest.mark.parametrize(("args", "code", "words"), READ_ONLY)
def test_read_only_commands_leave_an_empty_sqlite_file_as_it_was(args, code, words, tmp_path,
                                                                 monkeypatch):
    """A 0-byte file is a database without tables: no studies, and it stays 0 bytes (it
    grew to 114 KB of Optuna's tables)."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "empty.db"
    db.touch()
    result = CliRunner().invoke(app, [*args, "--storage", f"sqlite:///{db}"])
    assert result.exit_code == code and words in result.output, result.output
    assert db.stat().st_size == 0 and [p.name for p in tmp_path.iterdir()] == ["empty.db"]


@pytest.fixture
def empty_postgres(postgres_url) -> str:
    """The URL of a new, empty database on the test server (dropped afterwards), so that
    nothing here sees or disturbs the shared ``test`` database."""
    name = f"tuner_empty_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f"create database {name}"))
    try:
        yield sqlalchemy.engine.make_url(postgres_url).set(database=name).render_as_string(
            hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f"drop database if exists {name} with (force)"))
        admin.dispose()


CAMPAIGN = """
    from tuner import Campaign, Stage, categorical
    campaign = Campaign(name="c", stages=[Stage("lr", space=dict(lr=categorical([1e-3])))])
"""


def test_read_only_commands_create_no_tables_in_an_empty_postgres(empty_postgres, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    campaign = tmp_path / "c.py"
    campaign.write_text(textwrap.dedent(CAMPAIGN))
    runner = CliRunner()
    for args, code, words in [*READ_ONLY, (["campaign", str(campaign), "--status"], 0, "lr")]:
        result = runner.invoke(app, [*args, "--storage", empty_postgres])
        assert result.exit_code == code and words in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert holds_no_studies(open_storage(empty_postgres, create=False))
    engine = sqlalchemy.create_engine(empty_postgres, poolclass=sqlalchemy.pool.NullPool)
    assert sqlalchemy.inspect(engine).get_table_names() == []
    engine.dispose()
    assert list(tmp_path.iterdir()) == [campaign]


def test_a_dropped_connection_is_transient_and_a_mistake_is_not(postgres_url):
    engine = sqlalchemy.create_engine(postgres_url, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as conn, pytest.raises(sqlalchemy.exc.DBAPIError) as dropped:
        conn.execute(sqlalchemy.text("select pg_terminate_backend(pg_backend_pid())"))
        conn.execute(sqlalchemy.text("select 1"))
    with engine.connect() as conn, pytest.raises(sqlalchemy.exc.DBAPIError) as mistake:
        conn.execute(sqlalchemy.text("select * from no_such_table"))
    engine.dispose()
    wrapped = optuna.exceptions.StorageInternalError("An exception is raised during the commit")
    wrapped.__cause__ = dropped.value  # how Optuna hands it on
    assert is_transient(dropped.value) and is_transient(wrapped)
    assert not is_transient(mistake.value) and not is_transient(ValueError("x"))


def test_retries_are_bounded_and_only_for_dropped_connections(monkeypatch):
    monkeypatch.setattr("tuner.storage.retries.RETRY_DELAYS_S", (0.0, 0.0))
    monkeypatch.setattr("tuner.storage.retries.is_transient",
                        lambda exc, restarting=True: "dropped" in str(exc))
    calls = []

    def flaky(fails: int, error: str = "dropped"):
        calls.append(fails)
        if len(calls) <= fails:
            raise RuntimeError(error)
        return "ok"

    assert with_retries(flaky)(2) == "ok" and len(calls) == 3
    calls.clear()
    with pytest.raises(RuntimeError, match="dropped"):
        with_retries(flaky)(5)
    assert len(calls) == 3  # the first try and one per delay
    calls.clear()
    with pytest.raises(RuntimeError, match="mistake"):
        with_retries(flaky)(5, "mistake")
    assert len(calls) == 1
    calls.clear()  # a new try that finds the dropped one had done it: settled, not raised
    assert with_retries(flaky, lambda exc, *a: "done" if "again" in str(exc) else None)(
        2, "dropped again") == "done" and len(calls) == 2


def test_a_bounded_pool_runs_a_grid_with_heartbeats_on_postgres(postgres_url, study_name,
                                                                cleanup):
    """Two workers in one process (the local run's first worker and another thread) and
    their heartbeat threads share the two pooled connections: they wait their turn, every
    point is COMPLETE once, and no more than two connections were ever checked out."""
    import threading

    from tuner.optuna_internals import stale_trial_retry
    from tuner.workers.worker import run_trials

    cleanup.append(postgres_url)
    storage = open_storage(postgres_url, heartbeat_interval=1, grace_period=30,
                           stale_trial_callback=stale_trial_retry(3))
    pool = storage.engine.pool
    assert pool.size() == 1 and pool._max_overflow == 1  # noqa: SLF001 - the bound itself
    study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
    for x in range(6):
        study.enqueue_trial({"x": x})
    most = []

    def objective(trial):
        for step in range(3):  # ~1.2 s: the heartbeat thread beats meanwhile
            trial.report(float(step), step)
            most.append(pool.checkedout())
            threading.Event().wait(0.4)
        return float(trial.suggest_int("x", 0, 5))

    results = []
    workers = [threading.Thread(target=lambda: results.append(
        run_trials(study, objective, claim_only=True))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    complete = sorted(t.params["x"] for t in study.trials
                      if t.state == optuna.trial.TrialState.COMPLETE)
    assert complete == list(range(6)) and sum(r.finished for r in results) == 6
    assert max(most) <= 2 and pool.checkedout() == 0
    storage.engine.dispose()


def test_a_refused_connection_is_a_restart_only_once_a_storage_was_open():
    from tuner.storage import is_transient

    refused = sqlalchemy.exc.OperationalError(
        "connect", {}, Exception('connection to server at "127.0.0.1", port 5432 failed: '
                                 "Connection refused"))
    assert is_transient(refused) and not is_transient(refused, restarting=False)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_first_open_that_keeps_failing_leaves_the_database_as_it_was(kind, tmp_path,
                                                                        request, monkeypatch):
    """Connections dropped on every try while the schema is first created: the open is
    retried, then fails with one line, and takes away what it created (a SQLite file it
    made; Optuna's tables on a server)."""
    from tuner.storage import opening

    url = f"sqlite:///{tmp_path / 'new.db'}" if kind == "sqlite" \
        else request.getfixturevalue("empty_postgres")
    tries = []

    class DroppedAfterCreating(opening._storage_class()):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.engine.dispose()
            tries.append(1)
            raise sqlalchemy.exc.OperationalError(
                "select 1", {}, Exception("terminating connection due to administrator command"))

    monkeypatch.setattr("tuner.storage.retries.RETRY_DELAYS_S", (0.0, 0.0))
    monkeypatch.setattr(opening, "_storage_class", lambda: DroppedAfterCreating)
    with pytest.raises(TunerError, match="cannot be opened .*terminating connection"):
        open_storage(url)
    assert len(tries) == 3  # retried like a dropped connection later on
    if kind == "sqlite":
        assert not (tmp_path / "new.db").exists()
    else:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        assert sqlalchemy.inspect(engine).get_table_names() == []
        engine.dispose()
