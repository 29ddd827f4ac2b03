"""Where studies live: the storage URL, opening it, and the artifact store beside it.

SQLite (the default, ``storage/tuner.db``) serves one machine; PostgreSQL serves many
workers on many machines (Optuna's own distributed mode: the database coordinates).
Passwords never leave this module in clear: every message uses :func:`redact`. Optuna is
imported inside the functions that open a storage, so the constants and URL helpers here
cost the command line (and ``tuner train``) no Optuna import.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy

from tuner.errors import TunerError

if TYPE_CHECKING:  # pragma: no cover - types only; Optuna is imported where it is used
    import optuna
    from optuna.artifacts import FileSystemArtifactStore

DEFAULT_STORAGE = "sqlite:///storage/tuner.db"
STORAGE_ENV = "TUNER_STORAGE"
ARTIFACTS_ENV = "TUNER_ARTIFACTS"
SCHEMA_LOCK = "tuner: create the schema"  # the lock name under which tables are created
SQLITE_BUSY_TIMEOUT_S = 60  # workers wait for the write lock instead of "database is locked"
#: a password given as a parameter: ``?password=...`` in a URL's query, or libpq's
#: ``password=...`` / ``password = 'with spaces'`` in a key=value connection string
PASSWORD_PARAMETER = re.compile(
    r"((?<![A-Za-z_])password\s*=\s*)('(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^&\s;]+)", re.IGNORECASE)


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


def engine_kwargs(url: str) -> dict:
    """SQLAlchemy options: busy timeout for SQLite, pre-ping and recycling for servers."""
    if sqlalchemy.engine.make_url(url).get_backend_name() == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S}}
    # pre-ping: a connection the server or a NAT dropped while idle is replaced silently.
    return {"pool_pre_ping": True, "pool_recycle": 300}


def open_storage(url: str | None = None, *, create: bool = True,
                 heartbeat_interval: int | None = None, grace_period: int | None = None,
                 stale_trial_callback=None) -> optuna.storages.RDBStorage:
    """Open the Optuna storage at ``url``; one-line error if it cannot.

    ``create=True`` (commands that train) makes a new SQLite file and its folder where
    needed and insists that the file can be written; ``create=False`` (commands that only
    read) never creates anything: a SQLite path without a file is a mistyped path.
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
    db_file = _sqlite_path(url)
    if db_file is not None:
        _check_sqlite_file(db_file, redact(url), create)
    try:
        # One process at a time creates Optuna's tables: two workers opening a new database
        # at once would both create them, and the loser fail on a duplicate. Reading
        # creates nothing, not even a lock file.
        with _named_lock(url, SCHEMA_LOCK) if create or db_file is None else \
                contextlib.nullcontext():
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine_kwargs(url),
                **heartbeat_options(heartbeat_interval, grace_period, stale_trial_callback))
    except TunerError:
        raise
    except Exception as exc:  # driver missing, server down, bad credentials, not a DB
        raise _cannot_open(parsed, exc) from None


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
    with open(db_file.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cannot_open(parsed: sqlalchemy.engine.URL, exc: Exception) -> TunerError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if parsed.password:  # drivers do not echo it, but a message is no place to find out
        reason = reason.replace(str(parsed.password), "***")
    shown = redact(parsed.render_as_string(hide_password=True))
    return TunerError(f"storage {shown}: cannot be opened ({redact(reason)[:300]})")


def artifact_dir(url: str | None = None) -> Path:
    """Folder of the artifact store: ``$TUNER_ARTIFACTS``, else ``artifacts/`` beside a
    SQLite file, else ``storage/artifacts`` (server databases: share it between machines)."""
    if os.environ.get(ARTIFACTS_ENV):
        return Path(os.environ[ARTIFACTS_ENV])
    db_file = _sqlite_path(storage_url(url))
    if db_file is not None:
        return db_file.parent / "artifacts"
    return Path("storage") / "artifacts"


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
        try:
            with engine.connect() as conn:
                conn.execute(sqlalchemy.text("select pg_advisory_lock(:k)"), {"k": key})
                try:
                    yield
                finally:
                    conn.execute(sqlalchemy.text("select pg_advisory_unlock(:k)"), {"k": key})
        finally:
            engine.dispose()
    elif url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        with sqlite_lock(Path(url.database)):
            yield
    else:
        yield
