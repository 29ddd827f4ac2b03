"""Opening a storage: one-line errors for every URL a user can get wrong, reading that
creates nothing, the connection pool of a process, and the artifact store beside it."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy

from tuner.errors import TunerError
from tuner.storage.grpc import is_grpc, open_grpc_storage
from tuner.storage.locks import named_lock
from tuner.storage.retries import with_retries
from tuner.storage.roles import connect_args
from tuner.storage.urls import (
    DEFAULT_STORAGE,
    artifact_dir,
    is_in_memory,
    redact,
    sqlite_path,
    storage_url,
    userinfo,
)

#: the table where Optuna's schema keeps its version (one row once the schema is complete)
VERSION_TABLE = "version_info"

if TYPE_CHECKING:  # pragma: no cover - types only; Optuna is imported where it is used
    import optuna
    from optuna.artifacts import FileSystemArtifactStore

SCHEMA_LOCK = "tuner: create the schema"  # the lock name under which tables are created
SQLITE_BUSY_TIMEOUT_S = 60  # workers wait for the write lock instead of "database is locked"
#: a process's pooled connections to a server: one, one more while its heartbeat beats
POOL_SIZE, POOL_OVERFLOW, POOL_TIMEOUT_S = 1, 1, 60  # Optuna's default: up to 5 + 10


def _committed_before(exc: Exception, storage, trial_id: int, state=None, values=None):
    """A trial's end a dropped try had committed: found finished, it is done, no conflict."""
    from optuna.exceptions import UpdateFinishedTrialError

    if isinstance(exc, UpdateFinishedTrialError) and storage.get_trial(trial_id).state == state:
        return True
    return None


@functools.cache
def _storage_class() -> type:
    from tuner.optuna_internals import rdb_storage_class

    return rdb_storage_class(lambda name, method: with_retries(
        method, _committed_before if name == "set_trial_state_values" else None))


def engine_kwargs(url: str) -> dict:
    """SQLAlchemy options: busy timeout for SQLite; for servers pre-ping and recycling (a
    connection dropped while idle is replaced silently) and a pool of two at most."""
    backend = sqlalchemy.engine.make_url(url).get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True, "pool_recycle": 300, "pool_size": POOL_SIZE,
            "max_overflow": POOL_OVERFLOW, "pool_timeout": POOL_TIMEOUT_S,
            "connect_args": connect_args(backend)}


def open_storage(url: str | None = None, *, create: bool = True,
                 heartbeat_interval: int | None = None, grace_period: int | None = None,
                 stale_trial_callback=None) -> optuna.storages.RDBStorage:
    """Open the Optuna storage at ``url``; one-line error if it cannot.

    ``create=True`` (commands that train) makes a new SQLite file and its folder where
    needed and insists that the file can be written; ``create=False`` (commands that only
    read) never creates anything: a SQLite path without a file is a mistyped path, and a
    database without Optuna's tables (an empty file, a new server database) holds no
    studies: it is read as an empty ``InMemoryStorage`` (:func:`holds_no_studies`). An
    in-memory SQLite database is refused: no other process could see it.
    """
    import optuna

    from tuner.optuna_internals import heartbeat_options

    url = storage_url(url)
    if is_grpc(url):  # Optuna's gRPC proxy (``tuner proxy``): no database here
        return open_grpc_storage(url)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        raise TunerError(
            f"storage {redact(url)!r}: not a database URL; expected e.g. {DEFAULT_STORAGE} or "
            "postgresql+psycopg://user:password@host:5432/db"
        ) from None
    parts = userinfo(url)
    if parts is not None and "@" in parts[1]:
        raise TunerError(
            f"storage {redact(url)}: the password contains '@'; write it as %40 in the URL"
        )
    if is_in_memory(url):
        raise TunerError(
            f"storage {redact(url)}: an in-memory SQLite database lives and dies with one "
            "process, so the workers and later commands (best, export, dashboard) could "
            f"not share it; expected a file path like {DEFAULT_STORAGE}")
    db_file = sqlite_path(url)
    if db_file is not None:
        _check_sqlite_file(db_file, redact(url), create)
    options = heartbeat_options(heartbeat_interval, grace_period, stale_trial_callback)
    new_file = db_file is not None and not db_file.exists()
    created: list[bool] = []  # this command began Optuna's schema: a failure removes it

    def connect() -> optuna.storages.BaseStorage:
        schema = _schema(url)
        if create and schema == "none":
            created.append(True)
        if schema == "ready":  # the usual case: nothing to create, no lock, one connection
            return _storage_class()(url, engine_kwargs=engine_kwargs(url),
                                    skip_table_creation=True, **options)
        if not create and schema == "none":
            return optuna.storages.InMemoryStorage()  # no studies; nothing is created
        # One process at a time creates Optuna's tables (of two at once, the loser fails on
        # a duplicate), and a reader waits for a schema being created; reading creates
        # nothing, not even a lock file. (Optuna's set-up holds two connections at once:
        # with the lock's, three, once in the life of a database.)
        with named_lock(url, SCHEMA_LOCK) if create or db_file is None else \
                contextlib.nullcontext():
            return _storage_class()(url, engine_kwargs=engine_kwargs(url),
                                    skip_table_creation=not create, **options)

    try:
        return with_retries(connect, restarting=False)()
    except TunerError:
        raise
    except Exception as exc:  # driver missing, server down, bad credentials, not a DB
        if created:
            _remove_new_schema(url, db_file if new_file else None)
        raise _cannot_open(parsed, exc) from None


def _remove_new_schema(url: str, new_file: Path | None) -> None:
    """After a failed first open: leave the database as it was. A SQLite file this command
    made is deleted; on a server, Optuna's tables are dropped while they hold no study
    (under the schema lock: no other process is creating them). Best effort: a server
    that is gone keeps them, harmless and reused by the next open."""
    from tuner.optuna_internals import drop_schema

    if new_file is not None:
        with contextlib.suppress(OSError):
            new_file.unlink()
        return
    with contextlib.suppress(Exception), named_lock(url, SCHEMA_LOCK):
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.begin() as conn:
                if not conn.execute(sqlalchemy.text("select count(*) from studies")).scalar():
                    drop_schema(conn)
        finally:
            engine.dispose()


def _schema(url: str) -> str:
    """Optuna's schema at ``url``, creating nothing: ``"none"`` (no ``studies`` table: it
    never wrote there), ``"ready"`` (its tables and its version row), else ``"partial"``
    (being created, or a creation that failed)."""
    backend = sqlalchemy.engine.make_url(url).get_backend_name()
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                      connect_args=connect_args(backend))
    try:
        with engine.connect() as conn:
            inspector = sqlalchemy.inspect(conn)
            if not inspector.has_table("studies"):
                return "none"
            if not inspector.has_table(VERSION_TABLE):
                return "partial"
            rows = conn.execute(sqlalchemy.text(f"select count(*) from {VERSION_TABLE}"))
            return "ready" if rows.scalar() else "partial"
    finally:
        engine.dispose()


def holds_no_studies(storage: object) -> bool:
    """Whether ``storage`` is how :func:`open_storage` reads a database without tables."""
    import optuna

    return isinstance(storage, optuna.storages.InMemoryStorage)


def _check_sqlite_file(db_file: Path, shown: str, create: bool) -> None:
    """A SQLite file that exists where it must, and that can be written where it will be."""
    if not create:
        if not db_file.is_file():
            raise TunerError(f"storage {shown}: no database file at {db_file}; nothing was "
                             "stored there (check the path, or run a study first)")
        return
    if db_file.is_dir():
        raise TunerError(f"storage {shown}: {db_file} is a folder; expected a database file")
    try:
        db_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TunerError(f"storage {shown}: cannot create the folder {db_file.parent} "
                         f"({exc.strerror}); expected a writable place") from None
    # SQLite writes the file and, beside it, its journal: both need write permission.
    for place in (db_file, db_file.parent):
        if place.exists() and not os.access(place, os.W_OK):
            what = "database file" if place == db_file else "folder of the database"
            raise TunerError(f"storage {shown}: the {what} {place} is read-only; expected "
                             "a place tuner can write (check its permissions)")


def _cannot_open(parsed: sqlalchemy.engine.URL, exc: BaseException) -> TunerError:
    from optuna.exceptions import StorageInternalError

    while isinstance(exc, StorageInternalError) and exc.__cause__ is not None:
        exc = exc.__cause__  # "An exception is raised during the commit": say which
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if parsed.password:  # drivers do not echo it, but a message is no place to find out
        reason = reason.replace(str(parsed.password), "***")
    shown = redact(parsed.render_as_string(hide_password=True))
    return TunerError(f"storage {shown}: cannot be opened ({redact(reason)[:300]})")



def artifact_store(url: str | None = None) -> FileSystemArtifactStore:
    """The Optuna artifact store that belongs to the storage at ``url`` (created on use)."""
    from optuna.artifacts import FileSystemArtifactStore

    folder = artifact_dir(url)
    folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


def load_existing_study(url: str | None, study_name: str) -> optuna.Study:
    """Load study ``study_name``; an unknown name lists the studies that exist."""
    import optuna

    url = storage_url(url)
    storage = open_storage(url, create=False)
    names = optuna.get_all_study_names(storage)
    if study_name not in names:
        known = ", ".join(sorted(names)) if names else "none yet"
        raise TunerError(f"study {study_name!r} not found in {redact(url)}; "
                         f"studies there: {known}")
    return optuna.load_study(study_name=study_name, storage=storage)


