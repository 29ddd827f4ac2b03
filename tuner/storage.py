"""Where studies live: the storage URL, opening it, and the artifact store beside it.

SQLite (the default, ``storage/tuner.db``) serves one machine; PostgreSQL serves many
workers on many machines (Optuna's distributed mode). Passwords never leave this module in
clear (:func:`redact`). Optuna is imported only where a storage is opened.

A server may drop a connection at any moment (a restart, an admin, a NAT): idle pooled
connections are pinged before use, and every database call of a storage opened here is
retried with backoff when it failed on a dropped connection or a restarting server
(:func:`is_transient`). Reading never creates anything: a database without Optuna's
tables holds no studies.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy
from filelock import FileLock

from tuner.errors import TunerError

if TYPE_CHECKING:  # pragma: no cover - types only; Optuna is imported where it is used
    import optuna
    from optuna.artifacts import FileSystemArtifactStore

DEFAULT_STORAGE = "sqlite:///storage/tuner.db"
STORAGE_ENV = "TUNER_STORAGE"
ARTIFACTS_ENV = "TUNER_ARTIFACTS"
SCHEMA_LOCK = "tuner: create the schema"  # the lock name under which tables are created
SQLITE_BUSY_TIMEOUT_S = 60  # workers wait for the write lock instead of "database is locked"
#: a process's pooled connections to a server: one, one more while its heartbeat beats
POOL_SIZE, POOL_OVERFLOW, POOL_TIMEOUT_S = 1, 1, 60  # Optuna's default: up to 5 + 10
#: a password as a parameter: ``?password=...`` in a URL, libpq's ``password = '...'``
PASSWORD_PARAMETER = re.compile(
    r"((?<![A-Za-z_])password\s*=\s*)('(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^&\s;]+)", re.IGNORECASE)
#: waits before each new try of a database call that failed on a dropped connection (about
#: 8 s in all, with jitter: a server restart, not an outage)
RETRY_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 4.0)
#: SQLSTATEs worth another try: connection (08), shutdowns and starts (57P), serialization
TRANSIENT_SQLSTATES = ("08", "57P", "40001", "40P01", "53300")
DROPPED = re.compile(r"terminating connection|closed the connection|connection not open|"
                     r"could not (?:receive|send) data|consuming input failed|connection "
                     r"(?:is|already) closed|the connection is lost", re.IGNORECASE)
#: libpq's words (no SQLSTATE) for a connection the server dropped, and for a restarting
#: server (transient once a storage was open; at the first open, more likely a mistake)
RESTARTING = re.compile(r"database system is (?:shutting|starting)|Connection refused")


def storage_url(url: str | None = None) -> str:
    """The storage URL to use: ``url``, else ``$TUNER_STORAGE``, else the SQLite default."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def _userinfo(url: str) -> tuple[str, str, str] | None:
    """``(scheme, user:password, host/db...)`` of a URL with credentials, else None.

    Split by hand at the *last* ``@`` because SQLAlchemy's parser stops at the first one: a
    password with an unescaped ``@`` would be half shown, and a URL it cannot parse at all
    (a bad port) could not be rendered without its password.
    """
    scheme, sep, rest = url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    user = userinfo.partition(":")[0]
    if not sep or not at or ":" not in userinfo or "/" in user:  # no password; '@' in a path
        return None
    return scheme, userinfo, hostpart


def redact(url: str) -> str:
    """``url`` (or a message holding one) with its password replaced by ``***``."""
    parts = _userinfo(url)
    if parts is not None:
        scheme, userinfo, hostpart = parts
        url = f"{scheme}://{userinfo.partition(':')[0]}:***@{hostpart}"
    return PASSWORD_PARAMETER.sub(r"\1***", url)


def _sqlite_path(url: str) -> Path | None:
    parsed = sqlalchemy.engine.make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None  # in-memory databases have no file
    return Path(parsed.database)


def is_in_memory(url: str) -> bool:
    """Whether ``url`` is an in-memory SQLite database (``sqlite://``, ``sqlite:///``...)."""
    parsed = sqlalchemy.engine.make_url(url)
    return parsed.get_backend_name() == "sqlite" and (
        parsed.database in (None, "", ":memory:") or parsed.query.get("mode") == "memory"
        or str(parsed.database).startswith("file::memory:"))


def is_transient(exc: BaseException, restarting: bool = True) -> bool:
    """Whether ``exc`` (or what it wraps: Optuna wraps SQLAlchemy's, which wraps the
    driver's) is a dropped connection or another error a new try may not meet again."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen or len(seen) > 20:
            continue
        seen.add(id(error))
        if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
            return True
        state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
        if isinstance(state, str) and state.startswith(TRANSIENT_SQLSTATES):
            return True
        said = str(getattr(error, "orig", ""))
        if isinstance(error, sqlalchemy.exc.DBAPIError) and (
                DROPPED.search(said) or restarting and RESTARTING.search(said)):
            return True
        pending += [getattr(error, "orig", None), error.__cause__, error.__context__]
    return False


_retrying = threading.local()  # inside a retried call: the calls it makes are not retried
_JITTER = random.SystemRandom()  # not the seeded global: forked workers must not agree


def with_retries(call: Callable, settled: Callable | None = None,
                 restarting: bool = True) -> Callable:
    """``call``, tried again after each of :data:`RETRY_DELAYS_S` while it fails on a
    dropped connection; any other error, or the last one, is raised. ``settled(exc, *args,
    **kwargs)`` may turn the error of a new try into a result (not None)."""

    @functools.wraps(call)
    def retried(*args, **kwargs):
        if getattr(_retrying, "active", False):  # an outer call retries the whole
            return call(*args, **kwargs)
        _retrying.active = True
        try:
            for tries, delay in enumerate((*RETRY_DELAYS_S, None)):
                try:
                    return call(*args, **kwargs)
                except Exception as exc:
                    result = None
                    if tries and settled:  # a check that fails too settles nothing
                        with contextlib.suppress(Exception):
                            result = settled(exc, *args, **kwargs)
                    if result is not None:
                        return result
                    if delay is None or not is_transient(exc, restarting):
                        raise
                    time.sleep(delay * _JITTER.uniform(0.75, 1.25))
        finally:
            _retrying.active = False

    return retried


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
    if sqlalchemy.engine.make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    return {"pool_pre_ping": True, "pool_recycle": 300, "pool_size": POOL_SIZE,
            "max_overflow": POOL_OVERFLOW, "pool_timeout": POOL_TIMEOUT_S}


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
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except Exception:
        raise TunerError(
            f"storage {redact(url)!r}: not a database URL; expected e.g. {DEFAULT_STORAGE} or "
            "postgresql+psycopg://user:password@host:5432/db"
        ) from None
    parts = _userinfo(url)
    if parts is not None and "@" in parts[1]:
        raise TunerError(
            f"storage {redact(url)}: the password contains '@'; write it as %40 in the URL"
        )
    if is_in_memory(url):
        raise TunerError(
            f"storage {redact(url)}: an in-memory SQLite database lives and dies with one "
            "process, so the workers and later commands (best, export, dashboard) could "
            f"not share it; expected a file path like {DEFAULT_STORAGE}")
    db_file = _sqlite_path(url)
    if db_file is not None:
        _check_sqlite_file(db_file, redact(url), create)
    options = heartbeat_options(heartbeat_interval, grace_period, stale_trial_callback)

    def connect() -> optuna.storages.BaseStorage:
        if not create and not _has_optuna_tables(url):
            return optuna.storages.InMemoryStorage()  # no studies; nothing is created
        # One process at a time creates Optuna's tables (of two at once, the loser fails on
        # a duplicate); reading creates nothing, not even a lock file.
        with _named_lock(url, SCHEMA_LOCK) if create or db_file is None else \
                contextlib.nullcontext():
            return _storage_class()(url, engine_kwargs=engine_kwargs(url),
                                    skip_table_creation=not create, **options)

    try:
        return with_retries(connect, restarting=False)()
    except TunerError:
        raise
    except Exception as exc:  # driver missing, server down, bad credentials, not a DB
        raise _cannot_open(parsed, exc) from None


def _has_optuna_tables(url: str) -> bool:
    """Whether Optuna ever wrote to ``url`` (its ``studies`` table), creating nothing."""
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        return sqlalchemy.inspect(engine).has_table("studies")
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


def sqlite_file_of(storage: object) -> Path | None:
    """The SQLite file behind an Optuna storage (an RDBStorage, or Optuna's cache around
    one), or None for other databases and storages."""
    from tuner.optuna_internals import sql_engine

    engine = sql_engine(storage)
    if engine is None:
        return None
    return _sqlite_path(engine.url.render_as_string(hide_password=False))


@contextlib.contextmanager
def sqlite_lock(db_file: Path | None) -> Iterator[None]:
    """An exclusive lock on ``<db>.lock`` beside a SQLite file (no-op without a file)."""
    if db_file is None:
        yield
        return
    db_file.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(db_file.with_suffix(".lock"))):
        yield


def _cannot_open(parsed: sqlalchemy.engine.URL, exc: BaseException) -> TunerError:
    from optuna.exceptions import StorageInternalError

    while isinstance(exc, StorageInternalError) and exc.__cause__ is not None:
        exc = exc.__cause__  # "An exception is raised during the commit": say which
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if parsed.password:  # drivers do not echo it, but a message is no place to find out
        reason = reason.replace(str(parsed.password), "***")
    shown = redact(parsed.render_as_string(hide_password=True))
    return TunerError(f"storage {shown}: cannot be opened ({redact(reason)[:300]})")


def artifact_dir(url: str | None = None) -> Path:
    """Folder of the artifact store: ``$TUNER_ARTIFACTS``, else ``artifacts/`` beside a
    SQLite file, else ``storage/artifacts`` (server databases: share it between machines)."""
    return Path(os.environ.get(ARTIFACTS_ENV) or _beside(url, "artifacts"))


def data_cache_dir(url: str | None = None) -> Path:
    """Folder of the decoded-data cache (:mod:`tuner.data.cache`): like artifacts'."""
    return _beside(url, "cache")


def _beside(url: str | None, name: str) -> Path:
    return (getattr(_sqlite_path(storage_url(url)), "parent", None) or Path("storage")) / name


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


@contextlib.contextmanager
def study_lock(storage_url: str, study_name: str) -> Iterator[None]:
    """Mutual exclusion between processes that prepare the same study."""
    with _named_lock(storage_url, study_name):
        yield


@contextlib.contextmanager
def _named_lock(storage_url: str, name: str) -> Iterator[None]:
    """Mutual exclusion between processes on one storage: a PostgreSQL advisory lock keyed
    by ``name``, a lock file beside a SQLite file, else none (other databases: the
    one-machine case, a single preparing process)."""
    url = sqlalchemy.engine.make_url(storage_url)
    if url.get_backend_name() == "postgresql":
        key = int.from_bytes(hashlib.sha1(name.encode()).digest()[:8], "big", signed=True)
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)

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
                    if not is_transient(exc):
                        raise
                with contextlib.suppress(Exception):
                    conn.close()
        finally:
            engine.dispose()
    elif url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        with sqlite_lock(Path(url.database)):
            yield
    else:
        yield
