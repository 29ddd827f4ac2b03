"""Mutual exclusion between processes on one storage: a PostgreSQL advisory lock, or a
lock file beside a SQLite database (:func:`study_lock`, :func:`named_lock`), and the
SQLite file behind an Optuna storage."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy
from filelock import FileLock

from tuner.storage.retries import is_transient, with_retries
from tuner.storage.roles import connect_args
from tuner.storage.urls import sqlite_path


def sqlite_file_of(storage: object) -> Path | None:
    """The SQLite file behind an Optuna storage (an RDBStorage, or Optuna's cache around
    one), or None for other databases and storages."""
    from tuner.optuna_internals import sql_engine

    engine = sql_engine(storage)
    if engine is None:
        return None
    return sqlite_path(engine.url.render_as_string(hide_password=False))


@contextlib.contextmanager
def sqlite_lock(db_file: Path | None) -> Iterator[None]:
    """An exclusive lock on ``<db>.lock`` beside a SQLite file (no-op without a file)."""
    if db_file is None:
        yield
        return
    db_file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(db_file.with_suffix(".lock"))):
        yield


@contextlib.contextmanager
def study_lock(storage_url: str, study_name: str,
               engine: sqlalchemy.Engine | None = None) -> Iterator[None]:
    """Mutual exclusion between processes that prepare the same study (``engine``: see
    :func:`named_lock`)."""
    with named_lock(storage_url, study_name, engine):
        yield


@contextlib.contextmanager
def named_lock(storage_url: str, name: str,
               engine: sqlalchemy.Engine | None = None) -> Iterator[None]:
    """Mutual exclusion between processes on one storage: a PostgreSQL advisory lock keyed
    by ``name``, a lock file beside a SQLite file, else none (other databases: the
    one-machine case, a single preparing process).

    ``engine``, the engine of the process's open storage, lends the lock a connection of
    its pool, so that a process never holds more connections than its pool allows
    (docs/scale-out.md); without one, the lock opens a connection of its own."""
    url = sqlalchemy.engine.make_url(storage_url)
    if url.get_backend_name() == "postgresql":
        key = int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)
        own = engine is None
        if own:
            engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool,
                                              connect_args=connect_args("postgresql"))

        def lock() -> sqlalchemy.Connection:
            conn = engine.connect()
            try:
                conn.execute(sqlalchemy.text("select pg_advisory_lock(:k)"), {"k": key})
            except BaseException:
                with contextlib.suppress(Exception):
                    conn.close()
                raise
            return conn

        try:
            conn = with_retries(lock)()
            try:
                yield
            finally:
                try:  # a dropped connection has released its lock with it
                    conn.execute(sqlalchemy.text("select pg_advisory_unlock(:k)"), {"k": key})
                except Exception as exc:
                    with contextlib.suppress(Exception):  # never back to a pool still locked
                        conn.invalidate()
                    if not is_transient(exc):
                        raise
                with contextlib.suppress(Exception):
                    conn.close()
        finally:
            if own:
                engine.dispose()
    elif url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        with sqlite_lock(Path(url.database)):
            yield
    else:
        yield
